"""The per-user unseal agent, in the manner of ssh-agent.

`hsm unseal` derives the root key once and hands it to a small detached process that keeps it in memory
for a TTL; later kmstui commands ask it over a Unix socket and pay no KDF. The socket lives in the user's
runtime dir (folder 0700, socket 0600) and the agent answers only peers with its own uid (SO_PEERCRED).
It holds keys for several HSM files (by file id), forgets each at its expiry, and exits when it holds
none. `hsm seal` asks it to forget a file; the agent never writes a key anywhere.

Both sides distrust the folder: a runtime folder owned by another user is refused (in the /tmp fallback
anyone could have made it first and would then own the socket), and a client only talks to a socket whose
peer runs as its own uid, so the root key is never handed to someone else's listener. The agent is started
without the passphrase variables in its environment (readable in /proc/PID/environ for its whole life), and
its TTL counts time asleep (CLOCK_BOOTTIME), so a laptop suspended overnight comes back sealed.

The key never reaches a core dump: the agent makes itself non-dumpable (prctl PR_SET_DUMPABLE 0, which also
keeps other processes of the user from attaching a debugger or reading /proc/PID/mem) and sets RLIMIT_CORE
to 0, and it locks the pages holding each key (mlock) where the memory-lock limit allows, so they are not
written to swap. Every message is validated (a JSON object with a known op, a printable id, a 32-byte key,
an integer TTL of at most MAX_TTL seconds): a bad one gets {"ok": false, "error": ...}, never a crash.

Protocol: one JSON object per line each way. Requests: put {id, key, ttl}, get {id}, forget {id}, status, stop.

Every command on the local HSM asks the agent first, so the client side (`exchange`) talks through `_socket`,
the C module that `socket` wraps: importing `socket` (enum tables for its constants, selectors) would cost
each command ~2 ms of start-up for a connect, a send and a receive. The agent process uses `socket`.
"""

from __future__ import annotations

import _socket
import base64
import contextlib
import fcntl
import json
import os
import re
import struct
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kmstui.errors import ConfigError, UsageError

if TYPE_CHECKING:
    import socket

SOCKET_NAME = "agent.sock"
LOCK_NAME = "agent.lock"
DEFAULT_TTL = 15 * 60
MAX_TTL = 7 * 86400  # the longest an agent holds a key: a week (hsm unseal again to keep it longer)
MAX_REQUEST = 65536
MAX_ID = 128
KEY_BYTES = 32
_OPS = ("put", "get", "forget", "status", "stop")
# Variables that hold secrets: never passed on to the long-lived agent process.
SECRET_ENV = ("KMSTUI_PASSPHRASE", "KMSTUI_NEW_PASSPHRASE")
# What a long-lived process started by `hsm unseal` (the agent, the warm launcher) keeps of its environment:
# only what decides how the interpreter starts and what it imports (module path, flags, locale, OpenSSL).
_KEPT_PREFIXES = ("PYTHON", "LC_", "XDG_", "OPENSSL_", "CRYPTOGRAPHY_")
_KEPT = {"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME", "KMSTUI_HOME"}


def daemon_environment(environ) -> dict[str, str]:
    """The environment of a process that lives as long as the unseal (up to a week), readable in
    /proc/PID/environ all that time: an allow-list, so that no secret `hsm unseal` happened to run with stays
    there (the passphrase, KMSTUI_PKCS11_PIN, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, ...)."""
    return {k: v for k, v in environ.items() if (k in _KEPT or k.startswith(_KEPT_PREFIXES)) and k not in SECRET_ENV}
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes on Linux, including the NUL
_TTL = r"^\s*(\d{1,12})\s*([smhd]?)\s*$"  # compiled by `re` when first used (`hsm unseal`)


