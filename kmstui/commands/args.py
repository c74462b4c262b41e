"""Arguments shared by the key and crypto commands, and the byte I/O they all do the same way.

Every command that names a key, takes an encryption context, reads data or writes it uses these
definitions, so `--context`, `--in` and `--out` mean the same thing everywhere (and complete alike).
Output files are written atomically: a temporary file beside the destination, then a rename, so a
failure never leaves a partial file and a reader never sees half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from kmstui.backends import aliasnames
from kmstui.commands.registry import Arg, Result
from kmstui.commands.values import BYTES, MAX_INPUT_BYTES, TEXT, read_bounded
from kmstui.errors import KmstuiError, UsageError

if TYPE_CHECKING:
    import argparse

    from kmstui.session import Session

KEY_HELP = "key id, key ARN, alias/NAME or alias ARN; prefix 'PROFILE:' to use another profile's backend"

KEY_ID = Arg("--key-id", KEY_HELP, required=True, complete="key", metavar="KEY")
KEY = Arg("key_id", KEY_HELP + " (or give it as --key-id KEY)", complete="key", metavar="KEY",
          aliases=("--key-id",))  # `key describe KEY` or `key describe --key-id KEY`, as the AWS CLI spells it
CONTEXT = Arg("--context", "encryption context pair KEY=VALUE (repeatable; K1=V1,K2=V2 as the aws CLI's "
              "shorthand; or a JSON object, or file://PATH holding one); bound to the ciphertext, the same pairs are "
              "needed to decrypt",
              aliases=("--encryption-context",), repeat=True, metavar="K=V", kind=TEXT)
GRANT_TOKENS = Arg("--grant-token", "grant tokens to use for this request (one or more, repeatable; "
                   "file:///dev/stdin reads one from standard input)", aliases=("--grant-tokens",), repeat=True,
                   nargs="+", flat=True, metavar="TOKEN", secret=True,
                   kind=TEXT)  # a bearer value: kept out of history like a passphrase
IN = Arg("--in", "read the input bytes from PATH, or from standard input with '-'", complete="file",
         metavar="PATH|-")
OUT = Arg("--out", "write the raw result bytes to PATH, or to standard output with '-' (without --out the "
          "result is printed, binary fields base64-encoded)", complete="file", metavar="PATH|-")
FORCE = Arg("--force", "overwrite an existing --out file", flag=True)
PLAINTEXT = Arg("--plaintext", "the plaintext: TEXT (its UTF-8 bytes), fileb://PATH (raw bytes) or file://PATH; "
                "fileb:///dev/stdin or --in - read standard input, out of sight of `ps` (see 'help values'; never "
                "kept in history)", secret=True, metavar="TEXT", kind=BYTES)


def is_alias(ref: str) -> bool:
    return aliasnames.is_alias_ref(ref)


def check_alias_name(name: str, note: str = "") -> None:
    """Refuse an alias name KMS would refuse, before anything else is done, with the error the backend would
    raise (kmstui.backends.aliasnames); `note` says what was therefore left undone."""
    aliasnames.check_alias_name(name, note)


def resolved_key(session: "Session", ref: str) -> tuple[Any, str]:
    """The backend and key id for a reference, following an alias. KMS's management operations (enable,
    tags, rotation, policies, import, alias targets) take only a key id or ARN; kmstui accepts aliases
    everywhere, so it looks the alias up first (one DescribeKey)."""
    backend, key = session.key_ref(ref)
    if is_alias(key):
        key = backend.describe_key(KeyId=key)["KeyMetadata"]["KeyId"]
    return backend, key


def optional(arg: Arg) -> Arg:
    """A copy of a shared argument that is not required."""
    return arg.replace(required=False)


def parse_context(pairs: list[str] | None) -> dict[str, str]:
    """`["k=v", ...]` (or JSON objects) as an encryption-context dict; UsageError naming a bad pair."""
    context: dict[str, str] = {}
    for item in pairs or []:
        if item.lstrip().startswith("{"):
            try:
                obj = json.loads(item)
            except json.JSONDecodeError as exc:
                raise UsageError(f"--context JSON is not valid ({exc.msg} at column {exc.colno})") from None
            if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
                raise UsageError("--context JSON must be an object of string values, e.g. {\"app\": \"web\"}")
            new = obj
        else:
            # The aws CLI's map shorthand K1=V1,K2=V2; a value holding a comma stays whole when what follows
            # the comma is not another KEY=.
            parts = item.split(",")
            pairs = [parts[0]]
            for part in parts[1:]:
                if "=" in part:
                    pairs.append(part)
                else:
                    pairs[-1] += "," + part
            new = {}
            for pair in pairs:
                key, sep, value = pair.partition("=")
                if not sep:
                    raise UsageError(f"--context '{item}' is missing '=': give KEY=VALUE, e.g. --context purpose=backup")
                if not key:
                    raise UsageError(f"--context '{item}' has an empty key: give KEY=VALUE")
                if new.get(key, value) != value:
                    raise UsageError(f"--context key '{key}' is given twice with different values")
                new[key] = value
        for key, value in new.items():
            if context.get(key, value) != value:
                raise UsageError(f"--context key '{key}' is given twice with different values")
            context[key] = value
    return context


def _tag_pairs(items: list[str], flag: str) -> list[str]:
    """KEY=VALUE words, with the aws CLI's JSON form (`[{"TagKey": "k", "TagValue": "v"}]`, inline or from
    file://) turned into the same words."""
    out: list[str] = []
    for item in items:
        shorthand = re.fullmatch(r"TagKey=([^,]*),TagValue=(.*)", item, re.DOTALL)
        if shorthand:  # the aws CLI's shorthand: --tags TagKey=team,TagValue=pay TagKey=...
            out.append(f"{shorthand.group(1)}={shorthand.group(2)}")
            continue
        if not item.lstrip().startswith("["):
            out.append(item)
            continue
        try:
            doc = json.loads(item)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{flag}: tags JSON is not valid ({exc.msg} at line {exc.lineno} column {exc.colno})") \
                from None
        if not isinstance(doc, list) or not all(
                isinstance(t, dict) and set(t) == {"TagKey", "TagValue"} and all(isinstance(v, str) for v in t.values())
                for t in doc):
            raise UsageError(f'{flag}: tags JSON must be a list of {{"TagKey": "...", "TagValue": "..."}} objects')
        for tag in doc:
            if not tag["TagKey"]:
                raise UsageError(f"{flag}: a TagKey in the tags JSON is empty")
            out.append(f"{tag['TagKey']}={tag['TagValue']}")
    return out


