"""`kmstui` on the command line: argv -> mode.

    kmstui                          TUI on a terminal (the REPL if the TUI is unavailable)
    kmstui shell                    REPL (with standard input not a terminal: as `... | kmstui`)
    kmstui COMMAND [ARGS]           one command
    kmstui -c "CMD; CMD"            several commands
    kmstui run FILE [--keep-going]  a script
    ... | kmstui                    commands on standard input

Global flags (registry.GLOBAL_ARGS) may come before the mode or command and apply to every command run;
after a command they apply to that command only. UI libraries are imported only by the mode that needs them,
so one-shot commands start quickly.
"""

from __future__ import annotations

import gc
import os
import sys

from kmstui.errors import EXIT_INTERRUPT, EXIT_USAGE, KmstuiError, UsageError
from kmstui.visible import visible

EXIT_BROKEN_PIPE = 141
_by_spelling: dict = {}


def _global_arg(spelling: str):
    """The global flag (registry.GLOBAL_ARGS) spelt this way, or None. The registry (argparse)
    is imported on first use, not with this module: main() then loads it with the collector off."""
    if not _by_spelling:
        from kmstui.commands.registry import GLOBAL_ARGS

        _by_spelling.update({s: a for a in GLOBAL_ARGS for s in a.spellings})
    return _by_spelling.get(spelling)


class _Argv:
    """What the leading part of argv asked for."""

    def __init__(self) -> None:
        self.options: dict[str, object] = {}
        self.command_string: str | None = None
        self.version = False
        self.keep_going = False
        self.rest: list[str] = []


def _take_flag(argv: list[str], i: int, parsed: _Argv, *, extra_ok: bool) -> int:
    """Consume the flag at argv[i] (and its value); return the index after it."""
    token = argv[i]
    name, eq, value = token.partition("=")

    def need_value() -> str:
        if eq:
            return value
        if i + 1 >= len(argv):
            raise UsageError(f"{name} needs a value")
        return argv[i + 1]

    step = 1 if eq else 2
    if name in ("-c", "--command") and extra_ok:
        parsed.command_string = need_value()
        return i + step
    if name == "--version" and not eq:
        parsed.version = True
        return i + 1
    if name == "--keep-going" and not eq:
        parsed.keep_going = True
        return i + 1
    if name in ("-h", "--help") and not eq:
        parsed.rest = ["help"]
        return len(argv)
    arg = _global_arg(name)
    if arg is None:
        raise UsageError(f"unknown option '{token}' (run 'kmstui help' for the global flags)")
    if arg.flag:
        if eq:
            raise UsageError(f"{name} takes no value")
        parsed.options["as_" if arg.dest == "as" else arg.dest] = True
        return i + 1
    val = need_value()
    if arg.choices and val not in arg.choices:
        raise UsageError(f"{name}: invalid choice '{val}' (choose from {', '.join(arg.choices)})")
    parsed.options["as_" if arg.dest == "as" else arg.dest] = val
    return i + step


def parse_argv(argv: list[str]) -> _Argv:
    """Split argv into leading global flags and mode switches, and the rest (mode word or command)."""
    parsed = _Argv()
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        if argv[i] == "--":
            i += 1
            break
        i = _take_flag(argv, i, parsed, extra_ok=True)
    if not parsed.rest:
        parsed.rest = argv[i:]
    if parsed.rest and parsed.rest[0] in ("shell", "run"):
        # Mode words take only global flags (and run: FILE, --keep-going), anywhere after them.
        mode, tail, positionals = parsed.rest[0], parsed.rest[1:], []
        j = 0
        while j < len(tail):
            if tail[j].startswith("-") and tail[j] != "-":
                j = _take_flag(tail, j, parsed, extra_ok=False)
            else:
                positionals.append(tail[j])
                j += 1
        parsed.rest = [mode, *positionals]
    return parsed


def _tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _prompt_secret(prompt: str) -> str | None:
    import getpass

    return getpass.getpass(prompt.rstrip() + " ")


