"""Run command words through the Session and report the outcome: the one place that turns a Result into
stdout/stderr text and an exception into a one-line error and an exit code (AWS CLI v2 codes).

The CLI, scripts, piped stdin and the REPL all run commands through a Runner, so a command prints and
fails the same way in every mode. Every one-shot command imports this module, so what only a failure
(traceback) or a script (kmstui.lines) needs is imported there.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Iterable, TextIO

from kmstui.commands.args import flush_all, write_all
from kmstui.commands.render import choose_format, render, use_color
from kmstui.errors import EXIT_INTERRUPT, EXIT_OTHER, KmstuiError, UsageError
from kmstui.visible import visible

if TYPE_CHECKING:
    from kmstui.lines import Line
    from kmstui.session import Session


def help_words(registry, words: list[str]) -> list[str]:
    """`key --help` (a group, not a command) means `help key`."""
    for flag in ("--help", "-h"):
        if flag in words:
            head = words[: words.index(flag)]
            if registry.find(head)[0] is None:
                return ["help", *head]
    return words


def unwritable_stdout(exc: OSError, stderr: TextIO) -> int:
    """One line for output that could not be written (a full disk, /dev/full): something the user must fix,
    not an internal error. Returns the exit code."""
    print(f"kmstui: error: cannot write standard output ({exc.strerror or exc})", file=stderr, flush=True)
    return EXIT_OTHER


class Runner:
    def __init__(self, session: "Session", *, stdout_tty: bool | None = None, stderr: TextIO | None = None) -> None:
        self.session = session
        self._stderr = stderr
        if stdout_tty is None:
            isatty = getattr(session.stdout, "isatty", None)
            stdout_tty = bool(isatty and isatty())
        self.stdout_tty = stdout_tty

    @property
    def stderr(self) -> TextIO:
        return self._stderr or sys.stderr

    def run(self, words: list[str], where: str | None = None) -> int:
        """Run one command; print its output and any error; return its exit code."""
        session = self.session
        try:
            command, args = session.parse(help_words(session.registry, words))
            opts = session.options.overridden(args)
            fmt = choose_format(opts.output, session.config.setting("output"), self.stdout_tty)
            session.output_format = fmt
            try:
                result = session.run_command(command, args)
            finally:
                session.output_format = None
            text = render(result, fmt, query=opts.query, color=use_color(self.stdout_tty, opts.no_color))
            if text:
                try:
                    write_all(session.stdout, text.encode("utf-8"))  # all of it, even on a non-blocking stdout
                    flush_all(session.stdout)
                except BrokenPipeError:
                    raise
                except OSError as exc:
                    return unwritable_stdout(exc, self.stderr)
            if result.message:
                print(visible(result.message, keep_lines=True), file=self.stderr, flush=True)
            if result.exit_code and where:
                print(f"{visible(where)}: check failed (exit {result.exit_code})", file=self.stderr, flush=True)
            return result.exit_code
        except KeyboardInterrupt as exc:
            return self.report(exc, where, words)
        except BrokenPipeError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line and an exit code
            return self.report(exc, where, words)

    def report(self, exc: BaseException, where: str | None, words: list[str] | None = None) -> int:
        debug = self.session.options.debug or bool(words and "--debug" in words)
        prefix = f"{visible(where)}: error" if where else "kmstui: error"
        if isinstance(exc, KeyboardInterrupt):
            print(f"{prefix}: interrupted", file=self.stderr, flush=True)
            return EXIT_INTERRUPT
        if debug:
            import traceback

            traceback.print_exception(exc, file=self.stderr)
            trace = getattr(exc, "trace", None)  # an authorization decision's trace (AccessDeniedException)
            if trace is not None:
                import json

                print(json.dumps(trace, indent=2, default=str), file=self.stderr, flush=True)
        # One line, whatever the error carries: an untrusted provider id or file name could hold escape
        # sequences or a newline and a fake "OK" line (kmstui/visible.py).
        if isinstance(exc, UsageError):  # the user's own words: the message says it all
            print(f"{prefix}: {visible(exc)}", file=self.stderr, flush=True)
            return exc.exit_code
        if isinstance(exc, KmstuiError):  # name the error, as KMS does, so scripts can match on it
            print(f"{prefix}: {exc.code}: {visible(exc)}", file=self.stderr, flush=True)
            return exc.exit_code
        hint = "" if debug else " (internal error; run with --debug for the traceback)"
        print(f"{prefix}: {type(exc).__name__}: {visible(exc)}{hint}", file=self.stderr, flush=True)
        return EXIT_OTHER

    def run_lines(self, lines: Iterable[Line], name: str | None, *, keep_going: bool = False) -> int:
        """Run a script's commands in order. Stops at the first failing line (named `name:LINE`) unless
        keep_going; returns the first failure's exit code, or 0."""
        first_failure = 0
        for line in lines:
            where = f"{name}:{line.lineno}" if name else None
            if line.error:
                code = self.report(UsageError(line.error), where)
            else:
                code = self.run(line.words, where)
            if code:
                first_failure = first_failure or code
                if code == EXIT_INTERRUPT or not keep_going:
                    return code
        return first_failure
