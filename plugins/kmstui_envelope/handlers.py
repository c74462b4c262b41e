"""Handlers of the envelope commands (registered in commands.py, imported on first use).

Handlers turn arguments into keyrings and paths, run the codec file by file, and return one result with a
row per file and a summary (files, bytes, backend calls). Backends are opened lazily, only when a key of
theirs is actually used, so raw-key work and `inspect` never touch a key store.
"""

from __future__ import annotations

import argparse
import io
import os
import stat
from functools import partial
from pathlib import Path
from typing import Any

from kmstui.commands.args import flush_all, write_all
from kmstui.commands.registry import Result, TableHint
from kmstui.errors import KmstuiError, UsageError
from kmstui_envelope.body import Sink
from kmstui_envelope.errors import MessageError
from kmstui_envelope.files import TMP_SUFFIX, AtomicFile
from kmstui_envelope.header import DEFAULT_MAX_EDKS, EncryptedDataKey
from kmstui_envelope.keyrings import BackendKeyring, Counter, DiscoveryKeyring, Keyring
from kmstui_envelope.materials import UnwrapCache, cache_key, encryption_materials
from kmstui_envelope.pipe import OutputPipe, widen_pipe
from kmstui_envelope.progress import Progress, human_size
from kmstui_envelope.suites import DEFAULT_SUITE, parse_suite
from kmstui_envelope.stream import DEFAULT_FRAME, DecryptOptions, decrypt_stream, encrypt_stream

# Encryption holds a frame being read and up to three being sealed or written (pipe.POOL): the frame length
# bounds memory. 64 MiB frames cost at most about 256 MiB; decryption streams frames over 16 MiB.
MAX_ENCRYPT_FRAME = 64 << 20

SUFFIX = ".enc"
FADVISE_MIN = 1 << 20  # smaller files are read in one or two calls: no read-ahead hint (a system call per file)
SMALL_MESSAGE = 64 << 10  # decrypting: files up to this size are read whole before parsing


# -- argument helpers --------------------------------------------------------------------------------------
def _context(pairs):
    from kmstui.commands.args import parse_context

    return parse_context(pairs)


class LazyBackend:
    """A profile's backend, opened on first use (the kind is known from the profile without opening)."""

    def __init__(self, session, profile: str | None) -> None:
        self._session = session
        self._profile = profile
        self.kind = session.profile(profile).backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session.backend(self._profile), name)


def key_keyrings(session, refs: list[str] | None, counter: Counter) -> list[Keyring]:
    out: list[Keyring] = []
    for ref in refs or []:
        profile, key = session.split_key_ref(ref)
        out.append(BackendKeyring(LazyBackend(session, profile), key, counter, ref=ref))
    return out


def raw_keyrings(specs: list[str] | None) -> list[Keyring]:
    if not specs:
        return []
    from kmstui_envelope.rawkeys import load_raw_key

    return [load_raw_key(s) for s in specs]


def decrypt_keyrings(session, args, counter: Counter) -> list[Keyring]:
    """Strict (--key-id, --allow-key), discovery (--discovery) and raw keys; see `help envelope decrypt`."""
    keyrings = raw_keyrings(getattr(args, "raw_key", None)) + key_keyrings(session, args.key_id, counter)
    allow = frozenset(args.allow_key or [])
    if allow and args.discovery:
        raise UsageError("--allow-key (strict) and --discovery exclude each other")
    if allow:
        keyrings.append(DiscoveryKeyring(LazyBackend(session, None), counter, allow))
    elif args.discovery or not keyrings:
        backend = LazyBackend(session, None)
        if not args.discovery and backend.kind == "aws":
            raise UsageError("say which AWS KMS keys may decrypt: --key-id KEY, --allow-key KEY_ARN, or "
                             "--discovery (any key the credentials can use)")
        keyrings.append(DiscoveryKeyring(backend, counter))
    return keyrings


def decrypt_options(args) -> DecryptOptions:
    max_edks = args.max_edks if args.max_edks is not None else DEFAULT_MAX_EDKS
    if not 1 <= max_edks <= 0xFFFF:
        raise UsageError("--max-edks must be between 1 and 65535 (the format's own limit)")
    return DecryptOptions(allow_legacy=args.allow_legacy, max_edks=max_edks,
                          expect_context=_context(args.expect_context))


