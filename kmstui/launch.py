"""The `kmstui` console script and `python -m kmstui`: hand a one-shot command to the warm launcher when one
is running, else run it in this process (kmstui.cli).

Why: a one-shot command spends ~50 ms starting (the interpreter, ~220 modules, the plugin and the backend
loading) before its first byte of work, and in `tar c | kmstui envelope encrypt - | ...` the programs on
either side wait for it. `hsm unseal` starts, beside the unseal agent, a launcher that has already imported
all of that (kmstui/warm.py); this client, which imports nothing beyond what the interpreter has at start,
passes it the command line, the environment, the working folder and its three standard descriptors, and a
process forked from the launcher runs the command on them exactly as this process would (same kmstui.cli
code, same output, errors and exit code), then reports its exit code. Measured, an empty `envelope
encrypt -` took ~21 ms this way against ~55 ms in-process.

Only when nothing can differ: standard input is not a terminal (so nothing will prompt, confirm or open an
editor), the first word is a command (not a flag, the shell, a script, the server, the TUI or `hsm`, which
starts and stops agents), the three standard descriptors are open and no other was inherited (a
`<(...)`), and the launcher, which must run as this
user, agrees that it runs the same Python, the same module path and unchanged code (kmstui.warm.Worker
checks). Anything else, or any failure before the launcher accepts the command, and the command runs here
as before. KMSTUI_WARM=0 turns the launcher off for one run.

The client uses only built-in modules (_socket, _signal, struct): `socket` and `signal` would each cost a
millisecond of enum tables.
"""

from __future__ import annotations

import os
import sys

SOCKET_NAME = "warm.sock"
PROTOCOL = b"kmstui-warm-3"
_NOT_WARM = {"shell", "run", "serve", "hsm", "__complete", "tui"}
MAX_PAYLOAD = 1 << 20
# How long the script waits for a worker before running the command itself. A healthy launcher answers in
# ~2 ms; a stopped or stuck one must not cost every command much (nothing is lost by giving up: a worker
# runs a command only once told to go, so it never runs twice).
HAND_OVER_TIMEOUT = 0.5


def console() -> None:
    if _eligible(sys.argv[1:]):
        code = _run_warm()
        if code is not None:
            os._exit(code & 0xFF)
    from kmstui.cli import console as in_process

    in_process()


def runtime_dir(environ=os.environ) -> str | None:
    """The agent's folder as config.Paths.discover finds it, when that is cheap to know (KMSTUI_HOME or
    XDG_RUNTIME_DIR); None otherwise (the temp-folder fallback needs `tempfile`: no launcher then)."""
    home = environ.get("KMSTUI_HOME")
    if home:
        return os.path.join(os.path.expanduser(home), "run")
    xdg = environ.get("XDG_RUNTIME_DIR")
    return os.path.join(xdg, "kmstui") if xdg else None


def _eligible(argv: list[str]) -> bool:
    if not argv or argv[0].startswith("-") or argv[0] in _NOT_WARM or os.environ.get("KMSTUI_WARM") == "0":
        return False
    try:
        if os.isatty(0):
            return False
        for fd in (0, 1, 2):
            os.fstat(fd)
        if _inherited_descriptors() or any("/dev/tty" in word for word in argv):
            return False  # a worker has no controlling terminal: /dev/tty is this process's own
    except OSError:
        return False
    return sys.stdin is not None and sys.stdout is not None and sys.stderr is not None


def _inherited_descriptors() -> list[int]:
    """Descriptors above 2 this process was given (`<(...)` is /dev/fd/63, `3<file`, a jobserver): the command
    may name them (/dev/fd/N, /proc/self/fd/N), and a worker has only the three standard ones. The
    interpreter's own descriptors are close-on-exec; the one listdir opens is closed before it is looked at."""
    out = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    out.append(fd)
            except OSError:
                pass
    return out


def _stdio_params() -> list[bytes]:
    """How this interpreter set up its standard streams, for the worker to set up the same."""
    out = []
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        raw_only = type(stream.buffer).__name__ == "FileIO"
        out.append(";".join([stream.encoding, stream.errors, str(int(stream.line_buffering)),
                             str(int(stream.write_through)), str(int(raw_only))]).encode())
    return out


def interpreter_settings() -> bytes:
    """What the interpreter was started with that a command's behaviour can depend on: every flag (-O, -B, -b,
    -I, UTF-8 and development modes, the int digits limit...), the -X options (faulthandler, tracemalloc, ...;
    not importtime, which only reports on the imports this process makes), warning options, the bytecode
    cache folder and the file-system encoding. The worker runs only where its own are the same."""
    xoptions = sorted((k, str(v)) for k, v in sys._xoptions.items() if k != "importtime")
    return repr((tuple(sys.flags), xoptions, sys.warnoptions, sys.pycache_prefix,
                 sys.getfilesystemencoding())).encode()


