"""How a command's values are read: typed inline, from a file (`file://`, `fileb://`), from standard input;
and the bound every input has.

One implementation for every command and plugin. An `Arg` declares its value kind (`Arg(kind=...)`); the
Session resolves every such argument through `resolve_args` before the handler runs, so a handler gets the
final bytes or text and never sees a `file://` prefix, and no command can forget the rule. The rule follows
the aws CLI v2 (docs: "Loading a parameter from a file in the AWS CLI"):

- `fileb://PATH`: the file's bytes, exactly as stored (blobs: plaintext, ciphertext, messages, signatures).
- `file://PATH`: the file read as text (UTF-8), then used exactly as if it had been typed on the line.
  Text mode turns \\r\\n and \\r line ends into \\n, as the aws CLI's text read does; use fileb:// for exact bytes.
- PATH after the prefix: `~` and $VARIABLES are expanded as the aws CLI does; `file:///abs/path` for an absolute
  one. `fileb:///dev/stdin` (or `file:///dev/stdin`) reads standard input: the way to give a secret that must not
  show in `ps` or in shell history.
- typed inline: a blob of kind BYTES is the argument's UTF-8 bytes (aws CLI v2 with cli_binary_format =
  raw-in-base64-out, so `--plaintext hello` encrypts the 5 bytes "hello"); a blob of kind BASE64 (ciphertext,
  signature, MAC: values kmstui and the aws CLI print base64-encoded) is decoded from base64, strictly.

Nothing is guessed: a value is never taken as a file because a file of that name exists, and a value that
starts with neither prefix is never read from anywhere.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
from typing import TYPE_CHECKING, Any, BinaryIO, Callable

from kmstui.errors import UsageError
from kmstui.visible import visible

if TYPE_CHECKING:
    import argparse

    from kmstui.commands.registry import Arg, Command
    from kmstui.session import Session

FILE_TEXT = "file://"
FILE_BYTES = "fileb://"

# Value kinds an Arg may declare.
BYTES = "bytes"  # a blob; inline: the UTF-8 bytes of the argument (plaintext, message)
BASE64 = "base64"  # a blob; inline: base64 text, as kmstui prints it (ciphertext, signature, MAC)
TEXT = "text"  # text; inline as typed (description, tag values, grant tokens, context JSON)
# A JSON document (key policy, identity policy): inline JSON text (starting with { or [), file://PATH,
# fileb://PATH, or kmstui's own form, a bare PATH, read as UTF-8 text. The handler gets the text.
DOCUMENT = "document"
KINDS = (BYTES, BASE64, TEXT, DOCUMENT)

# Bounds (docs/inputs.md). A value read from a file is bounded by its Arg's `limit`, by default:
MAX_VALUE_BYTES = 1024 * 1024
# `--in PATH|-`, and other whole files a command reads into memory (scripts have their own bound, lines.py).
MAX_INPUT_BYTES = 64 * 1024 * 1024

STDIN_PATHS = frozenset({"/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"})

HELP = """\
Giving values (every command and plugin, one rule, as the aws CLI v2 does):
  fileb://PATH     the file's raw bytes (plaintext, ciphertext, message, signature, MAC)
  file://PATH      the file read as UTF-8 text, used as if typed on the line (\\r\\n becomes \\n)
  VALUE            typed inline: --plaintext and --message take the text's UTF-8 bytes (aws CLI v2 with
                   cli_binary_format = raw-in-base64-out); --ciphertext-blob, --signature and --mac take
                   base64, as kmstui and the aws CLI print them
  fileb:///dev/stdin  read the value from standard input (also file:///dev/stdin); --in - does the same for --in