def expand(paths: list[str], recursive: bool) -> list[tuple[str, str]]:
    """(file, root it was found under) for every input; directories need --recursive. Paths are strings
    spelled as pathlib spells them ("./a//b" is "a/b"): a tree has many files, and Path objects and
    os.path.join would cost a sixth of encrypting a small one."""
    out: list[tuple[str, str]] = []
    for p in paths:
        if p == "-":
            out.append((p, p))
            continue
        path = Path(p)
        if path.is_dir():
            if not recursive:
                raise UsageError(f"{path} is a directory; add --recursive to process the files in it")
            top = str(path)
            for root, dirs, files in os.walk(top):
                dirs.sort()
                prefix = _join(root, "")
                for name in sorted(files):
                    if not name.endswith(TMP_SUFFIX):
                        out.append((prefix + name, top))
        elif path.exists():
            out.append((str(path), str(path.parent)))
        else:
            raise UsageError(f"{path}: no such file")
    return out


def output_for(src: str, root: str, out: str | None, many: bool, rename, made: set | None = None) -> str | None:
    """Destination path; None means standard output. `made`: output folders this run already created."""
    if out == "-":
        if many:
            raise UsageError("--out - (standard output) takes a single input")
        return None
    if src == "-" and out is None:
        return None
    if out is None:
        folder, base = os.path.split(src)
        return _join(folder, rename(base))
    if many or out.endswith(os.sep) or os.path.isdir(out):
        if src == root:
            rel = os.path.basename(src)
        elif src.startswith(root + os.sep):
            rel = src[len(root) + 1:]
        else:  # e.g. a file given by name, whose root is "."
            rel = str(Path(src).relative_to(root))
        rel_dir, base = os.path.split(rel)
        folder = _join(out, rel_dir) if rel_dir else out
        if made is None or folder not in made:
            os.makedirs(folder, exist_ok=True)
            if made is not None:
                made.add(folder)
        return _join(folder, rename(base))
    return out


def _join(folder: str, name: str) -> str:
    """os.path.join(folder, name) for a relative name: the per-file path, at half the cost."""
    if not folder:
        return name
    return folder + name if folder.endswith(os.sep) else folder + os.sep + name


def _open_input(session, src: str, *, buffered: bool = False):
    """(stream, os.stat_result of a regular file, or None for standard input, a FIFO, a device).

    Raw for encryption (whole frames per read). Decryption reads the header field by field: a file up to
    SMALL_MESSAGE is read whole into memory (two reads, then every field comes from memory: in a tree of
    small files this is a sixth of the time per file), a larger one through a read buffer."""
    if src == "-":
        widen_pipe(session.stdin)
        return session.stdin, None
    try:
        f = open(src, "rb", buffering=0)
    except OSError as exc:
        raise UsageError(f"{src}: cannot read ({exc.strerror})") from None
    st = os.fstat(f.fileno())
    if not stat.S_ISREG(st.st_mode):  # its stat size (0) says nothing about how much will arrive: a stream
        return (io.BufferedReader(f) if buffered else f), None
    if buffered and st.st_size <= SMALL_MESSAGE:
        data = _read_whole(f, st.st_size)
        if data is not None:
            f.close()
            return io.BytesIO(data), st
        f.seek(0)
    if st.st_size > FADVISE_MIN and hasattr(os, "posix_fadvise"):
        try:  # one pass front to back: a cold file on disk gets a larger read-ahead
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except OSError:
            pass
    return (io.BufferedReader(f) if buffered else f), st


def _read_whole(f, size: int) -> bytes | None:
    """The file as its stat described it: `size` bytes, in one read when it still has that size (a regular
    file returns less only at its end); to its end if it shrank; None if it holds more (it grew since the
    stat: read it as a stream instead, so what follows the message is still seen)."""
    data = f.read(size + 1) or b""
    if len(data) == size:
        return data
    parts, got = [data], len(data)
    while 0 < got <= size:
        chunk = f.read(size + 1 - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts) if got <= size else None


def regular_size(f) -> int | None:
    """The size of a regular file; None for a FIFO, `<(cmd)`, a terminal or a device, whose stat size (0)
    says nothing about how much will arrive: those are read as streams, to their end."""
    st = os.fstat(f.fileno())
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _with_path(exc: Exception, src: str, to_stdout: bool = False) -> BaseException:
    if isinstance(exc, BrokenPipeError) and to_stdout:
        return exc  # the reader went away (`| head -c5`): stop quietly, as a CLI does (kmstui/cli.py)
    if isinstance(exc, OSError):  # disk full, permissions, a file where a folder was expected ...
        where = f" ({exc.filename})" if exc.filename else ""
        # Files are written through AtomicFile (all or nothing); standard output cannot be taken back.
        left = "standard output may have received part of the output" if to_stdout \
            else "nothing was left half-written"
        return KmstuiError(f"{src}: {exc.strerror or exc}{where}; {left}")
    if str(exc).startswith(f"{src}:"):
        return exc
    new = type(exc)(f"{src}: {exc}")
    if hasattr(exc, "reason"):
        new.reason = exc.reason  # type: ignore[attr-defined]
    return new


