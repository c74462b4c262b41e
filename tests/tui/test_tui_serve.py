"""Pilot test of the serve screen (command palette: "kmstui serve"): it shows whether a `kmstui serve` runs for this store, and tails its
access log as requests arrive. The server is represented by the state file and access log a running
`kmstui serve` keeps (kmstui.server.run), written here for this test's own process."""

from __future__ import annotations

import json
import os

from textual.widgets import DataTable, Static

from kmstui.server.run import state_dir
from kmstui.tui.screens.serve import ServeScreen
from tui_helpers import SIZE, settle, wait_until


async def test_serve_screen_shows_the_server_and_tails_requests(tui_session, make_app, tmp_path):
    from kmstui.commands.hsm import _target

    _profile, store = _target(tui_session)
    app = make_app(tui_session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "serve" in app.plugin_screens
        app.open_plugin_screen("serve")  # what the palette's "kmstui serve" entry does
        await wait_until(pilot, lambda: isinstance(app.screen, ServeScreen) and app.screen.query("#serve-status"))
        await settle(pilot)
        screen = app.screen
        await wait_until(pilot, lambda: "no kmstui serve is running" in str(screen.query_one("#serve-status",
                                                                                                Static).render()))
        folder = state_dir(tui_session)
        folder.mkdir(parents=True, exist_ok=True)
        log = tmp_path / "access.jsonl"
        log.write_text("")
        (folder / f"server-{os.getpid()}.json").write_text(json.dumps({
            "Pid": os.getpid(), "Url": "http://127.0.0.1:4599", "Store": str(store), "AccessLog": str(log)}))
        await wait_until(pilot, lambda: "running at http://127.0.0.1:4599" in
                         str(screen.query_one("#serve-status", Static).render()), timeout=10)
        with log.open("a") as fh:
            fh.write(json.dumps({"time": "2026-12-06T09:00:00Z", "principal": "arn:aws:iam::111122223333:user/a\x1b[2J",
                                 "operation": "Decrypt", "key": "k", "decision": "deny", "status": 400,
                                 "requestId": "r-1"}) + "\n")
        table = screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 1, timeout=10)
        row = table.get_row_at(0)
        assert row[2] == "Decrypt" and row[4] == "deny" and "\\x1b" in row[1]
        (folder / f"server-{os.getpid()}.json").unlink()