def payload(argv: list[str], ignored: tuple[int, ...] = ()) -> bytes:
    """The request: NUL-separated fields (no field can hold a NUL: they come from argv, the environment and
    paths). The worker checks the first ones before it runs anything (kmstui.warm.Worker._check). `ignored`: the
    forwarded signals this process ignores (`nohup`, a background job of a script), which the command ignores too."""
    umask = os.umask(0)
    os.umask(umask)
    fields = [PROTOCOL, os.fsencode(os.path.realpath(sys.executable)), os.fsencode(__file__),
              "\x1f".join(sys.path[1:]).encode("utf-8", "surrogateescape"),
              interpreter_settings(),
              b"%d" % umask, ",".join(str(int(n)) for n in ignored).encode(), *_stdio_params(),
              b"%d" % len(argv), *(os.fsencode(a) for a in argv),  # argv[0] too
              *(k + b"=" + v for k, v in os.environb.items())]
    return b"\0".join(fields)


def _run_warm() -> int | None:
    """The command's exit code when the launcher ran it; None when none is running, it declined, or anything
    failed before it accepted (the command then runs in this process). Once it has accepted, the command is
    the worker's, whatever happens here: it never runs twice."""
    folder = runtime_dir()
    if folder is None:
        return None
    path = os.path.join(folder, SOCKET_NAME)
    if not os.path.exists(path):
        return None
    import _signal

    signals = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP)
    state: dict = {"worker": None, "pending": []}

    def forward(signum, _frame):  # a signal for the command: the worker's, once there is one
        if state["worker"] is None:
            state["pending"].append(signum)
            return
        state["forwarded"] = signum
        try:
            os.kill(state["worker"], signum)
        except OSError:
            pass

    # A signal this process ignores (nohup's SIGHUP, SIGINT in a script's background job) stays ignored, here
    # and in the command: it is neither caught nor passed on.
    ignored = tuple(signum for signum in signals if _signal.getsignal(signum) == _signal.SIG_IGN)
    previous = {signum: _signal.signal(signum, forward) for signum in signals if signum not in ignored}
    sock = None
    try:
        sock, worker = _hand_over(path, ignored)
    except Exception:  # noqa: BLE001 - any trouble before the launcher took the command: run it here
        worker = None
    if worker is None:
        if sock is not None:
            sock.close()
        for signum, handler in previous.items():
            _signal.signal(signum, handler)
        for signum in state["pending"]:  # what arrived meanwhile reaches the command run here
            os.kill(os.getpid(), signum)
        return None
    state["worker"] = worker
    for signum in state["pending"]:
        forward(signum, None)
    try:
        return _wait(sock, state)
    except Exception as exc:  # noqa: BLE001 - the command is the worker's: say so, never run it again
        os.write(2, b"kmstui: error: lost the warm launcher's worker (%s); the command may have run: check its "
                    b"output before running it again\n" % type(exc).__name__.encode())
        return 70
    finally:
        sock.close()


def _hand_over(path: str, ignored: tuple[int, ...] = ()):
    """(socket, worker pid) once a worker accepted the command; (socket or None, None) otherwise."""
    import _socket
    import struct

    data = payload(sys.argv, ignored)
    if len(data) > MAX_PAYLOAD:
        return None, None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(HAND_OVER_TIMEOUT)
    sock.connect(path)
    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, struct.calcsize("3i"))
    if struct.unpack("3i", creds)[1] != os.getuid():
        return sock, None  # someone else's listener: it is never sent anything
    # Nothing is sent until a worker exists to read it: descriptors sent into a launcher that is stopped or
    # stuck would stay in flight, holding this command's pipes open (the program reading its output would
    # wait for the launcher, not for this process), after this process gave up and ran the command itself.
    if _recv_exact(sock, 1) != b"R":
        return sock, None
    cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        head = struct.pack("!I", len(data))
        sock.sendmsg([head], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("4i", 0, 1, 2, cwd))])
    finally:
        os.close(cwd)
    sock.sendall(data)
    answer = _recv_exact(sock, 5)
    if answer is None or answer[:1] != b"A":
        return sock, None  # declined (another Python, changed code, ...) or gone: run the command here
    # The worker runs the command only once told to: an "A" that came after this process gave up (the
    # timeout above) is never followed by "G", so the command can never run both there and here.
    sock.sendall(b"G")
    return sock, struct.unpack("!I", answer[1:])[0]


def _recv_exact(sock, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _wait(sock, state: dict) -> int:
    """The worker has the command: stop holding the ends of the pipes (so the programs either side see the
    end as soon as the worker lets go) and return its exit code (signals are passed on meanwhile)."""
    import _signal
    import struct

    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    sock.settimeout(None)
    answer = _recv_exact(sock, 5)
    if answer is not None and answer[:1] == b"X":
        return struct.unpack("!i", answer[1:])[0]
    if state.get("forwarded"):  # the worker died of a signal sent to us: so do we, as the command would have
        _signal.signal(state["forwarded"], _signal.SIG_DFL)
        os.kill(os.getpid(), state["forwarded"])
    os.write(2, b"kmstui: error: the command's process ended without an exit status (killed?); run it again "
                b"with KMSTUI_WARM=0 to run it in this process\n")
    return 70
