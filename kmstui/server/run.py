"""`kmstui serve`: open the store, bind the socket, run uvicorn until SIGINT/SIGTERM, then close cleanly.

Why uvicorn with a bare ASGI app: uvicorn is a well-kept, widely deployed HTTP/1.1 server with keep-alive,
graceful shutdown on SIGINT/SIGTERM (stop accepting, let in-flight requests finish) and TLS from the
standard library; with the httptools parser its per-request cost is a small fraction of a WSGI stack's.
The protocol has one route, so a framework would add nothing (app.py is the whole application).

While it runs, a state file (0600) under the data folder's `serve/` says which store is served where, for
`kmstui serve --status` and the TUI, and the access log (one JSON line per request) goes to stderr and to
a file beside it that the TUI tails.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from kmstui.commands.registry import Result, TableHint
from kmstui.errors import ConfigError, UsageError
from kmstui.server.limits import MAX_HEAD
from kmstui.server.status import describe, servers_for, state_dir, uptime_text

LOOPBACK_NAMES = ("localhost",)


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_status(session, args) -> Result:
    """`serve --status`: the servers running for this profile's store (state files of dead ones do not count)."""
    from kmstui.commands.hsm import _target

    _profile, store = _target(session)
    servers = [describe(s) for s in servers_for(state_dir(session), store)]
    if not servers:
        return Result(data={"Running": False, "Store": str(store), "Servers": []},
                      message=f"no kmstui serve is running for {store}", exit_code=1)
    lines = [f"kmstui serve (pid {s['Pid']}, up {uptime_text(s['UptimeSeconds'])}) serves {s['Store']} at {s['Url']}"
             + (f" (TLS; CA {s['CaBundle']})" if s.get("CaBundle") else "") + f"; access log {s['AccessLog']}"
             for s in servers]
    return Result(data={"Running": True, "Store": str(store), "Servers": servers}, text="\n".join(lines))


LOG_TABLE = TableHint(rows="Requests", columns=[
    ("Time", "time"), ("Principal", "principal"), ("Operation", "operation"), ("Key", "key"),
    ("Decision", "decision"), ("Status", "status"), ("Error", "error"), ("Latency ms", "latencyMs"),
    ("Request id", "requestId")])
MAX_LOG_LIMIT = 10_000


def cmd_log(session, args) -> Result:
    """`serve log`: the newest requests in the access log of the server running for this store (or of
    --access-log PATH), optionally only the refused ones; explain one with `whatif --request-id ID`."""
    from kmstui.commands.hsm import _target
    from kmstui.server.accesslog import last_records

    if not 1 <= args.limit <= MAX_LOG_LIMIT:
        raise UsageError(f"--limit must be between 1 and {MAX_LOG_LIMIT}")
    if args.access_log:
        path = Path(args.access_log)
        if not path.is_file():
            raise UsageError(f"--access-log {path}: no such file (it must be a regular file)")
    else:
        _profile, store = _target(session)
        servers = servers_for(state_dir(session), store)
        if not servers:
            raise UsageError(f"no kmstui serve is running for {store}; start one with 'kmstui serve', or read a "
                             "log file with --access-log PATH")
        path = Path(max(servers, key=lambda s: s.get("Started") or 0)["AccessLog"])
    records = last_records(path, args.limit, denied=args.denied)
    return Result(data={"AccessLog": str(path), "Requests": records}, table=LOG_TABLE)


def cmd_serve(session, args) -> Result:
    if args.status:
        return cmd_status(session, args)
    try:
        import uvicorn
    except ModuleNotFoundError:
        raise ConfigError("kmstui serve needs uvicorn and botocore: pip install 'kmstui[serve]'") from None
    host, port = args.host, args.port
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, not {port}")
    if not _is_loopback(host) and not args.allow_remote:
        raise UsageError(f"--host {host} is not a loopback address: anyone who can reach it could try credentials "
                         "against your HSM; add --allow-remote to bind it anyway")
    if bool(args.cert) != bool(args.key):
        raise UsageError("--cert and --key go together (the server certificate and its private key, PEM)")
    session.client_checks = False  # a service answers every request itself, as KMS does (kmstui.clientside)
    backend = session.backend()
    if getattr(backend, "kind", None) != "local" or not hasattr(backend, "acting_as"):
        raise UsageError(f"kmstui serve serves the local HSM; profile '{session.profile_name}' uses the "
                         f"{backend.kind} backend")
    if getattr(backend, "authorizer", None) is None:  # fail closed: never serve every request as allowed
        raise ConfigError("kmstui serve decides every request with kmstui's authorization engine (kmstui.authz), "
                          "which is not installed on this HSM backend; refusing to serve without it")
    from kmstui.server.app import KmsApp
    from kmstui.server.handler import Handler

    anonymous = args.insecure_anonymous_as
    if anonymous is not None and not anonymous.startswith("arn:"):
        raise UsageError(f"--insecure-anonymous-as needs a principal ARN, not '{anonymous}'")
    tls = bool(args.tls or args.cert)
    ca_bundle = None
    if args.cert:
        certfile, keyfile = args.cert, args.key
        for path in (certfile, keyfile):
            if not Path(path).is_file():
                raise UsageError(f"cannot read {path}")
    elif args.tls:
        from kmstui.server.tls import ensure_certificates

        ca, certfile, keyfile = ensure_certificates(session.config.paths.data_dir / "serve-tls", host)
        ca_bundle, certfile, keyfile = str(ca), str(certfile), str(keyfile)
    else:
        certfile = keyfile = None

    sock = _bind(host, port)
    port = sock.getsockname()[1]
    scheme = "https" if tls else "http"
    shown_host = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{shown_host}:{port}"
    folder = state_dir(session)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    access_path = Path(args.access_log) if args.access_log else folder / f"access-{port}.jsonl"
    access = _AccessLog(access_path, echo=not args.quiet)
    handler = Handler(backend, anonymous_as=anonymous, secure=tls)
    app = KmsApp(handler, access.write, scheme=scheme)
    state = {"Pid": os.getpid(), "Url": url, "Host": host, "Port": port, "Store": str(backend.path),
             "Profile": session.profile_name, "AccountId": backend.account_id, "Region": backend.region,
             "Tls": tls, "CaBundle": ca_bundle, "AccessLog": str(access_path), "Started": time.time(),
             "Anonymous": anonymous}
    state_path = folder / f"server-{os.getpid()}.json"
    _write_private(state_path, json.dumps(state, indent=2).encode())
    _banner(state, not _is_loopback(host))
    # proxy_headers=False: uvicorn would otherwise take the client address from X-Forwarded-For when the
    # peer is 127.0.0.1 (every client of a loopback server), so any caller could set aws:SourceIp itself.
    # loop="auto": uvloop when installed (the serve extra brings it), asyncio otherwise.
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False, server_header=False,
                            http=_http_impl(), loop="auto", timeout_graceful_shutdown=15, proxy_headers=False,
                            h11_max_incomplete_event_size=MAX_HEAD,
                            ssl_certfile=certfile, ssl_keyfile=keyfile, timeout_keep_alive=30)
    server = _server_class(uvicorn)(config)
    # Everything made so far (modules, botocore's KMS model, the open store) lives as long as the server:
    # move it out of the cyclic collector's way, so its full collections walk only what serving adds
    # (measured at 10,000 keys: full collections took about a tenth of a request's CPU, a fiftieth after).
    gc.collect()
    gc.freeze()
    try:
        server.run(sockets=[sock])
    finally:
        access.close()
        with contextlib.suppress(OSError):
            state_path.unlink()
        sock.close()
    return Result(message=f"kmstui serve stopped ({url})")


