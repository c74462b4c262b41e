"""Pilot tests of the header's server indicator and the serve screen (F7) against a REAL `kmstui serve`
(started by the shared fixture helpers on a free port): boto3 calls make rows appear, a denied call shows as
denied and opens its decision trace, and stopping the server turns the indicator to "not serving"."""

from __future__ import annotations

import json
import os

import pytest

from kmstui.session import Session
from kmstui.tui.widgets.requests import RequestTable
from tui_helpers import screen_text, settle, wait_until

pytest.importorskip("uvicorn", reason="kmstui serve needs the 'serve' extra (uvicorn)")
boto3 = pytest.importorskip("boto3")
from botocore.exceptions import ClientError  # noqa: E402

TEST_PASSPHRASE = "correct horse battery staple"
WIDE = (120, 35)


def pretend_server(session, log) -> None:
    """The state file of a server for this store writing `log`, as pid 1 (alive wherever the test runs)."""
    import time

    from kmstui.server import status

    folder = status.state_dir(session)
    folder.mkdir(parents=True, exist_ok=True)
    status.state_path(folder, 1).write_text(json.dumps({
        "Pid": 1, "Url": "http://127.0.0.1:4599", "Store": str(status.store_of(session)), "AccessLog": str(log),
        "Started": time.time()}))


def header_text(app) -> str:
    return str(app.main_screen.query_one("#status").render())


@pytest.fixture
def served(serve_tools, tmp_path, monkeypatch):
    """A running server and a TUI session on the same store and KMSTUI_HOME (where its state file is)."""
    server = serve_tools.start(tmp_path)
    monkeypatch.setenv("KMSTUI_HOME", str(server.home))
    monkeypatch.setenv("KMSTUI_PASSPHRASE", TEST_PASSPHRASE)
    session = Session(interactive=True)
    try:
        yield server, session, serve_tools.stop
    finally:
        session.close()
        serve_tools.stop(server)


async def test_indicator_and_live_tail_of_a_real_server(served, make_app):
    server, session, stop = served
    root = server.client()
    key_id = root.create_key(Description="tail me")["KeyMetadata"]["KeyId"]
    mallory = server.client(server.access_key("mallory"))  # an IAM user no policy allows

    app = make_app(session)
    async with app.run_test(size=WIDE, notifications=False) as pilot:
        await settle(pilot)
        # The header says a server runs for this store, with its URL, pid and uptime.
        await wait_until(pilot, lambda: f"serving {server.url} pid {server.proc.pid} up" in header_text(app))

        await pilot.press("f7")
        await wait_until(pilot, lambda: getattr(app.screen, "serve_screen", False)
                         and len(app.screen.query("#serve-requests")) == 1)
        screen = app.screen
        table = screen.query_one("#serve-requests", RequestTable)
        assert f"running {server.url}" in screen_text(app) and f"pid {server.proc.pid}" in screen_text(app)

        blob = root.encrypt(KeyId=key_id, Plaintext=b"secret payload")["CiphertextBlob"]
        with pytest.raises(ClientError) as denied_call:
            mallory.decrypt(CiphertextBlob=blob)
        assert denied_call.value.response["Error"]["Code"] == "AccessDeniedException"
        await wait_until(pilot, lambda: any(r.get("operation") == "Decrypt" for r in screen.records), timeout=20)
        rows = [table.row_cells(n) for n in range(table.row_count)]
        encrypt = next(r for r in rows if r[2] == "Encrypt")
        decrypt = next(r for r in rows if r[2] == "Decrypt")
        assert encrypt[1] == "root" and encrypt[3] == key_id[:8] + "…" and encrypt[4] == "allow" and encrypt[5] == "200"
        assert decrypt[1] == "user/mallory" and decrypt[4] == "deny" and decrypt[5] == "400"
        assert "plaintext" not in screen_text(app).lower() and "secret payload" not in screen_text(app)

        await pilot.press("d")  # refused requests only
        await wait_until(pilot, lambda: table.row_count >= 1 and all(
            table.row_cells(n)[4] in ("deny", "auth failed") for n in range(table.row_count)))
        table.cursor = table.row_count - 1
        await pilot.press("enter")  # explain: whatif --request-id ID, as a shell user would run it
        denied = screen.current_record()
        assert denied["decision"] == "deny" and denied["principal"].endswith(":user/mallory")
        await wait_until(pilot, lambda: "DENY" in screen_text(app) and "kms:Decrypt" in screen_text(app), timeout=20)
        assert denied["requestId"] in screen_text(app)
        await pilot.press("escape")  # closes the explanation first
        assert app.screen is screen and not screen.has_class("-explaining")

        # The server stops (SIGTERM): the screen and, back on the main view, the header say so; its rows stay.
        shown = table.row_count
        assert stop(server) == 0
        await wait_until(pilot, lambda: "not running" in screen_text(app), timeout=20)
        assert table.row_count == shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: "not serving" in header_text(app), timeout=20)


