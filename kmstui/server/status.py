"""Which `kmstui serve` runs for a store, read from the state files servers keep: one 0600 JSON file per
server, `server-PID.json` under the data folder's `serve/`, written when it starts listening and removed
when it stops. `kmstui serve --status`, `kmstui serve log` and the TUI's header indicator all read it here.

Nothing here opens the store, talks to the server or imports a web server: a check is a directory listing,
a signal-0 probe of each pid and, when a file changed, reading it again, so a face can poll it every
second. A state file whose process is gone (a server killed with SIGKILL, a crash, a reboot) does not count
as a running server, nor does one whose pid now belongs to a process that started after the server did
(pid reuse).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

STATE_GLOB = "server-*.json"
MAX_STATE_BYTES = 64 * 1024  # a state file is a few hundred bytes; a bigger one is not ours
PID_REUSE_SLACK = 5.0  # seconds: a process may start this long before it writes its state file

now = time.time  # the clock uptimes are measured with (tests pin it)


def state_dir(session) -> Path:
    """Where this session's servers keep their state files (and, by default, their access logs)."""
    return session.config.paths.data_dir / "serve"


def state_path(folder: Path, pid: int) -> Path:
    return folder / f"server-{pid}.json"


def store_of(session) -> Path | None:
    """The local HSM file the session's profile uses, or None when the profile has another backend (a
    server only ever serves a local HSM)."""
    from kmstui.backends.local.unseal import hsm_path

    profile = session.profile()
    if profile.backend != "local":
        return None
    return hsm_path(profile.settings, session.config.paths.data_dir)


def _boot_time() -> float | None:
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/stat", "rb") as fh:
            for line in fh:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    return None


_BOOT = _boot_time()
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_start(pid: int) -> float | None:
    """When process `pid` started (epoch seconds), from /proc; None where /proc is not available."""
    if _BOOT is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        fields = stat[stat.rindex(b")") + 2:].split()  # the command name may hold spaces and parentheses
        return _BOOT + int(fields[19]) / _TICKS
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int, started: float | None = None) -> bool:
    """Whether the server that wrote a state file with this pid (and start time) still runs."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process holds the pid: check its start time below
    if started is not None:
        began = _process_start(pid)
        if began is not None and began > started + PID_REUSE_SLACK:
            return False  # the pid was reused by a younger process
    return True


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as fh:
            state = json.loads(fh.read(MAX_STATE_BYTES + 1)[:MAX_STATE_BYTES])
        if not isinstance(state, dict):
            return None
        state["Pid"] = int(state["Pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state


def _started(state: dict[str, Any]) -> float | None:
    value = state.get("Started")
    return float(value) if isinstance(value, (int, float)) else None


def running_servers(folder: Path, *, remove_stale: bool = True) -> list[dict[str, Any]]:
    """The state of every live `kmstui serve` under `folder`. Files of dead servers are removed (unless
    remove_stale is False), so the next look is cheaper and `serve --status` never reports them."""
    out = []
    try:
        paths = sorted(folder.glob(STATE_GLOB))
    except OSError:
        return out
    for path in paths:
        state = _read_state(path)
        if state is None:
            continue
        if alive(state["Pid"], _started(state)):
            out.append(state)
        elif remove_stale:
            with contextlib.suppress(OSError):
                path.unlink()
    return out


def servers_for(folder: Path, store: Path) -> list[dict[str, Any]]:
    return [s for s in running_servers(folder) if s.get("Store") == str(store)]


def describe(state: dict[str, Any], at: float | None = None) -> dict[str, Any]:
    """The plain data a face shows for one running server (its state plus its uptime in seconds)."""
    started = _started(state)
    uptime = max(0.0, (now() if at is None else at) - started) if started is not None else None
    keep = ("Pid", "Url", "Host", "Port", "Store", "Profile", "AccountId", "Region", "Tls", "CaBundle", "AccessLog",
            "Started", "Anonymous")
    return {**{k: state.get(k) for k in keep}, "UptimeSeconds": None if uptime is None else int(uptime)}


def uptime_text(seconds: int | None) -> str:
    """"42s", "3m", "2h 5m", "3d 4h": the two largest units, for one-line displays."""
    if seconds is None:
        return "?"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


class ServerWatch:
    """Polls whether a server runs for one store, as cheaply as a face can afford every second: the state
    files are re-read only when their directory or their own mtime changed; each poll probes the pids.

    `poll()` returns `describe(state)` of the newest live server for the store, or None."""

    def __init__(self, folder: Path, store: Path) -> None:
        self.folder, self.store = folder, str(store)
        self._stamp: tuple | None = None
        self._states: list[dict[str, Any]] = []

    def _listing(self) -> tuple:
        try:
            entries = sorted((e.name, e.stat().st_mtime_ns) for e in os.scandir(self.folder)
                             if e.name.startswith("server-") and e.name.endswith(".json"))
        except OSError:
            return ()
        return tuple(entries)

    def poll(self) -> dict[str, Any] | None:
        stamp = self._listing()
        if stamp != self._stamp:
            self._stamp = stamp
            states = [_read_state(self.folder / name) for name, _mtime in stamp]
            self._states = [s for s in states if s is not None and s.get("Store") == self.store]
        live = [s for s in self._states if alive(s["Pid"], _started(s))]
        if not live:
            return None
        return describe(max(live, key=lambda s: _started(s) or 0.0))