def _server_class(uvicorn):
    """uvicorn's Server, stopping gracefully on SIGINT/SIGTERM without re-raising the signal afterwards
    (uvicorn re-raises it, which would kill the process before the store and the audit log are closed)."""
    import signal

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        def _stop(self, sig, frame) -> None:
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True  # a second Ctrl+C: stop waiting for open connections
            self.should_exit = True

    return Server


def _http_impl():
    """httptools (bounded: kmstui.server.limits) when installed, else h11 (bounded by its own
    max_incomplete_event_size)."""
    import importlib.util

    if importlib.util.find_spec("httptools") is None:
        return "h11"
    from kmstui.server.limits import bounded_httptools_protocol

    return bounded_httptools_protocol()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: a response leaves at once instead of waiting out the client's
    # delayed ACK (about 40 ms a request with keep-alive clients such as boto3).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hint = "another server (kmstui serve --status) already uses it; pick --port" if exc.errno == 98 else \
            "check --host"
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}): {hint}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _banner(state: dict[str, Any], exposed: bool) -> None:
    err = sys.stderr
    url = state["Url"]
    err.write(f"kmstui serve: AWS KMS and STS for {state['Store']} (account {state['AccountId']}, region "
              f"{state['Region']}) at {url}\n")
    if exposed:
        err.write(f"WARNING: listening on {state['Host']}, not a loopback address: other machines can reach this "
                  "endpoint\n")
    if state.get("Anonymous"):
        err.write(f"WARNING: --insecure-anonymous-as: UNSIGNED REQUESTS ARE ACCEPTED AND ACT AS {state['Anonymous']}\n")
    if state.get("CaBundle"):
        err.write(f"  TLS: export AWS_CA_BUNDLE={state['CaBundle']}\n")
    err.write(f"  credentials: kmstui iam create-access-key --user-name NAME\n"
              f"  try: aws --endpoint-url {url} --region {state['Region']} kms list-keys\n"
              f"  stop with Ctrl+C (or SIGTERM); access log: {state['AccessLog']}\n")
    err.flush()


class _AccessLog:
    """One JSON line per request to stderr (unless quiet) and to a file (truncated when the server starts).

    Lines are buffered and written together at most FLUSH_DELAY seconds after the first of them (a timer on
    the event loop), when BUFFER_LINES are waiting, and when the server stops: one write per batch instead
    of one or two per request. A reader tailing the file sees each line within FLUSH_DELAY."""

    FLUSH_DELAY = 0.05
    BUFFER_LINES = 256

    def __init__(self, path: Path, *, echo: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        self._echo = echo
        self._lines: list[str] = []
        self._timer = None

    def write(self, record) -> None:
        self._lines.append(record.to_json())
        if len(self._lines) >= self.BUFFER_LINES:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on the server's loop: no timer to rely on
                self.flush()
                return
            self._timer = loop.call_later(self.FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        data = ("\n".join(self._lines) + "\n").encode()
        self._lines = []
        try:
            _write_all(self._fd, data)
        except OSError as exc:  # the requests were served; say once per batch that their lines were lost
            sys.stderr.write(f"kmstui serve: cannot write the access log ({exc.strerror})\n")
        if self._echo:
            sys.stderr.write(data.decode())
            sys.stderr.flush()

    def close(self) -> None:
        """The last lines, when the server has stopped (its loop, and with it the timer, is gone)."""
        self._timer = None
        self.flush()
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
