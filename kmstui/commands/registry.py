"""Commands, their arguments, and the registry that parses a line of words into a call.

A command is a path of words (``("key", "create")``), typed arguments and a handler
``handler(session, args) -> Result``. Handlers return plain data; faces render it. Plugins add commands
(and subcommands of core groups, e.g. ``policy test`` beside ``policy get``) through the
``register_commands`` hook with the same API the core uses.

A handler may be given as a ``"package.module:function"`` string: the module is imported only when the
command first runs. Registration then costs only the argument specs, which parsing, help and completion
need anyway, so a one-shot command does not import every other command's implementation.
"""

from __future__ import annotations

import argparse
import importlib
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from kmstui.errors import UsageError

if TYPE_CHECKING:
    from kmstui.session import Session


class TableHint:
    """How to show a result as a table: the list inside `data` (a key, or None for data itself) and its
    columns as (heading, field path) pairs; field paths may be dotted ("KeyMetadata.KeyId").

    `source`, when given, is called (only when a table is actually rendered) for the data the rows come
    from instead of `data`: `key list` prints ListKeys' shape as JSON but a table of each key's metadata."""

    __slots__ = ("rows", "columns", "source")

    def __init__(self, rows: str | None, columns: Sequence[tuple[str, str]],
                 source: Callable[[], Any] | None = None) -> None:
        self.rows = rows
        self.columns = columns
        self.source = source


class Result:
    """What a command hands back. `data` is AWS-shaped plain data (dicts, lists, str, numbers, bytes);
    json/yaml output and --query see only `data`. `text` is the human rendering for --output text when
    the command has a better one than the generic form. `message` goes to stderr (a diagnostic such as
    "wrote 3 files"). A non-zero `exit_code` marks a check that ran and found a problem. `masked` names
    top-level fields of `data` that a table shows as a placeholder (a secret the command returns because
    AWS returns it, e.g. GenerateDataKey's Plaintext, kept off a screen unless asked for). `summary` is one
    line a table ends with ("3 passed, 0 failed", "no findings"); other formats carry the counts in `data`."""

    __slots__ = ("data", "table", "text", "message", "exit_code", "masked", "summary")

    def __init__(self, data: Any = None, table: TableHint | None = None, text: str | None = None,
                 message: str | None = None, exit_code: int = 0, masked: tuple[str, ...] = (),
                 summary: str | None = None) -> None:
        self.data = data
        self.table = table
        self.text = text
        self.message = message
        self.exit_code = exit_code
        self.masked = masked
        self.summary = summary


class Arg:
    """One argument. `name` starting with "-" is a flag, otherwise a positional.

    repeat: the flag may be given several times (value is a list).  flag: boolean switch.
    nargs: for positionals ("?", "*", "+").  complete: name of a value completer ("key", "alias",
    "file", "dir", "profile", "principal", "theme", "command", "backend", or a choices list is used).
    secret: the value must never be echoed or kept in history (a passphrase given on the line).
    flat: with repeat and nargs="+", every value of every use in one list (`--grant-tokens A B --grant-tokens C`
    as the aws CLI takes lists) rather than one list per use (`--constraint TYPE K=V K=V`).
    kind: how the value is read (kmstui/commands/values.py, the same rule everywhere): "bytes" or "base64"
    (a blob) or "text"; such a value may also be `fileb://PATH` or `file://PATH`, and the handler gets the
    final bytes or text. limit: the most bytes such a value may read from a file (default 1 MiB).
    """

    __slots__ = ("name", "help", "aliases", "type", "required", "repeat", "flag", "nargs", "choices", "default",
                 "metavar", "complete", "secret", "kind", "limit", "flat")

    def __init__(self, name: str, help: str = "", aliases: tuple[str, ...] = (),
                 type: Callable[[str], Any] | None = None, required: bool = False, repeat: bool = False,
                 flag: bool = False, nargs: str | None = None, choices: Sequence[str] | None = None,
                 default: Any = None, metavar: str | None = None, complete: str | None = None, secret: bool = False,
                 kind: str | None = None, limit: int | None = None, flat: bool = False) -> None:
        self.name = name
        self.help = help
        self.aliases = aliases
        self.type = type
        self.required = required
        self.repeat = repeat
        self.flag = flag
        self.nargs = nargs
        self.choices = choices
        self.default = default
        self.metavar = metavar
        self.complete = complete
        self.secret = secret
        self.kind = kind
        self.limit = limit
        self.flat = flat

    def replace(self, **changes: Any) -> Arg:
        """A copy with `changes` (``KEY_ID.replace(required=False)``); an unknown name is a TypeError."""
        return Arg(**{**{name: getattr(self, name) for name in Arg.__slots__}, **changes})

    @property
    def is_flag(self) -> bool:
        return self.name.startswith("-")

    @property
    def dest(self) -> str:
        return self.name.lstrip("-").replace("-", "_")

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