def parse_ttl(text: str | int | None) -> int:
    """"15m", "90s", "2h", "1d" or plain seconds -> seconds (1 s to MAX_TTL, a week)."""
    if text is None:
        return DEFAULT_TTL
    m = re.match(_TTL, str(text))
    if not m or int(m.group(1)) <= 0:
        raise UsageError(f"bad --ttl {str(text)[:40]!r}: give a positive duration of at most {MAX_TTL // 86400}d, "
                         "such as 90s, 15m, 2h or 1d")
    seconds = int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    if seconds > MAX_TTL:
        raise UsageError(f"--ttl {str(text).strip()} is longer than the agent keeps a key ({MAX_TTL // 86400}d at "
                         "most); run 'kmstui hsm unseal' again when it runs out")
    return seconds


def socket_path(runtime_dir: Path) -> Path:
    return runtime_dir / SOCKET_NAME


def _clock() -> float:
    """Seconds on a clock that keeps running while the machine sleeps (TTLs must not pause in suspend)."""
    if hasattr(time, "CLOCK_BOOTTIME"):
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    return time.monotonic()


def check_runtime_dir(runtime_dir: Path, *, create: bool) -> None:
    """Make sure the agent's folder is ours and private (0700); ConfigError when it belongs to someone else."""
    if create:
        try:
            runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ConfigError(f"cannot create the agent folder {runtime_dir} ({exc.strerror}); "
                              "use KMSTUI_PASSPHRASE instead") from None
    try:
        st = os.lstat(runtime_dir)
    except FileNotFoundError:
        return
    import stat as statmod

    if not statmod.S_ISDIR(st.st_mode):
        raise ConfigError(f"the agent folder {runtime_dir} is not a folder (a symlink or file?); remove it")
    if st.st_uid != os.getuid():
        raise ConfigError(f"the agent folder {runtime_dir} belongs to uid {st.st_uid}, not to you; refusing to "
                          "put the HSM's key there (remove it, or set XDG_RUNTIME_DIR to a private folder)")
    if st.st_mode & 0o077:
        os.chmod(runtime_dir, 0o700)


