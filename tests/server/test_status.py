"""kmstui.server.status: whether a `kmstui serve` runs for a store, from its state file. A file left by a
server that died (SIGKILL, crash) must read as not running, and so must one whose pid now belongs to a
younger process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from kmstui.server import status


def write_state(folder, pid: int, store: str, started: float, **extra) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    status.state_path(folder, pid).write_text(json.dumps({"Pid": pid, "Url": "http://127.0.0.1:4599", "Store": store,
                                                          "AccessLog": "/dev/null", "Started": started, **extra}))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_live_server_is_seen_with_its_uptime(tmp_path, monkeypatch):
    folder, store = tmp_path / "serve", tmp_path / "hsm.kmstui"
    started = time.time() - 1
    write_state(folder, os.getpid(), str(store), started)
    monkeypatch.setattr(status, "now", lambda: started + 3723)
    watch = status.ServerWatch(folder, store)
    state = watch.poll()
    assert state["Pid"] == os.getpid() and state["Url"] == "http://127.0.0.1:4599" and state["UptimeSeconds"] == 3723
    assert status.uptime_text(state["UptimeSeconds"]) == "1h 2m"
    assert status.ServerWatch(folder, tmp_path / "other.kmstui").poll() is None  # another store's server


def test_a_dead_servers_state_file_is_not_running(tmp_path):
    folder, store = tmp_path / "serve", tmp_path / "hsm.kmstui"
    pid = dead_pid()
    write_state(folder, pid, str(store), time.time())
    assert status.ServerWatch(folder, store).poll() is None
    assert status.running_servers(folder) == []
    assert not status.state_path(folder, pid).exists()  # cleaned up, so --status never reports it


def test_a_reused_pid_is_not_the_server(tmp_path):
    """Our own process started long after the 'server' claims to have started: the pid was reused."""
    folder, store = tmp_path / "serve", tmp_path / "hsm.kmstui"
    write_state(folder, os.getpid(), str(store), time.time() - 30 * 86400)
    if status._process_start(os.getpid()) is None:  # no /proc: only the signal probe is possible
        return
    assert status.ServerWatch(folder, store).poll() is None


def test_the_watch_follows_servers_starting_and_stopping(tmp_path):
    folder, store = tmp_path / "serve", tmp_path / "hsm.kmstui"
    watch = status.ServerWatch(folder, store)
    assert watch.poll() is None  # no folder yet
    write_state(folder, os.getpid(), str(store), time.time())
    assert watch.poll()["Pid"] == os.getpid()
    status.state_path(folder, os.getpid()).unlink()
    assert watch.poll() is None


def test_garbage_state_files_are_ignored(tmp_path):
    folder, store = tmp_path / "serve", tmp_path / "hsm.kmstui"
    folder.mkdir()
    (folder / "server-1.json").write_text("{not json")
    (folder / "server-2.json").write_text(json.dumps([1, 2]))
    (folder / "server-3.json").write_text(json.dumps({"Pid": "x", "Store": str(store)}))
    (folder / "server-4.json").write_bytes(b" " * (status.MAX_STATE_BYTES + 10) + b"{}")
    assert status.ServerWatch(folder, store).poll() is None
    assert status.running_servers(folder) == []


def test_uptime_text():
    assert [status.uptime_text(s) for s in (5, 65, 3600 * 5 + 120, 86400 * 3 + 3600 * 4 + 5, None)] == \
        ["5s", "1m", "5h 2m", "3d 4h", "?"]


def test_only_a_local_profile_has_a_store_to_serve(serve_tools, kmstui_home):
    from kmstui.session import Options, Session

    serve_tools.write_profile("cloud", "aws", region="us-east-1")
    serve_tools.write_profile("mine", "local", path=str(kmstui_home / "elsewhere.kmstui"))
    assert status.store_of(Session(options=Options(profile="cloud"), load_plugins=False)) is None
    assert status.store_of(Session(options=Options(profile="mine"), load_plugins=False)) == kmstui_home / "elsewhere.kmstui"