Handler = Callable[["Session", argparse.Namespace], "Result | Any"]


class LazyHandler:
    """A handler named ``"package.module:function"``, imported the first time the command runs."""

    def __init__(self, target: str) -> None:
        module, sep, attr = target.partition(":")
        if not (sep and module and attr):
            raise ValueError(f"handler '{target}' must be given as 'package.module:function'")
        self.target = target
        self._fn: Handler | None = None

    def resolve(self) -> Handler:
        if self._fn is None:
            module, _, attr = self.target.partition(":")
            self._fn = getattr(importlib.import_module(module), attr)
        return self._fn

    def __call__(self, session: "Session", args: argparse.Namespace) -> "Result | Any":
        return self.resolve()(session, args)

    def __repr__(self) -> str:
        return f"LazyHandler({self.target!r})"


class Command:
    """A registered command.

    needs_backend: False for commands that must never create, open or unseal a key store (inspect, help,
    config, plugins, policy work on files).  mutates: refused under --read-only.  confirm: dest of the
    argument whose value the user must type to confirm (destructive commands); --yes skips it.
    handler: a callable, or a "package.module:function" string (wrapped in a LazyHandler).
    """

    __slots__ = ("path", "handler", "summary", "args", "description", "needs_backend", "mutates", "confirm",
                 "examples", "plugin")

    def __init__(self, path: tuple[str, ...], handler: Handler | LazyHandler | str, summary: str,
                 args: list[Arg] | None = None, description: str = "", needs_backend: bool = True,
                 mutates: bool = False, confirm: str | None = None, examples: list[str] | None = None,
                 plugin: str = "kmstui") -> None:
        self.path = path
        self.handler = LazyHandler(handler) if isinstance(handler, str) else handler
        self.summary = summary
        self.args = [] if args is None else args
        self.description = description
        self.needs_backend = needs_backend
        self.mutates = mutates
        self.confirm = confirm
        self.examples = [] if examples is None else examples
        self.plugin = plugin

    @property
    def name(self) -> str:
        return " ".join(self.path)


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see 'help {self.prog}')")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise UsageError(message or f"{self.prog}: invalid arguments")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a help formatter for every add_argument (to check the metavar), and each one asks
        # shutil for the terminal's width: an import of shutil (bz2, lzma, ...) and a terminal query per
        # argument on every command's start-up. kmstui never prints argparse's help (`help` renders the
        # registry), so the width is fixed.
        return self.formatter_class(prog=self.prog, width=100)


# Flags every command accepts, anywhere on the line (as the AWS CLI allows).
GLOBAL_ARGS: list[Arg] = [
    Arg("--output", "output format", choices=("table", "json", "yaml", "text"), metavar="FORMAT"),
    Arg("--query", "JMESPath expression applied to the result data", metavar="EXPR"),
    Arg("--profile", "profile to use", complete="profile"),
    Arg("--backend", "backend kind or profile to use for this command", complete="backend"),
    Arg("--as", "act as this principal ARN (local backend)", complete="principal", metavar="ARN"),
    Arg("--region", "AWS region (aws backend, as the aws CLI's --region; before AWS_REGION, AWS_DEFAULT_REGION and "
        "the profile); for 'hsm init', the new local HSM's region", metavar="REGION"),
    Arg("--read-only", "refuse every command that changes backend state", flag=True),
    Arg("--yes", "answer yes to confirmations (for scripts)", flag=True, aliases=("-y",)),
    Arg("--debug", "show tracebacks and debug detail", flag=True),
    Arg("--no-color", "no colour in output", flag=True),
]
GLOBAL_DESTS = frozenset(a.dest for a in GLOBAL_ARGS)


