"""The REPL loop: read a line, split it into commands, run each through the shared Runner.

Commands are the registry's (the same words as the CLI and scripts); only `exit`/`quit` and
`set editing-mode|output` belong to the shell itself. Ctrl-C cancels the line (or a running command),
Ctrl-D leaves. While the shell is open it holds the unsealed store in this process, like the TUI.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import ThreadedCompleter
from prompt_toolkit.enums import EditingMode
from prompt_toolkit.styles import Style

from kmstui.commands.render import FORMATS
from kmstui.commands.registry import aws_words
from kmstui.completion import Candidate, key_cache
from kmstui.errors import KmstuiError, UsageError
from kmstui.lines import has_secret, split_commands
from kmstui.runner import Runner
from kmstui.shell.completer import KmstuiCompleter
from kmstui.shell.editor import edit_text
from kmstui.shell.history import SecretFilteringHistory
from kmstui.shell.keys import repl_bindings
from kmstui.shell.toolbar import StatusLine

if TYPE_CHECKING:
    from kmstui.session import Session

SHELL_WORDS = [
    Candidate("exit", "leave the shell (also quit, Ctrl-D)", "command"),
    Candidate("quit", "leave the shell", "command"),
    Candidate("set", "set editing-mode vi|emacs, set output FORMAT", "command"),
]
EDITING_MODES = {"emacs": EditingMode.EMACS, "vi": EditingMode.VI}


def history_path(session: "Session") -> Path:
    return session.config.paths.state_dir / "history"


def _style(session: "Session") -> Style | None:
    try:
        from kmstui.themes import active_theme

        theme, _errors = active_theme(session.config)
        return Style.from_dict(theme.prompt_style())
    except Exception:  # noqa: BLE001 - a bad theme file must not keep the shell from starting
        return None


class Shell:
    def __init__(self, session: "Session", *, input: Any = None, output: Any = None) -> None:
        self.session = session
        self.runner = Runner(session)
        self.cache = key_cache(session)
        self.cache.auto_open = True  # live key ids from the first Tab, when opening needs no prompt
        mode = str(session.config.setting("editing_mode", "KMSTUI_EDITING_MODE", "emacs")).lower()
        if mode not in EDITING_MODES:
            print(f"kmstui: editing_mode '{mode}' is not vi or emacs; using emacs", file=self.runner.stderr)
            mode = "emacs"
        self.status = StatusLine(session, mode)
        self.history = SecretFilteringHistory(history_path(session), lambda line: has_secret(line, session.registry))
        self._io = {"input": input, "output": output}
        self.prompt = PromptSession(
            message=self.status.prompt,
            history=self.history,
            auto_suggest=AutoSuggestFromHistory(),
            completer=ThreadedCompleter(KmstuiCompleter(session, SHELL_WORDS)),
            complete_while_typing=True,
            search_ignore_case=True,
            enable_open_in_editor=True,
            editing_mode=EDITING_MODES[mode],
            bottom_toolbar=self.status.toolbar,
            key_bindings=repl_bindings(self._mode_changed),
            style=_style(session),
            **self._io,
        )
        session.interactive = True
        session.prompt_secret = self.prompt_secret
        session.confirm = self.confirm
        session.edit_text = edit_text
        # Only now: the warming thread lends the session's prompt callback out and puts back what it found,
        # which must be the shell's own (started earlier, it put back the silent default and the REPL could
        # no longer ask for a passphrase).
        self.cache.warm(session.profile_name)

    # -- callbacks the core uses to ask the user --------------------------------------------------------
    def prompt_secret(self, message: str) -> str | None:
        """A masked prompt on its own (no history, no suggestions, no completion)."""
        asker: PromptSession[str] = PromptSession(is_password=True, **self._io)
        return asker.prompt(message.rstrip() + " ")

    def confirm(self, message: str, expected: str) -> bool:
        asker: PromptSession[str] = PromptSession(**self._io)
        return asker.prompt(message + ": ").strip() == expected

    def _mode_changed(self, mode: str) -> None:
        self.status.editing_mode = mode

    # -- the loop -------------------------------------------------------------------------------------
    def offer_new_hsm(self) -> None:
        """First run in the REPL: the profile's local HSM file does not exist. Nothing creates it on the side;
        the user is asked, explicitly, and a yes runs `hsm init` (which asks for the passphrase twice)."""
        from kmstui.commands.backends import local_hsm_path

        try:
            profile = self.session.profile()
        except KmstuiError:  # a broken profile is reported by the first command that uses it
            return
        if profile.backend != "local" or local_hsm_path(self.session, profile).exists():
            return
        path = local_hsm_path(self.session, profile)
        asker: PromptSession[str] = PromptSession(**self._io)
        try:
            answer = asker.prompt(f"No HSM file at {path} (profile '{profile.name}'). Create it now? [y/N] ")
        except (EOFError, KeyboardInterrupt):
            answer = ""
        if answer.strip().lower() in ("y", "yes"):
            self.runner.run(["hsm", "init"])
        else:
            print("not created; 'hsm init' creates it when you want one", file=self.runner.stderr, flush=True)

    def loop(self) -> int:
        while True:
            try:
                text = self.prompt.prompt()
            except KeyboardInterrupt:
                continue
            except EOFError:
                return 0
            try:
                commands = split_commands(text)
            except UsageError as exc:
                self.runner.report(exc, None)
                continue
            for words in commands:
                code = self.one(words)
                if code is not None:
                    return code

    def one(self, words: list[str]) -> int | None:
        """Run one command; an int means leave the shell with that exit code."""
        if words[0] in ("exit", "quit"):
            try:
                return int(words[1]) if len(words) > 1 else 0
            except ValueError:
                self.runner.report(UsageError(f"{words[0]}: exit code must be a number"), None)
                return None
        if words[0] == "set":
            self._set(words[1:])
            return None
        command, _used = self.session.registry.find(aws_words(words))  # `create-key` is `key create`
        with self.cache.lock:
            self.runner.run(words)
        profile = self.session.profile_name
        if command is not None and command.mutates:
            self.cache.invalidate(profile)
        self.cache.keys(profile)  # refreshes in the background when stale and the backend is open
        self.status.update()
        return None

    def _set(self, args: list[str]) -> None:
        if len(args) == 2 and args[0] in ("editing-mode", "editing_mode") and args[1] in EDITING_MODES:
            self.prompt.editing_mode = EDITING_MODES[args[1]]
            if self.prompt.app:
                self.prompt.app.editing_mode = EDITING_MODES[args[1]]
            self.status.editing_mode = args[1]
            return
        if len(args) == 2 and args[0] == "output" and args[1] in FORMATS:
            self.session.options = self.session.options.replace(output=args[1])
            return
        self.runner.report(UsageError("usage: set editing-mode vi|emacs  |  set output "
                                      + "|".join(FORMATS)), None)


def run_repl(session: "Session", *, input: Any = None, output: Any = None) -> int:
    """Run the interactive shell until exit; returns the exit code."""
    shell = Shell(session, input=input, output=output)
    shell.offer_new_hsm()
    return shell.loop()