async def test_a_dead_servers_state_file_reads_as_not_serving(tui_session, make_app, tmp_path):
    """A server killed with SIGKILL leaves its state file behind: neither the header nor F7 may call it running."""
    import subprocess
    import sys
    import time

    from kmstui.server import status

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    folder = status.state_dir(tui_session)
    folder.mkdir(parents=True, exist_ok=True)
    status.state_path(folder, gone.pid).write_text(json.dumps({
        "Pid": gone.pid, "Url": "http://127.0.0.1:4599", "Store": str(status.store_of(tui_session)),
        "AccessLog": str(tmp_path / "access.jsonl"), "Started": time.time()}))
    app = make_app(tui_session)
    async with app.run_test(size=WIDE, notifications=False) as pilot:
        await settle(pilot)
        await wait_until(pilot, lambda: "not serving" in header_text(app))
        assert "serving http" not in header_text(app)
        app.action_serve()  # what F7 and the palette's "open: kmstui serve" do
        await wait_until(pilot, lambda: getattr(app.screen, "serve_screen", False) and "not running" in screen_text(app)
                         and len(app.screen.query("#serve-requests")) == 1)
        assert app.screen.query_one("#serve-requests", RequestTable).row_count == 0


def test_columns_are_left_out_whole_never_cut_to_nothing():
    from kmstui.tui.widgets.requests import COLUMNS, GAP, layout

    natural = [8, 40, 12, 9, 11, 6, 6]
    assert layout(natural, 200) == natural  # room for everything
    narrow = layout(natural, 76)
    assert sum(w for w in narrow if w) + GAP * (sum(1 for w in narrow if w) - 1) <= 76
    assert all(w == 0 or w >= least for w, (_h, _cap, least) in zip(narrow, COLUMNS))
    tiny = layout(natural, 50)
    assert [h for w, (h, _c, _m) in zip(tiny, COLUMNS) if w] == ["Time", "Principal", "Operation", "Decision"]


async def test_a_busy_log_keeps_the_cursor_on_the_request_being_read(tui_session, make_app, tmp_path):
    """Rows arrive while the user reads an earlier request: the cursor stays on it (the newest rows do not
    drag it along); G follows the tail again. The screen keeps the newest MAX_ROWS requests."""
    from kmstui.tui.screens.serve import MAX_ROWS

    log = tmp_path / "access.jsonl"

    def lines(start: int, count: int) -> str:
        return "".join(json.dumps({"time": "2026-12-06T09:00:00Z", "requestId": f"req-{n}", "operation": "Encrypt",
                                   "decision": "allow", "status": 200, "latencyMs": 1.0}) + "\n"
                       for n in range(start, start + count))

    log.write_text(lines(0, 5))
    pretend_server(tui_session, log)
    app = make_app(tui_session)
    async with app.run_test(size=WIDE, notifications=False) as pilot:
        await settle(pilot)
        app.action_serve()
        await wait_until(pilot, lambda: getattr(app.screen, "serve_screen", False) and any(t.row_count == 5 for t in
                                                                          app.screen.query(RequestTable)))
        screen, table = app.screen, app.screen.query_one(RequestTable)
        assert table.current_record["requestId"] == "req-4"  # follows the tail
        await pilot.press("k", "k")
        assert table.current_record["requestId"] == "req-2"
        with log.open("a") as fh:
            fh.write(lines(5, 300))
        await wait_until(pilot, lambda: table.row_count == 305, timeout=20)
        assert table.current_record["requestId"] == "req-2"
        with log.open("a") as fh:
            fh.write(lines(305, MAX_ROWS))
        await wait_until(pilot, lambda: screen.records and screen.records[-1]["requestId"] == f"req-{304 + MAX_ROWS}",
                         timeout=30)
        assert table.row_count == MAX_ROWS and table.row_cells(0)[2] == "Encrypt"
        await pilot.press("G")
        assert table.current_record["requestId"] == f"req-{304 + MAX_ROWS}"
        log.write_text(lines(9000, 2))  # truncated (the server restarted its log): read again from the start
        await wait_until(pilot, lambda: table.current_record["requestId"] == "req-9001", timeout=20)


async def test_opening_and_closing_the_screen_fast_while_the_log_grows(tui_session, make_app, tmp_path):
    """F7 / Escape as fast as keys repeat while a busy log is being read on worker threads: a read that
    finishes after its screen closed is dropped, and a new screen never collides with the closing one."""
    log = tmp_path / "access.jsonl"
    line = json.dumps({"time": "2026-12-06T09:00:00Z", "requestId": "r", "operation": "Encrypt",
                       "decision": "allow", "status": 200}) + "\n"
    log.write_text(line * 20000)
    pretend_server(tui_session, log)
    app = make_app(tui_session)
    async with app.run_test(size=WIDE, notifications=False) as pilot:
        await settle(pilot)
        for _ in range(15):
            await pilot.press("f7")
            with log.open("a") as fh:
                fh.write(line * 2000)
            await pilot.press("escape")
        await pilot.press("f7")
        await wait_until(pilot, lambda: getattr(app.screen, "serve_screen", False)
                         and len(app.screen.query("#serve-requests")) == 1)
        await wait_until(pilot, lambda: app.screen.query_one(RequestTable).row_count > 0, timeout=20)
        assert app.is_running