def _add(parser: argparse.ArgumentParser, arg: Arg, *, suppress: bool = False) -> None:
    kw: dict[str, Any] = {"help": arg.help}
    if suppress:
        kw["default"] = argparse.SUPPRESS
    if arg.is_flag:
        kw["dest"] = arg.dest
        if arg.flag:
            kw["action"] = "store_true"
            if not suppress:
                kw["default"] = bool(arg.default)
        else:
            if arg.repeat:
                kw["action"] = "extend" if arg.flat else "append"
                if not suppress:
                    kw["default"] = None
            elif not suppress:
                kw["default"] = arg.default
            kw["required"] = arg.required
            if arg.type:
                kw["type"] = arg.type
            if arg.choices:
                kw["choices"] = arg.choices
            if arg.nargs:  # a flag taking several words, e.g. `--constraint TYPE K=V K=V`
                kw["nargs"] = arg.nargs
            kw["metavar"] = arg.metavar or arg.dest.upper()
        parser.add_argument(*arg.spellings, **kw)
    else:
        if arg.aliases:
            # A positional that may also be given as a flag (`key describe KEY` or `--key-id KEY`): both
            # optional here, and CommandRegistry.parse insists on exactly one.
            parser.add_argument(*arg.aliases, dest=f"_flag_{arg.dest}", help=argparse.SUPPRESS,
                                metavar=arg.metavar or arg.dest.upper())
            kw["nargs"] = "?"
        if arg.nargs:
            kw["nargs"] = arg.nargs
        if arg.type:
            kw["type"] = arg.type
        if arg.choices:
            kw["choices"] = arg.choices
        if arg.default is not None:
            kw["default"] = arg.default
        kw["metavar"] = arg.metavar or arg.dest.upper()
        parser.add_argument(arg.dest, **kw)


