"""The warm launcher: a process that has already loaded kmstui, and forks a worker for each one-shot command
a client (kmstui/launch.py) hands it. It removes the ~50 ms start-up of a command, not its work: the
worker runs the very same kmstui.cli.main() on the client's own descriptors, environment, working folder,
umask and arguments, and answers with the exit code.

It lives beside the unseal agent and as long: `hsm unseal` starts it (ensure_running), it exits within a
second of the agent, and when a module it loaded changed on disk (an upgrade). It holds no key: a worker
asks the agent for the root key as any command does. It answers only peers running as its own uid
(SO_PEERCRED); the socket sits in the agent's private folder (0700), 0600.

The launcher never reads a request: it accepts, checks the peer, forks, and the worker (a child) reads
the request (argv and environment may hold secrets such as KMSTUI_PASSPHRASE), so nothing of one command
stays in the long-lived process. A worker first checks that it would run the command exactly as the client
would (same protocol, Python, launcher module, module path, interpreter flags and file-system encoding,
and no loaded module changed on disk) and declines otherwise; the client then runs the command itself. The
launcher forks a worker only for a client whose process runs where it runs and as it does (client_allowed).
Once it accepts, the client lets go of its standard input and output and waits; a worker whose client
disappears (killed) kills itself, so an interrupted command leaves what an interrupted command leaves.

Protocol (one connection per command): worker -> b"R" (ready); client -> 4-byte length with SCM_RIGHTS
[stdin, stdout, stderr, cwd], then the request (launch.payload); worker -> b"A" + pid (accepted) or b"D" + 0
(declined); client -> b"G" (go: it waits for the exit code from now on); worker, at the end -> b"X" + exit code.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import struct
import sys
from pathlib import Path

from kmstui.backends.local.agent import listen_private, peer_creds
from kmstui.launch import MAX_PAYLOAD, PROTOCOL, SOCKET_NAME

LOCK_NAME = "warm.lock"
IDLE_CHECK = 1.0  # seconds between checks that the agent is still running and the code unchanged
# Modules a command needs before its own handler (see preload); the handlers come from the command registry.
CORE_MODULES = (
    "kmstui.cli", "kmstui.commands.registry", "kmstui.commands.args", "kmstui.commands.render",
    "kmstui.commands.values", "kmstui.commands.awsnames", "kmstui.config", "kmstui.runner", "kmstui.session", "kmstui.plugins",
    "kmstui.audit", "kmstui.backends.local.backend", "kmstui.backends.local.agent", "kmstui.backends.local.unseal",
    "json", "hmac", "queue", "threading", "mmap", "sqlite3", "datetime", "ipaddress",
    "cryptography.hazmat.primitives.ciphers.aead", "cryptography.hazmat.primitives.hashes",
    "cryptography.hazmat.primitives.hmac", "cryptography.hazmat.primitives.kdf.hkdf",
)


def socket_path(runtime_dir: Path) -> Path:
    return runtime_dir / SOCKET_NAME


def ensure_running(runtime_dir: Path) -> bool:
    """Start a launcher for `runtime_dir` unless one answers there (or KMSTUI_WARM=0, or the clients could
    not find it: see launch.runtime_dir). Returns at once; the launcher is ready ~0.2 s later."""
    from kmstui import launch

    found = launch.runtime_dir()
    if os.environ.get("KMSTUI_WARM") == "0" or found is None or os.path.abspath(found) != os.path.abspath(runtime_dir):
        return False
    if answers(socket_path(runtime_dir)):
        return True
    import subprocess

    from kmstui.backends.local.agent import daemon_environment

    env = daemon_environment(os.environ)
    subprocess.Popen([sys.executable, "-m", "kmstui.warm", os.path.abspath(runtime_dir)], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
                     env=env, cwd="/")
    return True


# Variables read when a library loads, not when a command runs: OpenSSL's configuration and providers (FIPS,
# legacy algorithms), cryptography's legacy switch, the hash seed (set and dict order).
IMPORT_TIME_ENV = (b"OPENSSL_CONF", b"OPENSSL_MODULES", b"OPENSSL_ia32cap", b"CRYPTOGRAPHY_OPENSSL_NO_LEGACY",
                   b"PYTHONHASHSEED", b"PYTHONFAULTHANDLER", b"PYTHONTRACEMALLOC")


def answers(path: Path) -> bool:
    """A launcher listens at `path` (run by this user)."""
    import _socket

    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.settimeout(1.0)
        s.connect(str(path))
        return peer_creds(s)[1] == os.getuid()
    except OSError:
        return False
    finally:
        s.close()


# -- launcher --------------------------------------------------------------------------------------------
def preload() -> None:
    """Import what commands use: the core, the local backend, and every registered command's handler module
    (each plugin's, found as a Session finds them). Imports only: nothing is configured, opened or cached."""
    import importlib

    for name in CORE_MODULES:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    from kmstui.commands.registry import CommandRegistry, LazyHandler
    from kmstui.plugins import make_manager

    pm, _plugins = make_manager()
    registry = CommandRegistry()
    for impl in pm.hook.register_commands.get_hookimpls():
        with contextlib.suppress(Exception):
            impl.function(registry=registry)
    for command in registry:
        handler = command.handler
        if isinstance(handler, LazyHandler):
            with contextlib.suppress(Exception):
                importlib.import_module(handler.target.partition(":")[0])


def _signature(st: os.stat_result) -> tuple[int, ...]:
    """What changes when a file's content does. Not only mtime and size: `cp -p`, `rsync -a`, `tar x`, package
    managers and `touch -r` put back an old mtime, and an edit may keep the size; the ctime (which no one can
    set back) and the inode (a file replaced by a rename) change whatever was done."""
    return (st.st_mtime_ns, st.st_size, st.st_ctime_ns, st.st_ino, st.st_dev)


def module_files() -> dict[str, tuple[int, ...]]:
    """The signature of every loaded module's file, and of every other file mapped into the process (the
    interpreter, OpenSSL's libcrypto and libssl, libsqlite3: a security update replaces them, and a command
    run in its own process would load the new ones): a worker declines when one of them changed."""
    out = {}
    paths = [getattr(module, "__file__", None) for module in list(sys.modules.values())]
    with contextlib.suppress(OSError), open("/proc/self/maps", "rb") as f:
        for line in f.read().splitlines():
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[5].startswith(b"/") and fields[4] != b"0":  # a file, not [heap]
                paths.append(os.fsdecode(fields[5]))
    for path in paths:
        if isinstance(path, str) and path not in out:
            with contextlib.suppress(OSError):
                out[path] = _signature(os.stat(path))
    return out


def changed(files: dict[str, tuple[int, ...]]) -> bool:
    for path, sig in files.items():
        try:
            st = os.stat(path)
        except OSError:
            return True
        if _signature(st) != sig:
            return True
    return False


_STATUS_FIELDS = (b"Uid", b"Gid", b"Groups", b"CapInh", b"CapPrm", b"CapEff", b"CapBnd", b"CapAmb", b"NoNewPrivs",
                  b"Seccomp", b"Seccomp_filters")  # a filter stacked on a container's leaves "Seccomp: 2" as it was
_NAMESPACES = ("mnt", "net", "pid", "user", "ipc", "uts", "cgroup", "time")
_STATUS_AT = len(_NAMESPACES) + 1  # where process_context puts the /proc/PID/status lines (after the root)


def process_context(pid: int | str) -> tuple:
    """What a process may do and see beyond its uid: its namespaces and root (a container, `unshare`, bwrap or
    firejail, systemd's ReadOnlyPaths/PrivateTmp/PrivateNetwork), its groups, capabilities, no-new-privileges
    and seccomp state, LSM label, cgroup, resource limits (`ulimit -f`, `-v`, `-n`), nice value and CPU set. A
    worker runs a command with the launcher's, so it takes only commands from a process with the same.
    Raises OSError when any of it cannot be read (the caller then declines)."""
    base = f"/proc/{pid}"
    out: list = []
    for ns in _NAMESPACES:
        try:
            out.append(os.readlink(f"{base}/ns/{ns}"))
        except FileNotFoundError:  # a namespace kind this kernel has not
            out.append(None)
    root = os.stat(f"{base}/root")
    out.append((root.st_dev, root.st_ino))
    with open(f"{base}/status", "rb") as f:
        out.append([line for line in f.read().splitlines() if line.split(b":", 1)[0] in _STATUS_FIELDS])
    for name in ("limits", "cgroup", "attr/current"):
        try:
            with open(f"{base}/{name}", "rb") as f:
                out.append(f.read())
        except OSError as exc:  # no such file, or no LSM (EINVAL): then it must fail the same way for both
            if name == "limits":
                raise
            out.append(exc.errno)
    number = os.getpid() if pid == "self" else int(pid)
    out.append(os.getpriority(os.PRIO_PROCESS, number))
    out.append(sorted(os.sched_getaffinity(number)))
    return tuple(out)


def client_allowed(pid: int) -> bool:
    """Whether a worker may run a command for the process `pid`: it runs where the launcher runs and as it does
    (process_context), and without no-new-privileges. That flag is what an unprivileged Landlock sandbox
    requires, and Landlock shows nowhere in /proc (nor does it stop a connect() to a named socket): a sandboxed
    client must not have its command run outside the sandbox, so any client with the flag runs its own. (A root
    process can apply Landlock without it; docs/local-hsm.md says so.)"""
    try:
        if pid <= 0:
            return False
        mine, theirs = process_context("self"), process_context(pid)
    except OSError:
        return False
    return mine == theirs and [b"NoNewPrivs:", b"1"] not in [line.split() for line in theirs[_STATUS_AT]]


def _agent_running(runtime_dir: Path) -> bool:
    """The agent holds agent.lock (flock) while it runs: if we can take it, it is gone."""
    from kmstui.backends.local.agent import LOCK_NAME as AGENT_LOCK

    try:
        fd = os.open(runtime_dir / AGENT_LOCK, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing releases the lock at once if we took it
    return False


def serve(runtime_dir: Path) -> None:
    import select
    import signal
    import time

    from kmstui.backends.local.agent import check_runtime_dir
    from kmstui.errors import ConfigError

    try:
        check_runtime_dir(runtime_dir, create=False)
    except ConfigError:
        return
    if not runtime_dir.is_dir() or not _agent_running(runtime_dir):
        return
    lock = os.open(runtime_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another launcher runs here
    # `-m` put the working folder ("/") first on the module path; a worker importing a module on demand must
    # look where the `kmstui` script would: its own folder, the interpreter's.
    sys.path[0] = os.path.dirname(sys.executable)
    preload()
    files = module_files()
    path = socket_path(runtime_dir)
    srv = listen_private(path, 64)
    bound = os.stat(path).st_ino
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    gc.collect()
    gc.freeze()  # workers inherit these pages; a collection in a worker would otherwise touch (copy) them all
    try:
        checked = time.monotonic()
        while True:
            ready = select.select([srv], [], [], IDLE_CHECK)[0]
            if time.monotonic() - checked >= IDLE_CHECK:  # busy or idle: a steady stream of commands must not
                checked = time.monotonic()  # keep it running after `hsm seal` or an upgrade
                if not _agent_running(runtime_dir) or changed(files) or not _still_bound(path, bound):
                    return  # (a socket removed or replaced: no client finds us, and our lock would stop a new one)
            if not ready:
                continue
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            try:
                pid, uid, _gid = peer_creds(conn)
                if uid != os.getuid() or not client_allowed(pid):
                    continue  # no worker: the client finds the connection closed and runs its command itself
                launcher = os.getpid()
                pid = os.fork()
                if pid == 0:
                    srv.close()
                    os.close(lock)
                    Worker(conn, files, launcher).run()  # never returns
            except OSError:
                pass
            finally:
                conn.close()
    finally:
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == bound:  # ours, not a newer launcher's
                path.unlink()
        srv.close()


def _still_bound(path: Path, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


# -- worker ----------------------------------------------------------------------------------------------
class Declined(Exception):
    """The worker would not run the command exactly as the client would: the client runs it itself."""


class Worker:
    """One command, in a process forked from the launcher. Ends the process (os._exit) in every case."""

    def __init__(self, conn, files: dict[str, tuple[int, ...]], launcher: int | None = None) -> None:
        self.conn = conn
        self.files = files
        self.launcher = launcher
        self.done = False

    def run(self) -> None:
        import signal

        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # until the client's dispositions are known (_adopt)
        code = 70
        try:
            self.conn.sendall(b"R")  # only now does the client send its descriptors (launch._hand_over)
            fds, data = self._receive()
            try:
                request = self._check(data)
            except Declined:
                self.conn.sendall(b"D" + struct.pack("!I", 0))
                os._exit(0)
            self.conn.sendall(b"A" + struct.pack("!I", os.getpid()))
            if self.conn.recv(1) != b"G":  # the client gave up (and runs the command itself) or went away
                os._exit(0)
            self._adopt(fds, request)
            code = self._main()
            self.done = True
            self.conn.sendall(b"X" + struct.pack("!i", code))
        except BaseException:  # noqa: BLE001 - a worker must end here, whatever happened
            pass
        os._exit(code & 0xFF)

    def _receive(self) -> tuple[list[int], bytes]:
        import socket

        self.conn.settimeout(2.0)  # the client sends at once: an idle connection costs a process for 2 s at most
        head, anc, _flags, _addr = self.conn.recvmsg(4, socket.CMSG_SPACE(4 * struct.calcsize("i")))
        fds: list[int] = []
        for level, kind, blob in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.extend(struct.unpack(f"{len(blob) // 4}i", blob[:len(blob) - len(blob) % 4]))
        if len(fds) != 4 or len(head) != 4:
            raise Declined("a request comes with four descriptors")
        size = struct.unpack("!I", head)[0]
        if size > MAX_PAYLOAD:
            raise Declined("request too long")
        data = b""
        while len(data) < size:
            chunk = self.conn.recv(size - len(data))
            if not chunk:
                raise Declined("the client went away")
            data += chunk
        return fds, data

    def _check(self, data: bytes) -> dict:
        from kmstui import launch

        fields = data.split(b"\0")
        if len(fields) < 11 or fields[0] != PROTOCOL:
            raise Declined("protocol")
        flags = launch.interpreter_settings()
        same = (os.fsdecode(fields[1]) == os.path.realpath(sys.executable)
                and os.fsdecode(fields[2]) == launch.__file__
                and fields[3] == "\x1f".join(sys.path[1:]).encode("utf-8", "surrogateescape")
                and fields[4] == flags)
        if not same:
            raise Declined("another interpreter or installation")
        if changed(self.files):
            # The launcher runs old code: let it end (hsm unseal starts a new one). Only while it is still our
            # parent: a worker whose launcher has ended already has been adopted by init or a subreaper.
            if self.launcher is not None and os.getppid() == self.launcher:
                with contextlib.suppress(OSError):
                    os.kill(self.launcher, 15)
            raise Declined("kmstui changed on disk")
        umask = int(fields[5])
        ignored = {int(n) for n in fields[6].split(b",") if n}
        stdio = [f.decode() for f in fields[7:10]]
        argc = int(fields[10])
        argv = [os.fsdecode(a) for a in fields[11:11 + argc]]
        env = {}
        for item in fields[11 + argc:]:
            key, eq, value = item.partition(b"=")
            if eq:
                env[key] = value
        if len(argv) != argc or not argv:
            raise Declined("truncated request")
        for name in IMPORT_TIME_ENV:  # read once, when the launcher started: the client's must be the same
            if env.get(name) != os.environb.get(name):
                raise Declined(f"{name.decode()} differs from the launcher's")
        return {"umask": umask, "stdio": stdio, "argv": argv, "env": env, "ignored": ignored}

    def _adopt(self, fds: list[int], request: dict) -> None:
        """Become the client: its descriptors, folder, umask, environment, arguments and standard streams."""
        import io
        import signal
        import threading
        import time

        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        os.fchdir(fds[3])
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.umask(request["umask"])
        # The client's dispositions, not the launcher's (which `hsm unseal` inherited: `nohup`, a script's `&`).
        for signum, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL),
                                (signal.SIGHUP, signal.SIG_DFL)):
            signal.signal(signum, signal.SIG_IGN if signum in request["ignored"] else default)
        os.environb.clear()
        os.environb.update(request["env"])
        time.tzset()
        sys.argv = request["argv"]
        streams = []
        for fd, spec in enumerate(request["stdio"]):
            encoding, errors, line, write_through, raw_only = spec.split(";")
            raw = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
            buffered = raw if raw_only == "1" else (io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw))
            streams.append(io.TextIOWrapper(buffered, encoding=encoding, errors=errors, newline="\n",
                                            line_buffering=line == "1", write_through=write_through == "1"))
        sys.stdin, sys.stdout, sys.stderr = streams
        sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams
        self.conn.settimeout(None)
        threading.Thread(target=self._watch, name="kmstui-warm-client", daemon=True).start()

    def _watch(self) -> None:
        """The client never writes again: the connection ending means it is gone (killed), so is the command."""
        with contextlib.suppress(OSError):
            while self.conn.recv(64):
                pass
        if not self.done:
            os.kill(os.getpid(), 9)

    def _main(self) -> int:
        import atexit

        from kmstui.cli import main

        try:
            code = main(release_stdout=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - as the interpreter would: the traceback, then exit 1
            sys.excepthook(*sys.exc_info())
            code = 1
        atexit._run_exitfuncs()  # what the interpreter's exit would run (the audit log anchors its tail)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        return code


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