def _confirm(message: str, expected: str) -> bool:
    sys.stderr.write(message + ": ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip() == expected


def _start_tui_or_repl(session) -> int:
    try:
        from kmstui.tui.app import run_tui
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("kmstui.tui"):
            print(f"kmstui: the TUI cannot start ({exc}); opening the shell instead", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - a broken TUI must still leave the user a working shell
        print(f"kmstui: the TUI cannot start ({type(exc).__name__}: {exc}); opening the shell instead",
              file=sys.stderr)
    else:
        return int(run_tui(session) or 0)
    from kmstui.shell.app import run_repl

    return run_repl(session)


_TOP_FLAGS = (
    ("-c", 'run commands: -c "CMD; CMD"'), ("--command", 'run commands: --command "CMD; CMD"'),
    ("--version", "print the version"), ("--keep-going", "with -c, run or stdin: go on after a failing line"),
    ("--help", "show help"),
)


def _completion_candidates(session, words: list[str], current: str) -> list:
    """Candidates for `current` after the complete `words` of a kmstui command line (program name left out):
    leading global flags and their values, mode words, then the command itself."""
    from kmstui.completion import Candidate, complete_words, rank, value_candidates

    i = 0
    while i < len(words) and words[i].startswith("-") and words[i] != "-":
        name, eq, _value = words[i].partition("=")
        arg = _global_arg(name)
        takes_value = name in ("-c", "--command") or (arg is not None and not arg.flag)
        if not takes_value or eq:
            i += 1
            continue
        if i + 1 == len(words):  # the value of a leading flag is being typed
            return rank(current, value_candidates(session, arg, current)) if arg is not None else []
        i += 2
    rest = words[i:]
    if rest[:1] == ["run"]:
        return []  # a script file name: the shell's own file completion does it
    if rest[:1] == ["shell"]:
        rest = rest[1:]
    if not rest and current.startswith("-"):
        name, eq, value = current.partition("=")
        if eq:
            arg = _global_arg(name)
            if arg is None or arg.flag:
                return []
            return [Candidate(f"{name}={c.text}", c.meta, c.kind)
                    for c in rank(value, value_candidates(session, arg, value))]
        from kmstui.commands.registry import GLOBAL_ARGS

        flags = [Candidate(s, a.help, "flag") for a in GLOBAL_ARGS for s in a.spellings]
        return rank(current, flags + [Candidate(s, h, "flag") for s, h in _TOP_FLAGS])
    return complete_words(session, rest, current)


def _bash_candidates(candidates: list, typed: str) -> list[str]:
    """What bash's COMPREPLY needs: prefix matches first (readline replaces the word with the matches'
    common prefix, so fuzzy ones are offered only when nothing matches by prefix), each cut to the part
    after the last COMP_WORDBREAKS character (`=`, `:`), because bash completes only that part."""
    prefixed = [c for c in candidates if c.text.lower().startswith(typed.lower())]
    chosen = prefixed or candidates
    breaks = set(os.environ.get("COMP_WORDBREAKS", "\"'><=;|&(:")) - set(" \t\n\"'")
    cut = max((i + 1 for i, ch in enumerate(typed) if ch in breaks), default=0)
    head = typed[:cut]
    return [c.text[cut:] for c in chosen if c.text.startswith(head)]


def _complete(words: list[str]) -> int:
    """Hidden completion entry point for the shell scripts of `kmstui completion`:
    `kmstui __complete -- WORDS... CURRENT` prints TEXT<TAB>DESCRIPTION lines (zsh, fish);
    `kmstui __complete --bash LINE` takes the line up to the cursor and prints bare words for COMPREPLY."""
    from kmstui.completion import split_for_completion
    from kmstui.session import Session

    bash = bool(words) and words[0] == "--bash"
    try:
        if bash:
            before, current = split_for_completion(words[1] if len(words) > 1 else "")
            before = before[1:]  # the program name
        else:
            words = words[1:] if words and words[0] == "--" else words
            before, current = words[:-1], (words[-1] if words else "")
        session = Session(interactive=False)
        candidates = _completion_candidates(session, before, current)
    except Exception:  # noqa: BLE001 - completion must never print a traceback into the user's shell
        return 0
    if bash:
        for text in _bash_candidates(candidates, current):
            print(text)
        return 0
    for cand in candidates:
        print(f"{cand.text}\t{cand.meta}")
    return 0


def console() -> None:
    """The `kmstui` console script and `python -m kmstui`: main() for a process that is kmstui's alone, which
    also hands its standard output back as soon as a one-shot command is done (_output_done). An
    in-process caller of main() keeps its standard output whatever it passes."""
    raise SystemExit(main(release_stdout=True))


def main(argv: list[str] | None = None, *, release_stdout: bool = False) -> int:
    """kmstui's entry point. Called without `argv` it owns the process, and keeps the cyclic garbage collector
    out of start-up: see _collector_off."""
    own_process = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if own_process:
        _collector_off()
    try:
        return _main_or_complete(argv, own_process and release_stdout)
    finally:
        if own_process:
            _collector_at_exit()


def _collector_off() -> None:
    """Start-up loads ~300 modules, ~25,000 long-lived objects that the cyclic collector would walk again
    and again while they load and once more while the interpreter exits (measured on a one-shot command of
    ~100 ms: ~9 ms and ~8 ms). So the collector is off until the work starts (_collector_on), and at exit
    it collects what the work left and freezes the rest, which the interpreter's final collections skip."""
    gc.disable()


_DEFAULT_THRESHOLDS = gc.get_threshold()
_ONE_SHOT_YOUNG_THRESHOLD = 100_000
_LONG_RUNNING = ("shell", "run", "serve")  # first words that start a process meant to keep running


def _collector_on(one_shot: bool = False) -> None:
    """Called when a command, script, shell or TUI is about to start: the objects made so far live as long
    as the process, so they move out of the collector's way; what the work makes is collected as usual.
    A one-shot command's own imports (its plugin, its backend: ~20,000 objects that live until exit) would
    still set off a young collection every 700 allocations (~1 ms of a ~60 ms command), so for it the young
    generation holds 100,000 objects before a collection: cycles are still collected, in fewer, larger passes."""
    if not gc.isenabled():
        gc.freeze()
        if one_shot:
            gc.set_threshold(_ONE_SHOT_YOUNG_THRESHOLD, *_DEFAULT_THRESHOLDS[1:])
        gc.enable()


def _collector_at_exit() -> None:
    gc.collect()  # what the work left in cycles is finalized here as usual (files closed, buffers flushed)
    gc.freeze()
    gc.set_threshold(*_DEFAULT_THRESHOLDS)


def _open_standard_streams() -> bool:
    """A standard descriptor the caller closed (`kmstui ... <&-`, `>&-`, `2>&-`) is opened on the null device,
    so that the HSM file, an output file or the audit log, opened later, can never take its number and receive
    what is meant for standard output. Closed standard input reads as empty (as `< /dev/null`). Returns False
    when standard output was closed: every command's result would be lost, so the caller refuses to run."""
    stdout_open = True
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            stdout_open = stdout_open and fd != 1
    if sys.stdin is None:
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's standard input, never closed by us
    if sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    if sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        stdout_open = False
    return stdout_open


def _main_or_complete(argv: list[str], release_stdout: bool = False) -> int:
    if not _open_standard_streams():
        print("kmstui: error: standard output is closed, so the result would be lost; redirect it to a file "
              "(or to /dev/null to discard it)", file=sys.stderr)
        return EXIT_USAGE
    if argv and argv[0] == "__complete":
        return _complete(argv[1:])
    try:
        return _main(argv, release_stdout)
    except KeyboardInterrupt:
        print("kmstui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPT
    except BrokenPipeError:
        # The reader went away (`kmstui key list | head`, `--out - | head -c5`): stop quietly, as other CLIs do,
        # with the status a shell reports for a writer that SIGPIPE ended (128 + 13), so `set -o pipefail`
        # scripts learn that the output was cut short; never a claim that all of it was written.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _main(argv: list[str], release_stdout: bool = False) -> int:
    try:
        parsed = parse_argv(argv)
    except UsageError as exc:
        print(f"kmstui: error: {exc.code}: {visible(exc)}", file=sys.stderr)
        return EXIT_USAGE
    if parsed.version:
        from kmstui import __version__

        print(f"kmstui {__version__}")
        return 0
    from kmstui.config import Config
    from kmstui.runner import Runner
    from kmstui.session import Options, Session

    stdin_tty = _tty(sys.stdin)
    try:
        session = Session(Config.load(), Options(**parsed.options), interactive=stdin_tty)  # type: ignore[arg-type]
    except KmstuiError as exc:
        print(f"kmstui: error: {exc.code}: {visible(exc)}", file=sys.stderr)
        return exc.exit_code
    if stdin_tty:
        session.prompt_secret = _prompt_secret
        session.confirm = _confirm
        if _tty(sys.stdout):
            from kmstui.shell.editor import edit_text

            session.edit_text = edit_text
    runner = Runner(session)
    rest = parsed.rest
    _collector_on(one_shot=parsed.command_string is None and bool(rest) and rest[0] not in _LONG_RUNNING)
    try:
        if parsed.command_string is not None:
            from kmstui.lines import script_lines

            lines = list(script_lines(parsed.command_string))
            name = "-c" if len({line.lineno for line in lines}) > 1 else None
            return runner.run_lines(lines, name, keep_going=parsed.keep_going)
        if rest and rest[0] == "shell":
            if len(rest) > 1:
                return runner.report(UsageError(f"'shell' takes no arguments (got '{rest[1]}')"), None)
            if not stdin_tty:  # `kmstui shell < script`: no terminal to edit lines on, so no prompt drawn into
                return _run_file(runner, ["-"], parsed.keep_going)  # the output: the lines run as `kmstui < script`
            from kmstui.shell.app import run_repl

            return run_repl(session)
        if rest and rest[0] == "run":
            return _run_file(runner, rest[1:], parsed.keep_going)
        if rest:
            code = runner.run(rest)
            return _output_done(code) if release_stdout else code
        if not stdin_tty:
            return _run_file(runner, ["-"], parsed.keep_going)
        try:
            return _start_tui_or_repl(session)
        except KmstuiError as exc:  # e.g. the TUI refusing `kmstui | less`: one line and its exit code
            return runner.report(exc, None)
    finally:
        session.close()


def _output_done(code: int) -> int:
    """A one-shot command has written everything it will write: its standard output is flushed and pointed at
    the null device, so a reader at the other end of a pipe sees the end of the output now, not when this
    process has finished exiting (closing the store, the final collection, the interpreter's finalization:
    ~8 ms of every `kmstui ... | next`, measured). The descriptor stays open, on the null device, so nothing
    written later can fail or land anywhere. Returns the exit code: a reader that went away still ends the
    process as a broken pipe (141); any other failure to write what was left is one line and a failure,
    unless the command had failed already (and said so)."""
    from kmstui.commands.args import flush_all
    from kmstui.runner import unwritable_stdout

    try:
        flush_all(sys.stdout)
    except BrokenPipeError:
        raise
    except OSError as exc:
        if code == 0:
            code = unwritable_stdout(exc, sys.stderr)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
    finally:
        os.close(devnull)
    return code


def _run_file(runner, args: list[str], keep_going: bool) -> int:
    """`run FILE` (or `-`), and commands piped on stdin: the script is read as UTF-8 whatever the locale."""
    from kmstui.commands.values import read_stream
    from kmstui.lines import MAX_SCRIPT_BYTES, script_lines

    if len(args) != 1:
        return runner.report(UsageError("usage: kmstui run FILE [--keep-going]"), None)
    path = args[0]
    name = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            data = read_stream(sys.stdin.buffer, MAX_SCRIPT_BYTES, f"the script on {name}")
        else:
            with open(path, "rb") as fh:
                data = read_stream(fh, MAX_SCRIPT_BYTES, f"script {name}")
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return runner.report(UsageError(f"cannot read script {name}: it is not UTF-8 text"), None)
    except UsageError as exc:  # larger than the bound: /dev/zero, an endless pipe
        return runner.report(exc, None)
    except OSError as exc:
        return runner.report(UsageError(f"cannot read script {name}: {exc.strerror or exc}"), None)
    return runner.run_lines(script_lines(text), name, keep_going=keep_going)