class CommandRegistry:
    """All commands by path. Lookup takes the longest registered path that prefixes the words."""

    def __init__(self) -> None:
        self._commands: dict[tuple[str, ...], Command] = {}
        self._parsers: dict[tuple[str, ...], _Parser] = {}
        self.group_help: dict[tuple[str, ...], str] = {}
        # The plugin whose register_commands hook is running (set by the Session), so help can say where a
        # command comes from without every plugin having to name itself.
        self.registering_plugin: str | None = None

    def add(self, command: Command) -> Command:
        if command.plugin == "kmstui" and self.registering_plugin:
            command.plugin = self.registering_plugin
        if command.path in self._commands:
            other = self._commands[command.path]
            raise ValueError(f"command '{command.name}' from {command.plugin} clashes with one from {other.plugin}")
        self._commands[command.path] = command
        return command

    def command(self, name: str, summary: str, args: Iterable[Arg] = (), *, handler: str | None = None, **kw: Any):
        """Decorator: ``@registry.command("key create", "Create a key", [Arg(...)], mutates=True)``.

        With ``handler="package.module:function"`` the command is registered at once (and returned) and
        its module is imported only when the command runs."""
        if handler is not None:
            return self.add(Command(tuple(name.split()), handler, summary, list(args), **kw))

        def deco(fn):
            self.add(Command(tuple(name.split()), fn, summary, list(args), **kw))
            return fn

        return deco

    def describe_group(self, name: str, summary: str) -> None:
        """Give a command group (e.g. "key") a one-line summary for help listings."""
        self.group_help[tuple(name.split())] = summary

    def __iter__(self):
        return iter(sorted(self._commands.values(), key=lambda c: c.path))

    def __len__(self) -> int:
        return len(self._commands)

    def get(self, path: Sequence[str]) -> Command | None:
        return self._commands.get(tuple(path))

    def groups(self) -> set[tuple[str, ...]]:
        """Every proper prefix of a command path (e.g. ("key",) for "key create")."""
        return {c.path[:i] for c in self._commands.values() for i in range(1, len(c.path))}

    def children(self, prefix: Sequence[str]) -> list[str]:
        """The words that can follow `prefix` (sorted, unique)."""
        n = len(prefix)
        return sorted({c.path[n] for c in self._commands.values() if len(c.path) > n and c.path[:n] == tuple(prefix)})

    def find(self, words: Sequence[str]) -> tuple[Command | None, int]:
        """Longest command path that prefixes `words`, and how many words it used."""
        for n in range(min(len(words), 4), 0, -1):
            cmd = self._commands.get(tuple(words[:n]))
            if cmd is not None:
                return cmd, n
        return None, 0

    def parser(self, command: Command) -> argparse.ArgumentParser:
        parser = self._parsers.get(command.path)
        if parser is None:
            parser = _Parser(prog=command.name, description=command.description or command.summary,
                             add_help=False, allow_abbrev=False)
            for arg in command.args:
                _add(parser, arg)
            names = {s for a in command.args for s in a.spellings}
            for arg in GLOBAL_ARGS:
                if not names.intersection(arg.spellings):
                    _add(parser, arg, suppress=True)
            from kmstui.commands.awsnames import add_aws_options

            add_aws_options(parser, command.path)
            self._parsers[command.path] = parser
        return parser

    def parse(self, words: Sequence[str]) -> tuple[Command, argparse.Namespace]:
        """Turn words into (command, arguments); UsageError with a hint when they do not fit."""
        if not words:
            raise UsageError("no command given (try 'help')")
        words = aws_words(words)
        cmd, used = self.find(words)
        if cmd is None:
            raise UsageError(self._unknown(words))
        rest = list(words[used:])
        if "--help" in rest or "-h" in rest:
            return self.get(("help",)) or cmd, argparse.Namespace(topic=list(cmd.path))
        args = self.parser(cmd).parse_args(rest)
        positionals = [a for a in cmd.args if not a.is_flag]
        if positionals and all(a.aliases and a.nargs is None for a in positionals):
            _assign_positionals(cmd, positionals, args)
        else:
            for arg in positionals:
                if arg.aliases:
                    _merge_flag_form(cmd, arg, args)
        return cmd, args

    def _unknown(self, words: Sequence[str]) -> str:
        for n in range(len(words), 0, -1):
            prefix = tuple(words[:n])
            if prefix in self.groups():
                if n == len(words):
                    return f"'{' '.join(prefix)}' needs a subcommand: {', '.join(self.children(prefix))}"
                return (f"unknown command '{' '.join(words[: n + 1])}'; "
                        f"'{' '.join(prefix)}' has: {', '.join(self.children(prefix))}")
        from difflib import get_close_matches

        from kmstui.commands.awsnames import unknown_hint

        hint = unknown_hint(words[0])
        if hint:
            return hint
        tops = self.children(())
        close = get_close_matches(words[0], tops, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else " (try 'help')"
        return f"unknown command '{words[0]}'{hint}"


def aws_words(words: Sequence[str]) -> list[str]:
    """`list-keys ...` (an aws kms operation name) as the kmstui command it is (`key list ...`)."""
    from kmstui.commands.awsnames import command_of

    mapped = command_of(words[0]) if words else None
    return [*mapped[0], *words[1:]] if mapped else list(words)


def _assign_positionals(cmd: Command, positionals: list[Arg], args: argparse.Namespace) -> None:
    """Positionals that may each be given as a flag (`alias create NAME KEY`, `--alias-name NAME KEY`,
    `NAME --target-key-id KEY`): argparse fills the bare words in from the left, so hand them, in order, to
    the arguments not given as flags; every argument must end up with exactly one value."""
    words = [getattr(args, a.dest) for a in positionals if getattr(args, a.dest) is not None]
    for arg in positionals:
        flagged = getattr(args, f"_flag_{arg.dest}")
        delattr(args, f"_flag_{arg.dest}")
        if flagged is None and not words:
            raise UsageError(f"{cmd.name}: {arg.metavar or arg.dest.upper()} is required (or {arg.aliases[0]})")
        setattr(args, arg.dest, flagged if flagged is not None else words.pop(0))
    if words:
        given = positionals[-1] if len(positionals) == 1 else None
        what = f"{given.metavar or given.dest.upper()} once, either as an argument or as {given.aliases[0]}" \
            if given else "each argument once, either as a word or as its flag"
        raise UsageError(f"{cmd.name}: give {what}")


def _merge_flag_form(cmd: Command, arg: Arg, args: argparse.Namespace) -> None:
    """Fold the flag spelling of a positional into its dest; exactly one of the two must be given."""
    flagged = getattr(args, f"_flag_{arg.dest}")
    delattr(args, f"_flag_{arg.dest}")
    positional = getattr(args, arg.dest)
    if flagged is not None and positional is not None:
        raise UsageError(f"{cmd.name}: give {arg.metavar or arg.dest.upper()} once, either as an argument or as {arg.aliases[0]}")
    if flagged is None and positional is None and arg.nargs is None:
        raise UsageError(f"{cmd.name}: {arg.metavar or arg.dest.upper()} is required (or {arg.aliases[0]})")
    setattr(args, arg.dest, positional if positional is not None else flagged)