def _summary(verb: str, rows: list[dict], nbytes: int, counter: Counter, extra: dict | None = None) -> Result:
    calls = counter.calls
    summary = {"Files": len(rows), "Bytes": nbytes, "BackendCalls": calls, **(extra or {})}
    message = (f"{verb} {len(rows)} file{'s' if len(rows) != 1 else ''}, {human_size(nbytes)}, "
               f"{calls} backend call{'s' if calls != 1 else ''}")
    if extra and "CacheHits" in extra:
        message += f" (data-key cache: {extra['CacheHits']} hits)"
    if any(r["Output"] == "-" for r in rows):  # standard output carries the bytes; the summary goes to stderr
        return Result(data=None, message=message)
    return Result(data={"Files": rows, "Summary": summary},
                  table=TableHint("Files", [("Input", "Input"), ("Output", "Output"), ("Bytes", "Bytes")]),
                  message=message)


# -- encrypt ---------------------------------------------------------------------------------------------
def cmd_encrypt(session, args) -> Result:
    counter = Counter()
    keyrings = key_keyrings(session, args.key_id, counter) + raw_keyrings(args.raw_key)
    if not keyrings:
        raise UsageError("name a wrapping key: --key-id KEY (repeatable) and/or --raw-key FILE")
    suite = parse_suite(args.suite) if args.suite else DEFAULT_SUITE
    frame = args.frame_size or DEFAULT_FRAME
    if not 1 <= frame <= MAX_ENCRYPT_FRAME:
        raise UsageError(f"--frame-size must be between 1 and {MAX_ENCRYPT_FRAME} bytes (64 MiB): encryption holds a "
                         "few frames in memory (docs/inputs.md); any frame length decrypts")
    context = _context(args.context)
    cache = None
    if args.cache_max_age is not None or args.cache_max_messages is not None or args.cache_max_bytes is not None:
        from kmstui_envelope.cache import CachePolicy, DataKeyCache  # loaded only when caching is on

        try:
            cache = DataKeyCache(CachePolicy(max_age=args.cache_max_age or 300.0,
                                             max_messages=args.cache_max_messages or 4096,
                                             max_bytes=args.cache_max_bytes or 2**62))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    inputs = expand(args.paths, args.recursive)
    many = len(inputs) > 1 or args.recursive
    skipped: list[str] = []
    rows, total, made, to_stdout = [], 0, set(), False
    try:
        for src, root in inputs:
            f, st = _open_input(session, src)
            try:
                if not args.include_encrypted and _is_message(f, st):
                    skipped.append(src)
                    continue
                dest = output_for(src, root, args.out, many, lambda n: n + SUFFIX, made)
                to_stdout = dest is None
                rows.append(_encrypt_one(session, src, dest, f, st, keyrings, suite, context, frame, cache,
                                         args.force))
            finally:
                if f is not session.stdin:
                    f.close()
            total += rows[-1]["Bytes"]
    except (KmstuiError, OSError) as exc:
        raise _with_path(exc, src, to_stdout) from None
    finally:
        if cache is not None:
            cache.clear()
    extra = {"CacheHits": cache.hits} if cache is not None else {}
    if skipped:
        extra["Skipped"] = len(skipped)
    result = _summary("encrypted", rows, total, counter, extra or None)
    if skipped:
        note = (f"skipped {len(skipped)} file{'s' if len(skipped) != 1 else ''} already encrypted (kmstui/ESDK "
                f"messages, e.g. {skipped[0]}); --include-encrypted encrypts them again")
        result.message = f"{result.message}; {note}" if result.message else note
        if isinstance(result.data, dict):
            result.data["Skipped"] = skipped
    return result


def _is_message(f, st: os.stat_result | None) -> bool:
    """Whether a regular input file already is an envelope (AWS Encryption SDK) message: told by its
    header (version byte and a known algorithm suite), not by the .enc suffix, so encrypting a folder
    twice, or a folder that holds earlier output, never encrypts ciphertext again by accident. Read with
    pread on the open input (one open per file, offset untouched); standard input and FIFOs are never
    sniffed, as peeking would consume what the encryption must read."""
    if st is None or st.st_size < 3:
        return False
    from kmstui.sniff import is_esdk_message  # here: standard input (a pipe) never needs it

    try:
        head = os.pread(f.fileno(), 4, 0)
    except OSError:
        return False  # unreadable: let the encryption report it with the path
    return is_esdk_message(head)