PATH may start with ~ and use $VARIABLES; file:///abs/path for an absolute path. A file that cannot be read
is an error naming it; nothing is ever used in its place.
Secrets (plaintext, messages, grant tokens): prefer fileb://, --in PATH or standard input (fileb:///dev/stdin,
--in -): a value typed on the command line is visible to other users in `ps` while the command runs. Lines
carrying secret values are never kept in the REPL history.
Bounds: a value read from a file: 1 MiB; --in and other whole-file inputs: 64 MiB (see docs/inputs.md)."""


def _human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def _wait_readable(stream: Any) -> None:
    import select  # only for a non-blocking input that has nothing yet

    select.select([stream.fileno()], [], [])


def read_waiting(stream: Any, n: int) -> bytes:
    """stream.read(n), never taking "nothing yet" for the end of the input. Standard input can be in
    non-blocking mode (another program sharing its pipe or terminal set O_NONBLOCK); a read then returns None
    (or raises BlockingIOError) while the producer is still writing, and treating that as the end would
    silently cut the input short: a truncated file encrypted, the rest of a script never run."""
    return _waiting(stream, stream.read, n)


def readinto_waiting(stream: Any, view: Any) -> int:
    """stream.readinto(view), waiting as read_waiting does; 0 only at the end of the input."""
    return _waiting(stream, stream.readinto, view)


def _waiting(stream: Any, call: Callable[[Any], Any], arg: Any) -> Any:
    """call(arg) until it returns something other than None ("nothing yet"), waiting for input between."""
    while True:
        try:
            got = call(arg)
        except BlockingIOError:
            got = None
        if got is not None:
            return got
        _wait_readable(stream)


def read_stream(stream: BinaryIO, limit: int, what: str) -> bytes:
    """Up to `limit` bytes of a stream; UsageError naming `what` when there are more (never reads past
    limit + 1 bytes, so /dev/zero or an endless pipe costs at most the bound)."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = read_waiting(stream, min(1 << 20, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise UsageError(f"{what} is larger than {_human(limit)}, kmstui's bound for it (see docs/inputs.md)")
    return b"".join(chunks)


def read_file(path: "str | os.PathLike[str]", limit: int, what: str) -> bytes:
    """The bytes of the file at `path`, at most `limit` (UsageError naming `what` beyond it). OSError and
    ValueError (a NUL in the name) pass through, for a caller that words those errors itself (the advisor's
    --answers); `read_bounded` is the form that words them too."""
    with open(path, "rb") as fh:
        return read_stream(fh, limit, what)


def read_bounded(session: "Session | None", path: str, what: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of PATH ('-' or /dev/stdin: standard input), at most `limit`; UsageError naming `what`
    (e.g. "--in data.bin") when it cannot be read or is too large. Works for FIFOs and /proc files too:
    the size is counted while reading, never trusted from stat."""
    if path == "-" or path in STDIN_PATHS:
        stream = session.stdin if session is not None else os.fdopen(os.dup(0), "rb")
        return read_stream(stream, limit, what)
    try:
        return read_file(os.path.expanduser(path), limit, what)
    except FileNotFoundError:
        raise UsageError(f"{what}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{what}: is a directory, not a file") from None
    except OSError as exc:
        raise UsageError(f"{what}: cannot read ({exc.strerror or exc})") from None
    except ValueError:  # "embedded null byte"
        raise UsageError(f"{what}: a file name cannot contain a NUL character") from None


def _paramfile_error(flag: str, detail: str) -> UsageError:
    # The aws CLI's wording: "Error parsing parameter '--plaintext': Unable to load paramfile ...".
    return UsageError(f"Error parsing parameter '{flag}': {detail}")


def _load(session: "Session", flag: str, value: str, prefix: str, limit: int) -> bytes:
    raw_path = value[len(prefix):]
    path = os.path.expandvars(os.path.expanduser(raw_path))
    if not path:
        raise _paramfile_error(flag, f"Unable to load paramfile {value}: no path after '{prefix}' "
                                     f"(give {prefix}PATH, e.g. {prefix}secret.bin)")
    if path in STDIN_PATHS:
        return read_stream(session.stdin, limit, f"{flag} {value} (standard input)")
    try:
        return read_file(path, limit, f"{flag} {value}")
    except OSError as exc:
        raise _paramfile_error(flag, f"Unable to load paramfile {value}: {exc}") from None
    except ValueError:  # "embedded null byte"
        raise _paramfile_error(flag, f"Unable to load paramfile {visible(value)}: the path contains a NUL "
                                     "character") from None


def _text_of(flag: str, value: str, data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        path = value[len(FILE_TEXT):]
        raise _paramfile_error(flag, f"Unable to load paramfile ({path}), text contents could not be decoded.  "
                                     "If this is a binary file, please use the fileb:// prefix instead of the "
                                     "file:// prefix.") from None
    # Universal newlines, as Python's text mode (and so the aws CLI's file:// read) gives them.
    return io.StringIO(text, newline=None).read()


def check_text(flag: str, value: str) -> str:
    """A text value as given: refuse one that is not valid Unicode text (non-UTF-8 bytes on the command line
    arrive as lone surrogates) before anything is done with it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{flag} is not valid UTF-8 text (it holds raw bytes such as "
                         f"{_bad_bytes(value)}); give UTF-8 text, or the bytes with fileb://PATH where a blob is "
                         "taken") from None
    return value


def _bad_bytes(value: str) -> str:
    bad = [c for c in value if 0xD800 <= ord(c) <= 0xDFFF][:3]
    return " ".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else f"\\u{ord(c):04x}" for c in bad)