def peer_creds(sock: _socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket (SO_PEERCRED; the pid is 0 when it is in
    a pid namespace we cannot see)."""
    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)


def _peer_uid(sock: _socket.socket) -> int:
    return peer_creds(sock)[1]


def listen_private(path: Path, backlog: int) -> socket.socket:
    """A Unix socket listening at `path`, 0600 from the moment it exists (bound under umask 0177), replacing
    whatever a killed process left there. The agent and the warm launcher (kmstui/warm.py) listen this way."""
    import socket

    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        srv.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    srv.listen(backlog)
    return srv


# -- client ---------------------------------------------------------------------------------------------
def exchange(sock: Path, payload: bytes, timeout: float = 3.0) -> bytes:
    """The wire framing, one line each way: send `payload` (a request line) to the agent at `sock` and return
    its reply up to and including the newline (less if the agent closes first). OSError when nothing listens
    or the listener belongs to another user (it is never sent anything)."""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)  # see the module docstring: not `socket`
    with contextlib.closing(s):
        s.settimeout(timeout)
        s.connect(str(sock))
        if _peer_uid(s) != os.getuid():
            raise PermissionError(f"the agent socket {sock} is another user's")
        s.sendall(payload)
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def request(sock: Path, req: dict[str, Any], timeout: float = 3.0) -> dict[str, Any] | None:
    """Send one request; None when no agent (of this user) is listening."""
    if not sock.exists():
        return None
    try:
        data = exchange(sock, json.dumps(req).encode() + b"\n", timeout)
    except OSError:
        return None
    try:
        reply = json.loads(data) if data else None
    except ValueError:
        return None
    return reply if isinstance(reply, dict) else None


def get_key(runtime_dir: Path, file_id: str) -> bytes | None:
    reply = request(socket_path(runtime_dir), {"op": "get", "id": file_id})
    if reply and reply.get("ok") and isinstance(reply.get("key"), str):
        try:
            return base64.b64decode(reply["key"], validate=True)
        except ValueError:
            return None
    return None


def status(runtime_dir: Path) -> dict[str, Any] | None:
    return request(socket_path(runtime_dir), {"op": "status"})


def forget(runtime_dir: Path, file_id: str) -> bool:
    reply = request(socket_path(runtime_dir), {"op": "forget", "id": file_id})
    return bool(reply and reply.get("had"))


def stop(runtime_dir: Path) -> bool:
    """Make the agent forget every file's key and exit; False when no agent was running."""
    reply = request(socket_path(runtime_dir), {"op": "stop"})
    return bool(reply and reply.get("ok"))


def put_key(runtime_dir: Path, file_id: str, root: bytes, ttl: int) -> dict[str, Any]:
    """Give the agent a root key for `ttl` seconds, starting the agent if none is running."""
    check_runtime_dir(runtime_dir, create=True)
    sock = socket_path(runtime_dir)
    if len(os.fsencode(str(sock))) > MAX_SOCKET_PATH:
        raise ConfigError(f"the agent socket path {sock} is too long for a Unix socket; point XDG_RUNTIME_DIR "
                          "(or KMSTUI_HOME) at a shorter folder, or use KMSTUI_PASSPHRASE")
    req = {"op": "put", "id": file_id, "key": base64.b64encode(root).decode(), "ttl": ttl}
    reply = request(sock, req)
    deadline = time.monotonic() + 10
    while reply is None and time.monotonic() < deadline:
        _spawn(runtime_dir)  # a second agent exits at once if one holds the lock (e.g. one now exiting)
        retry = time.monotonic() + 1
        while reply is None and time.monotonic() < retry:
            time.sleep(0.02)
            reply = request(sock, req)
    if not reply or not reply.get("ok"):
        raise ConfigError(f"could not start the unseal agent (socket {sock}); use KMSTUI_PASSPHRASE instead")
    return reply


def _spawn(runtime_dir: Path) -> None:
    import subprocess  # only `hsm unseal` starts an agent: the other commands' start-up skips it

    env = daemon_environment(os.environ)
    subprocess.Popen([sys.executable, "-m", "kmstui.backends.local.agent", os.path.abspath(runtime_dir)],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True, env=env, cwd="/")


# -- server ---------------------------------------------------------------------------------------------
class BadRequest(ValueError):
    """A message the agent does not accept; answered with {"ok": false, "error": ...}."""


def _check(req: Any) -> dict[str, Any]:
    """The request, validated: a JSON object with a known op and, where the op takes them, a printable id of
    at most MAX_ID characters, a base64 key of exactly KEY_BYTES bytes and an integer TTL in 1..MAX_TTL."""
    if not isinstance(req, dict):
        raise BadRequest("a request is a JSON object")
    op = req.get("op")
    if op not in _OPS:
        raise BadRequest(f"unknown op (one of {', '.join(_OPS)})")
    out: dict[str, Any] = {"op": op}
    if op in ("put", "get", "forget"):
        fid = req.get("id")
        if not isinstance(fid, str) or not 0 < len(fid) <= MAX_ID or not fid.isprintable():
            raise BadRequest(f"id must be printable text of 1-{MAX_ID} characters")
        out["id"] = fid
    if op == "put":
        key = req.get("key")
        try:
            raw = base64.b64decode(key, validate=True) if isinstance(key, str) and len(key) < 100 else b""
        except ValueError:
            raw = b""
        if len(raw) != KEY_BYTES:
            raise BadRequest(f"key must be {KEY_BYTES} bytes, base64")
        ttl = req.get("ttl", DEFAULT_TTL)
        if type(ttl) is not int or not 1 <= ttl <= MAX_TTL:
            raise BadRequest(f"ttl must be a whole number of seconds from 1 to {MAX_TTL}")
        out.update(key=raw, ttl=ttl)
    return out


def harden_process() -> None:
    """No core dump and no debugger for this process (it holds root keys), wherever the OS allows."""
    import resource

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    libc = _libc()
    if libc is not None:
        with contextlib.suppress(Exception):
            libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


PR_SET_DUMPABLE = 4


def _libc():
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def _lock_memory(buf: bytearray) -> bool:
    """Keep a key's pages out of swap (mlock); False where the memory-lock limit does not allow it."""
    import ctypes

    libc = _libc()
    if libc is None or not buf:
        return False
    addr = ctypes.addressof((ctypes.c_char * len(buf)).from_buffer(buf))
    return libc.mlock(ctypes.c_void_p(addr), ctypes.c_size_t(len(buf))) == 0


class Agent:
    def __init__(self, runtime_dir: Path) -> None:
        self.dir = runtime_dir
        self.keys: dict[str, tuple[bytearray, float]] = {}
        self.had_keys = False
        self.stopping = False
        self.locked = True  # every key held so far sits in locked memory

    def expire(self) -> None:
        now = _clock()
        for fid, (key, expires) in list(self.keys.items()):
            if expires <= now:
                self._drop(fid)

    def _drop(self, fid: str) -> bool:
        entry = self.keys.pop(fid, None)
        if entry is None:
            return False
        entry[0][:] = bytes(len(entry[0]))  # overwrite what we can
        return True

    def handle(self, req: Any) -> dict[str, Any]:
        self.expire()
        try:
            req = _check(req)
        except BadRequest as exc:
            return {"ok": False, "error": f"bad request: {exc}"}
        op = req["op"]
        now = _clock()
        if op == "put":
            self._drop(req["id"])
            key = bytearray(KEY_BYTES)
            self.locked = _lock_memory(key) and self.locked
            key[:] = req["key"]
            self.keys[req["id"]] = (key, now + req["ttl"])
            self.had_keys = True
            return {"ok": True, "expires_in": req["ttl"], "pid": os.getpid(), "locked": self.locked}
        if op == "get":
            entry = self.keys.get(req["id"])
            if entry is None:
                return {"ok": False}
            return {"ok": True, "key": base64.b64encode(bytes(entry[0])).decode(), "expires_in": entry[1] - now}
        if op == "forget":
            had = self._drop(req["id"])
            return {"ok": True, "had": had}
        if op == "status":
            return {"ok": True, "pid": os.getpid(), "locked": self.locked,
                    "entries": {k: round(v[1] - now, 1) for k, v in self.keys.items()}}
        for fid in list(self.keys):  # stop
            self._drop(fid)
        self.stopping = True
        return {"ok": True}

    def serve(self) -> None:
        try:
            check_runtime_dir(self.dir, create=True)
        except ConfigError:
            return  # not our folder: never listen there
        lock = os.open(self.dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # another agent is running
        import selectors

        path = socket_path(self.dir)
        srv = listen_private(path, 16)
        sel = selectors.DefaultSelector()
        sel.register(srv, selectors.EVENT_READ)
        deadline_idle = _clock() + 30  # exit if nobody gives us a key
        try:
            while not self.stopping:
                self.expire()
                if self.had_keys and not self.keys:
                    break
                if not self.had_keys and _clock() > deadline_idle:
                    break
                wake = min((e for _k, e in self.keys.values()), default=_clock() + 1)
                if sel.select(timeout=max(0.01, min(1.0, wake - _clock()))):
                    self._serve_one(srv)
        finally:
            with contextlib.suppress(OSError):
                if path.exists():
                    path.unlink()
            srv.close()
            for fid in list(self.keys):
                self._drop(fid)

    def _serve_one(self, srv: socket.socket) -> None:
        """Answer one connection. Nothing a peer sends can end the agent: every failure is answered or
        dropped with the connection."""
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        with conn:
            try:
                conn.settimeout(2)
                if _peer_uid(conn) != os.getuid():
                    return
                data = b""
                while not data.endswith(b"\n") and len(data) <= MAX_REQUEST:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if len(data) > MAX_REQUEST:
                    reply = {"ok": False, "error": f"bad request: longer than {MAX_REQUEST} bytes"}
                else:
                    try:
                        req = json.loads(data, parse_constant=_no_constant)
                    except (ValueError, RecursionError):
                        req = None
                    reply = self.handle(req) if req is not None else {"ok": False, "error": "bad request: not JSON"}
                conn.sendall(json.dumps(reply).encode() + b"\n")
            except Exception:  # noqa: BLE001 - a misbehaving peer (timeout, reset) costs only its connection
                return


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


if __name__ == "__main__":
    harden_process()  # first, before any key can arrive
    Agent(Path(sys.argv[1])).serve()