def _encrypt_one(session, src, dest, f, st, keyrings, suite, context, frame, cache, force) -> dict:
    size = None if st is None else st.st_size
    if dest is None:
        widen_pipe(session.stdout)
        n, written = _encrypt_to(partial(write_all, session.stdout), f, size, keyrings, suite, context, frame, cache,
                                 src)
        flush_all(session.stdout)
    else:
        with AtomicFile(dest, force=force, private=False, source_stat=st) as out:
            n, written = _encrypt_to(out.write, f, size, keyrings, suite, context, frame, cache, src)
            out.commit()
    if cache is not None and size is None:
        cache.charge(cache_key(suite, keyrings, context), n)
    return {"Input": src, "Output": dest or "-", "Bytes": n, "CiphertextBytes": written, "Suite": suite.hex}


def _encrypt_to(write, f, size, keyrings, suite, context, frame, cache, src) -> tuple[int, int]:
    mats = encryption_materials(keyrings, suite, context, cache=cache, plaintext_len=size)
    progress = Progress(size, f"encrypt {os.path.basename(src)}")
    try:
        return encrypt_stream(f, write, mats, frame, progress, size)
    finally:
        progress.finish()
        mats.release()


# -- decrypt ---------------------------------------------------------------------------------------------
def _decrypted_name(name: str) -> str:
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) and len(name) > len(SUFFIX) else name + ".decrypted"


def cmd_decrypt(session, args) -> Result:
    counter = Counter()
    keyrings = decrypt_keyrings(session, args, counter)
    opts = decrypt_options(args)
    opts.unwrap_cache = UnwrapCache()
    inputs = expand(args.paths, args.recursive)
    many = len(inputs) > 1 or args.recursive
    rows, total, made, to_stdout = [], 0, set(), False
    try:
        for src, root in inputs:
            dest = output_for(src, root, args.out, many, _decrypted_name, made)
            to_stdout = dest is None
            rows.append(_decrypt_one(session, src, dest, keyrings, opts, args))
            total += rows[-1]["Bytes"]
    except (KmstuiError, OSError) as exc:
        raise _with_path(exc, src, to_stdout) from None
    finally:
        opts.unwrap_cache.clear()
    return _summary("decrypted", rows, total, counter)


def _decrypt_one(session, src, dest, keyrings, opts, args) -> dict:
    f, st = _open_input(session, src, buffered=True)
    size = None if st is None else st.st_size
    progress = Progress(size, f"decrypt {os.path.basename(src)}")
    try:
        if dest is None:
            result = _decrypt_to_stdout(session, f, keyrings, opts, args.buffer_signed, progress)
        else:
            with AtomicFile(dest, force=args.force, private=True, source_stat=st) as out:
                sink = Sink(OutputPipe(out.write), out.spill, private=True)
                result = decrypt_stream(f, keyrings, sink, opts, progress, size)
                out.commit()
    finally:
        progress.finish()
        if f is not session.stdin:
            f.close()
    return {"Input": src, "Output": dest or "-", "Bytes": result.plaintext_len,
            "Suite": result.header.suite.hex, "DecryptedWith": result.key_label,
            "EncryptionContext": result.header.context}


def _decrypt_to_stdout(session, f, keyrings, opts, buffer_signed: bool, progress):
    """Unsigned: release each frame once its tag verified. Signed: refused, unless --buffer-signed; then the
    codec holds the whole plaintext in a private temporary file until the signature verified."""
    out = session.stdout
    widen_pipe(out)
    sink = Sink(OutputPipe(partial(write_all, out)), _private_temp_file)
    result = decrypt_stream(f, keyrings, sink, opts.replace(refuse_signed=not buffer_signed), progress)
    flush_all(out)
    return result


def _private_temp_file():
    """An anonymous temporary file, for plaintext not yet verified (signed messages, very large frames).
    tempfile is imported here, when one is needed: it loads shutil, random, bz2 and lzma (2-3 ms)."""
    import tempfile

    return tempfile.TemporaryFile()


