"""Text snapshots of every screen at the two sizes operators have (80x24 ssh, 120x35 split): the key table,
each detail tab, the console, palette, help, the modals, the plugin screens (envelope, what-if, advisor) and
the serve screen with the header's server indicator (a server state file and access log written here; pid 1
stands in for a live server, so the pid shown never varies).

Each is the screen's characters as a user reads them (tests/tui/snapshots/NAME@WxH.txt), so a review sees
exactly what changed: a column dropped, a label cut, a wrapped line. Key ids, grant ids and the clock are
made deterministic. One app per size walks through all screens (starting the app per screen would cost
more than the checks). Set KMSTUI_UPDATE_SNAPSHOTS=1 to rewrite them after a deliberate change and review
the diff.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import itertools
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from textual.widgets import Input

from kmstui.tui.screens.help import HelpScreen
from kmstui.tui.screens.modals import ConfirmModal, CreateKeyModal
from tui_helpers import SIZES, screen_text, settle, wait_until

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("KMSTUI_UPDATE_SNAPSHOTS") == "1"
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def fixed_world(tui_session, monkeypatch):
    """Three keys with fixed ids and dates: alias/app (rotation on, a tag, a grant, some use), alias/sign
    (ECC signing) and alias/old (pending deletion)."""
    from kmstui.backends.local import grants, keys
    from kmstui.tui import loaders

    counter = itertools.count(1)
    monkeypatch.setattr(keys, "new_key_id", lambda: f"{next(counter):08x}-1111-4222-8333-444455556666")
    seq = itertools.count(1)
    fake_os = SimpleNamespace(urandom=lambda n: hashlib.sha256(str(next(seq)).encode()).digest()[:n])
    monkeypatch.setattr(grants, "os", fake_os)
    monkeypatch.setattr(loaders, "today", lambda: NOW.date())
    backend = tui_session.backend()
    while hasattr(backend, "_inner"):  # the session's command view wraps the backend itself
        backend = backend._inner
    backend.clock = lambda: NOW.timestamp()
    run = tui_session.execute
    run(["key", "create", "--alias", "alias/app", "--description", "orders database (production)"])
    run(["key", "rotation", "alias/app", "--enable"])
    run(["key", "tag", "alias/app", "team=payments"])
    run(["grant", "create", "--key-id", "alias/app", "--grantee-principal", "arn:aws:iam::111122223333:role/app",
         "--operations", "Encrypt,Decrypt", "--name", "app-rw"])
    for _ in range(3):
        run(["encrypt", "--key-id", "alias/app", "--plaintext", "hello"])
    run(["key", "create", "--alias", "alias/sign", "--key-spec", "ECC_NIST_P256", "--key-usage", "SIGN_VERIFY",
         "--description", "release signing"])
    run(["key", "create", "--alias", "alias/old", "--description", "retired"])
    run(["key", "schedule-deletion", "alias/old", "--days", "7", "--yes"])
    return tui_session


class Snapshots:
    """Compare (or, with KMSTUI_UPDATE_SNAPSHOTS=1, write) screens; collect every difference, fail once."""

    def __init__(self, app, pilot, size: str) -> None:
        self.app, self.pilot, self.size = app, pilot, size
        self.problems: list[str] = []

    async def check(self, name: str, timeout: float = 15.0, *, wait_workers: bool = True) -> None:
        path = SNAPSHOTS / f"{name}@{self.size}.txt"
        if wait_workers:  # not while a command waits for the dialog on screen
            await settle(self.pilot)
        else:
            await self.pilot.pause(0.2)
        if UPDATE:
            path.write_text(screen_text(self.app) + "\n", encoding="utf-8")
            return
        if not path.exists():
            self.problems.append(f"no snapshot {path.name}; run with KMSTUI_UPDATE_SNAPSHOTS=1 and review it")
            return
        expected = path.read_text(encoding="utf-8").rstrip("\n")
        deadline = time.monotonic() + timeout  # background loads may still be settling on a loaded machine
        while (shown := screen_text(self.app)) != expected and time.monotonic() < deadline:
            await self.pilot.pause(0.1)
        if shown != expected:
            diff = difflib.unified_diff(expected.splitlines(), shown.splitlines(), "expected", "shown", lineterm="")
            self.problems.append(f"{path.name} differs:\n" + "\n".join(diff))


async def steady(app, pilot) -> None:
    await settle(pilot)
    app.theme = "dark"
    app.screen.query_one("#status").location = "hsm.kmstui"
    app.screen.set_focus(app.screen.query_one("#keys"))
    await settle(pilot)


def pretend_server(session, tmp_path, monkeypatch) -> None:
    """The state file and access log of a `kmstui serve` for this store, up 1h 2m, that answered three
    requests: an allowed Encrypt, a denied Decrypt whose principal carries a terminal escape (shown as
    text), and an unsigned request."""
    from kmstui.server import status

    started = time.time()
    monkeypatch.setattr(status, "now", lambda: started + 3723)
    log = tmp_path / "access-4599.jsonl"
    key = "arn:aws:kms:us-east-1:111122223333:key/00000001-1111-4222-8333-444455556666"
    rows = [("09:00:01", "arn:aws:iam::111122223333:user/app", "Encrypt", key, "allow", 200, None, 1.25),
            ("09:00:02", "arn:aws:iam::111122223333:user/mallory\x1b[2J", "Decrypt", key, "deny", 400,
             "AccessDeniedException", 2.5),
            ("09:00:03", None, "ListKeys", None, "unauthenticated", 400, "UnrecognizedClientException", 0.75)]
    with log.open("w") as fh:
        for n, (at, who, op, k, decision, code, error, ms) in enumerate(rows):
            fh.write(json.dumps({"time": f"2026-11-30T{at}Z", "requestId": f"0000000{n}-aaaa-4bbb-8ccc-dddddddddddd",
                                 "sourceIp": "127.0.0.1", "principal": who, "accessKeyId": None, "service": "kms",
                                 "operation": op, "key": k, "decision": decision, "status": code, "error": error,
                                 "latencyMs": ms}) + "\n")
    folder = status.state_dir(session)
    folder.mkdir(parents=True, exist_ok=True)
    status.state_path(folder, 1).write_text(json.dumps({
        "Pid": 1, "Url": "http://127.0.0.1:4599", "Host": "127.0.0.1", "Port": 4599,
        "Store": str(status.store_of(session)), "AccessLog": str(log), "Started": started, "Tls": False}))


async def back_to_keys(app, pilot) -> None:
    while len(app.screen_stack) > 1:
        app.pop_screen()
    await settle(pilot)
    app.screen.set_focus(app.screen.query_one("#keys"))
    await settle(pilot)


@pytest.mark.parametrize("size", list(SIZES))
async def test_every_screen_at_both_sizes(fixed_world, make_app, size, tmp_path, monkeypatch):
    app = make_app(fixed_world)
    async with app.run_test(size=SIZES[size], notifications=False) as pilot:
        await steady(app, pilot)
        snap = Snapshots(app, pilot, size)
        await snap.check("keys")

        tabs = app.screen.query_one("#detail-tabs")
        for tab in ("policy", "grants", "rotation", "aliases", "audit"):
            tabs.active = f"tab-{tab}"
            await snap.check(f"tab-{tab}")
        tabs.active = "tab-metadata"

        await pilot.press("colon")
        await pilot.press(*"alias list", "enter")
        await wait_until(pilot, lambda: "alias/sign" in screen_text(app) and "alias/old" in screen_text(app))
        await snap.check("console")
        await pilot.press("escape")

        await pilot.press("colon", *"key schedule-deletion alias/app --days 7", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await snap.check("confirm", wait_workers=False)
        await pilot.press("escape")
        await back_to_keys(app, pilot)

        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateKeyModal))
        await snap.check("create-key")
        await back_to_keys(app, pilot)

        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await snap.check("help")
        await back_to_keys(app, pilot)

        await pilot.press("ctrl+p")
        await pilot.press(*"open")  # the screens: palette entries this face owns
        await pilot.pause(0.5)
        await snap.check("palette")
        await back_to_keys(app, pilot)

        for name in ("envelope", "whatif", "advisor"):
            app.call_later(app.open_plugin_screen, name)
            await wait_until(pilot, lambda: app.screen.id == name)
            if name == "whatif":
                app.screen.query_one("#whatif-principal", Input).value = "arn:aws:iam::111122223333:role/app"
                app.screen.query_one("#whatif-action", Input).value = "Decrypt"
                app.screen.query_one("#whatif-evaluate").press()
                await wait_until(pilot, lambda: "ALLOW" in screen_text(app))
                app.screen.set_focus(None)
            await snap.check(name)
            await back_to_keys(app, pilot)

        pretend_server(fixed_world, tmp_path, monkeypatch)  # last: until now the header said "not serving"
        await wait_until(pilot, lambda: "serving http" in screen_text(app) or "serving :" in screen_text(app))
        await snap.check("keys-serving")
        await pilot.press("f7")
        await wait_until(pilot, lambda: getattr(app.screen, "serve_screen", False) and "ListKeys" in screen_text(app))
        await snap.check("serve")
        await back_to_keys(app, pilot)
        if snap.problems:
            pytest.fail("\n\n".join(snap.problems) + "\n\nIf the change is intended, re-run with "
                        "KMSTUI_UPDATE_SNAPSHOTS=1 and review the diff.", pytrace=False)