def parse_tags(pairs: list[str] | None, flag: str = "--tag") -> list[dict[str, str]]:
    """`["k=v", ...]` as KMS Tags ([{"TagKey": k, "TagValue": v}]); the value may be empty. `flag` names
    where the pairs came from in errors ("--tag", or "tag" for positional pairs)."""
    tags: dict[str, str] = {}
    for item in _tag_pairs(pairs or [], flag):
        key, sep, value = item.partition("=")
        if not sep or not key:
            example = f"{flag} team=payments" if flag.startswith("-") else "team=payments"
            raise UsageError(f"{flag} '{item}' needs the form KEY=VALUE, e.g. {example}")
        if tags.get(key, value) != value:
            raise UsageError(f"tag key '{key}' is given twice with different values; give it once")
        tags[key] = value
    return [{"TagKey": k, "TagValue": v} for k, v in tags.items()]


def read_file(session: "Session", path: str, flag: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Bytes of PATH ('-' reads standard input), at most `limit` (64 MiB unless the caller says less);
    UsageError naming the flag when it cannot be read or is larger."""
    return read_bounded(session, path, f"{flag} {path}", limit)


def read_input(session: "Session", args: "argparse.Namespace", *, text: str = "plaintext",
               required: bool = True) -> bytes | None:
    """The input bytes of a command: `--TEXT` given as text (UTF-8), or `--in PATH|-`; exactly one."""
    text_value = getattr(args, text, None)
    path = getattr(args, "in", None)
    flag = "--" + text.replace("_", "-")
    if text_value is not None and path is not None:
        raise UsageError(f"give either {flag} or --in, not both")
    if text_value is not None:  # already bytes: the Arg's kind resolved inline text, file:// and fileb://
        return text_value if isinstance(text_value, bytes) else text_value.encode("utf-8")
    if path is not None:
        return read_file(session, path, "--in")
    if required:
        raise UsageError(f"no input: give {flag} TEXT, or --in PATH (--in - reads standard input)")
    return None


def _umask() -> int:
    old = os.umask(0o077)
    os.umask(old)
    return old


_SPECIAL_KINDS = ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                  (stat.S_ISFIFO, "named pipe"), (stat.S_ISSOCK, "socket"))


def refuse_special_file(path: str | os.PathLike, flag: str = "--out", *, dash: bool = True,
                        st: os.stat_result | None = None) -> None:
    """An --out that exists and is a device, named pipe or socket is refused, --force or not: kmstui writes
    output files whole, a finished file renamed into place, which would replace the special file itself
    with a regular one (`--out /dev/null --force` run as root would leave the machine without /dev/null).
    Standard output can be redirected there instead (`dash`: the flag takes '-' for standard output).
    `st`: the destination's stat when the caller has it; otherwise it is taken here, and a destination that
    does not exist (or cannot be reached: the write says so) has nothing to replace."""
    if st is None:
        try:
            st = os.stat(path)
        except OSError:
            return
    for test, kind in _SPECIAL_KINDS:
        if test(st.st_mode):
            instead = f"use {flag} - and redirect standard output to it" if dash else "give a regular file's name"
            raise UsageError(f"{flag} {path} is a {kind}, not a regular file: output files are written whole and "
                             f"renamed into place, which would replace it; {instead}")


def replace_file(src: str | os.PathLike, dest: str | os.PathLike, flag: str = "--out", *, dash: bool = True) -> None:
    """os.replace(src, dest), the destination checked again just before: one that became a device, named pipe
    or socket since the first check (made before the output was written, which can take a while) is refused,
    not replaced. Linux has no rename that refuses a special file, so a window of one system call remains
    instead of the whole write. The caller removes `src` when this raises."""
    refuse_special_file(dest, flag, dash=dash)
    os.replace(src, dest)


def check_writable(path: str | None, force: bool, flag: str = "--out") -> None:
    """Refuse early (before any backend call) an --out that would clobber a file or cannot be created."""
    if path is None or path == "-":
        return
    target = Path(path).expanduser()
    if target.is_dir():
        raise UsageError(f"{flag} {path} is a directory; give a file name")
    try:
        refuse_special_file(path, flag, st=target.stat())  # the path as given, in the message
    except OSError:
        pass  # does not exist (yet): nothing to replace
    if target.exists() and not force:
        raise UsageError(f"{flag} {path} already exists; use --force to overwrite it")
    if not target.parent.is_dir():
        raise UsageError(f"{flag} {path}: folder {target.parent} does not exist")


def _wait_writable(stream: Any) -> None:
    import select  # only for a non-blocking output that is full

    select.select([], [stream.fileno()], [])


def write_all(stream: Any, data: Any) -> None:
    """Write every byte of `data`, or raise. A binary stream's write may write less than it was given and
    say so only in its return value (a pipe whose reader went away after a partial write: `| head -c5`);
    ignoring that count loses data silently. The next write then fails with EPIPE (BrokenPipeError).
    Standard output can be in non-blocking mode (O_NONBLOCK set by another program sharing it): a full pipe
    then makes a raw stream's write return None (PYTHONUNBUFFERED=1 makes sys.stdout.buffer raw) and a
    buffered one raise BlockingIOError; both wait until the reader makes room, never count it as written."""
    import io

    view = memoryview(data).cast("B")
    while view.nbytes:
        try:
            n = stream.write(view)
        except BlockingIOError as exc:
            view = view[exc.characters_written:]
            _wait_writable(stream)
            continue
        if n is None:
            if isinstance(stream, io.RawIOBase):
                _wait_writable(stream)
                continue
            return  # a write function that returns nothing (a custom sink): it took everything or raised
        if n <= 0:
            raise BrokenPipeError(32, "Broken pipe")
        view = view[n:]


def flush_all(stream: Any) -> None:
    """stream.flush(), waiting while a non-blocking output is full (see write_all)."""
    while True:
        try:
            stream.flush()
            return
        except BlockingIOError:
            _wait_writable(stream)


def write_output(session: "Session", path: str, data: bytes, force: bool = False, *,
                 secret: bool = False, flag: str = "--out") -> str:
    """Write `data` to PATH atomically ('-': standard output) and return a note for the user.

    The bytes go to a temporary file in the destination folder, are synced, and are renamed into place,
    so the destination is either untouched or complete. Secret output (plaintext, data keys) is 0600;
    other files follow the umask. Without `force` an existing file is never replaced, even one created
    while we were writing.
    """
    if path == "-":
        write_all(session.stdout, data)
        flush_all(session.stdout)
        return f"wrote {len(data)} bytes to standard output"
    check_writable(path, force, flag)
    target = Path(path).expanduser()
    mode = 0o600 if secret else 0o666 & ~_umask()
    import tempfile  # only when a file is written: every command imports this module at start-up

    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot create a file there ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if force:
            replace_file(tmp, target, flag)
        else:
            try:
                os.link(tmp, target)  # fails if the destination appeared meanwhile: never clobber
            except FileExistsError:
                raise UsageError(f"{flag} {path} already exists; use --force to overwrite it") from None
            except OSError:
                if target.exists():
                    raise UsageError(f"{flag} {path} already exists; use --force to overwrite it") from None
                os.replace(tmp, target)  # a filesystem without hard links
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write ({exc.strerror})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return f"wrote {len(data)} bytes to {path}"


def after_change(session: "Session", read: "Callable[[], Result]", done: str) -> Result:
    """The result of a command whose change has already succeeded and whose aws CLI counterpart prints
    nothing (enable-key, disable-key, update-key-description, tag-resource, untag-resource,
    enable/disable-key-rotation, import-key-material, create-alias, update-alias: their responses have no
    members). So json, yaml and text print nothing either, as scripts written against the aws CLI expect, and
    `done` goes to stderr. Only a table (a person at a terminal, the default there) shows the new state:
    `read()`, a separate read made for that view alone. A read that fails (the change may have removed the
    caller's own read permission, or a key was deleted meanwhile) never turns the success into an error: the
    change is reported done, the read's error named in the message, exit code 0."""
    if session.output_format != "table":
        return Result(message=done)
    try:
        result = read()
    except KmstuiError as exc:
        return Result(message=f"{done} (the new state could not be read back: {exc.code}: {exc})")
    result.message = "; ".join(m for m in (done, result.message) if m) or None
    return result


def without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    """A response dict without the named (binary or secret) fields."""
    return {k: v for k, v in data.items() if k not in keys}