# -- rewrap, verify, inspect -----------------------------------------------------------------------------
def cmd_rewrap(session, args) -> Result:
    from kmstui_envelope.rewrap import rewrap_file

    counter = Counter()
    if not args.add_key_id and not args.remove_key_id and not args.add_raw_key:
        raise UsageError("say what to change: --add-key-id KEY, --add-raw-key FILE and/or --remove-key-id KEY")
    unwrap = decrypt_keyrings(session, args, counter)
    add = key_keyrings(session, args.add_key_id, counter) + raw_keyrings(args.add_raw_key)
    remove = [_remover(session, ref, counter) for ref in args.remove_key_id or []]
    opts = decrypt_options(args)
    rows = []
    inputs = expand(args.paths, args.recursive)
    many = len(inputs) > 1 or args.recursive
    try:
        for src, root in inputs:
            if src == "-":
                raise UsageError("rewrap works on files (it rewrites them), not standard input")
            dest = output_for(src, root, args.out, many, lambda n: n) if args.out else src
            rows.append(rewrap_file(src, dest, unwrap, add, remove, opts, force=args.force))
    except (KmstuiError, OSError) as exc:
        raise _with_path(exc, src) from None
    calls = counter.calls
    return Result(data={"Files": rows, "Summary": {"Files": len(rows), "BackendCalls": calls}},
                  table=TableHint("Files", [("File", "Output"), ("Removed", "Removed"), ("Added", "Added"),
                                            ("Keys now", "EncryptedDataKeys")]),
                  message=f"rewrapped {len(rows)} file{'s' if len(rows) != 1 else ''} (headers only), "
                          f"{calls} backend call{'s' if calls != 1 else ''}")


def _remover(session, ref: str, counter: Counter):
    """Match EDKs to remove: a raw key name (or NAMESPACE/NAME), a key ARN, or a backend key reference."""
    from kmstui_envelope.inspect import describe_edk

    def by_name(edk: EncryptedDataKey) -> bool:
        d = describe_edk(edk)
        names = {d.get("KeyArn"), d.get("KeyName"), f"{edk.provider_id}/{d.get('KeyName')}"}
        return ref in names

    if ref.startswith("arn:") or "/" in ref and not ref.startswith("alias/"):
        return by_name
    profile, key = session.split_key_ref(ref)
    keyring = BackendKeyring(LazyBackend(session, profile), key, counter, ref=ref)

    def by_key(edk: EncryptedDataKey) -> bool:
        if by_name(edk):
            return True
        return keyring.matches(edk)

    return by_key


def cmd_verify(session, args) -> Result:
    from kmstui_envelope.stream import verify_header

    counter = Counter()
    keyrings = decrypt_keyrings(session, args, counter)
    opts = decrypt_options(args)
    f, _st = _open_input(session, args.path)
    try:
        header, index, label = verify_header(f, keyrings, opts)
    except KmstuiError as exc:
        raise _with_path(exc, args.path) from None
    finally:
        if f is not session.stdin:
            f.close()
    data = {"Path": args.path, "Verified": True, "AlgorithmSuite": header.suite.hex,
            "Commitment": "matches" if header.suite.committing else "not a committing suite",
            "HeaderAuthenticated": True, "EncryptionContext": header.context,
            "UnwrappedWith": {"EncryptedDataKey": index + 1, "Key": label}, "BackendCalls": counter.calls,
            "Note": "header verified (data key unwrapped, commitment and header tag checked); the body is "
                    "checked frame by frame by 'envelope decrypt'"}
    text = (f"{args.path}: header VERIFIED ({header.suite.hex}; commitment "
            f"{data['Commitment']}; EDK {index + 1} opened by {label}; {counter.calls} backend calls)")
    return Result(data=data, text=text)


def cmd_inspect(session, args) -> Result:
    from kmstui_envelope.inspect import UNRECOGNISED, inspect_file, inspect_problem, render_inspect

    if args.verify:
        verify = session.registry.get(("envelope", "verify"))
        ns = argparse.Namespace(**{**vars(args), "path": args.path})
        return session.run_command(verify, ns)
    if args.path == "-":
        f = session.stdin if hasattr(session.stdin, "peek") else io.BufferedReader(session.stdin)
        size = None
    else:
        try:
            f = open(args.path, "rb")
        except OSError as exc:
            raise UsageError(f"{args.path}: cannot read ({exc.strerror})") from None
        size = regular_size(f)  # a FIFO or <(cat file) is a stream: walked to its end, never "truncated" at 0
    try:
        data = {"Path": args.path, **inspect_file(f, size, max_edks=decrypt_options(args).max_edks)}
    except MessageError as exc:
        data = {"Path": args.path, "Format": "AWS Encryption SDK message (damaged header)",
                "Error": str(exc), "Authenticated": False}
    finally:
        if args.path != "-":
            f.close()
    ok = data.get("Format") != UNRECOGNISED and "Error" not in data and data.get("Complete", True)
    message = None if ok else inspect_problem(data)
    return Result(data=data, text=render_inspect(data), exit_code=0 if ok else 1, message=message)