def resolve(session: "Session", arg: "Arg", value: str) -> Any:
    """One value of an Arg with a kind, as the handler gets it: bytes (BYTES, BASE64) or str (TEXT)."""
    flag = arg.name if arg.is_flag else (arg.metavar or arg.dest.upper())
    limit = arg.limit or MAX_VALUE_BYTES
    kind = arg.kind
    if kind == DOCUMENT and not value.startswith((FILE_BYTES, FILE_TEXT)) and not value.lstrip().startswith(("{", "[")):
        data = read_bounded(session, value, f"{flag} {value}", limit)  # a bare PATH: kmstui's own spelling
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{flag} {value}: not UTF-8 text") from None
    if value.startswith(FILE_BYTES):
        data = _load(session, flag, value, FILE_BYTES, limit)
        if kind in (TEXT, DOCUMENT):
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                raise _paramfile_error(flag, f"{value} is not UTF-8 text; {flag} takes text") from None
        return data
    if value.startswith(FILE_TEXT):
        text = _text_of(flag, value, _load(session, flag, value, FILE_TEXT, limit))
    else:
        text = check_text(flag, value)
    if kind in (TEXT, DOCUMENT):
        return text
    if kind == BASE64:
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise UsageError(f"{flag} is not valid base64; give the raw bytes with {flag} fileb://PATH "
                             "instead (see 'help values')") from None
    return text.encode("utf-8")


def resolve_args(session: "Session", command: "Command", args: "argparse.Namespace") -> None:
    """Replace, in place, every value of a kind-declaring argument by what it stands for, and refuse text
    that is not UTF-8 in any other argument except file paths (which may be any bytes on POSIX)."""
    for arg in command.args:
        value = getattr(args, arg.dest, None)
        if value is None or arg.flag:
            continue
        if arg.kind is not None:
            if isinstance(value, list):
                setattr(args, arg.dest, [_resolve_one(session, arg, v) for v in value])
            else:
                setattr(args, arg.dest, _resolve_one(session, arg, value))
        elif arg.complete not in ("file", "dir"):
            flag = arg.name if arg.is_flag else (arg.metavar or arg.dest.upper())
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str):
                    check_text(flag, item)
        else:  # a path may be any bytes but NUL (which only a script or the REPL can even type)
            flag = arg.name if arg.is_flag else (arg.metavar or arg.dest.upper())
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and "\x00" in item:
                    raise UsageError(f"{flag}: a file name cannot contain a NUL character")


def _resolve_one(session: "Session", arg: "Arg", value: Any) -> Any:
    if isinstance(value, list):  # a flag taking several words (nargs)
        return [_resolve_one(session, arg, v) for v in value]
    if not isinstance(value, str):  # a default that is already final
        return value
    return resolve(session, arg, value)
