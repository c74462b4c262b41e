"""The one command model: every face (CLI, REPL, scripts, TUI palette) runs commands from this registry."""

from kmstui.commands.registry import Arg, Command, CommandRegistry, Result, TableHint

__all__ = ["Arg", "Command", "CommandRegistry", "Result", "TableHint"]
