"""Pilot tests of the envelope screen: encrypt with progress, cancel, inspect (unverified) and verify."""

from __future__ import annotations

import os

import pytest
from textual.widgets import Input, ProgressBar, Static, Tree

from kmstui.tui.messages import CommandFailed, CommandFinished
from tui_helpers import SIZE, settle, wait_until

envelope_screens = pytest.importorskip("kmstui_envelope.screens", reason="envelope plugin not installed")


async def open_envelope(app, pilot):
    # Opened from the app's own task (as a key binding would), so message_hook sees the screen's messages.
    if "envelope" in app.plugin_screens:
        app.call_later(app.open_plugin_screen, "envelope")
    else:
        app.call_later(app.push_screen, envelope_screens.EnvelopeScreen(app.session))
    await wait_until(pilot, lambda: isinstance(app.screen, envelope_screens.EnvelopeScreen))
    await pilot.pause()
    return app.screen


def fill(screen, **fields):
    for name, value in fields.items():
        screen.query_one(f"#envelope-{name}", Input).value = value


async def test_encrypt_a_file_with_progress_then_inspect_and_verify(tui_session, make_app, tmp_path):
    tui_session.execute(["key", "create", "--alias", "alias/files"])
    src = tmp_path / "data.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    messages = []
    app = make_app(tui_session)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        screen = await open_envelope(app, pilot)
        fill(screen, files=str(src), keys="alias/files", context="dept=finance", out=str(tmp_path / "data.bin.enc"))
        screen.query_one("#envelope-encrypt").press()
        await wait_until(pilot, lambda: any(isinstance(m, (CommandFinished, CommandFailed))
                                            and m.origin == "envelope-encrypt" for m in messages), timeout=60)
        await settle(pilot)
        assert not [m for m in messages if isinstance(m, CommandFailed)], [m.error for m in messages
                                                                            if isinstance(m, CommandFailed)]
        updates = [m for m in messages if isinstance(m, envelope_screens.ProgressUpdate)]
        assert updates and updates[-1].done == updates[-1].total == src.stat().st_size
        bar = screen.query_one(ProgressBar)
        assert bar.total == src.stat().st_size and bar.progress == bar.total
        assert "MiB" in str(screen.query_one("#envelope-rate", Static).render())
        enc = tmp_path / "data.bin.enc"
        assert enc.exists() and enc.stat().st_size > src.stat().st_size

        fill(screen, files=str(enc))
        screen.query_one("#envelope-inspect").press()
        await wait_until(pilot, lambda: "UNVERIFIED" in str(screen.query_one("#inspect-note", Static).render()))
        tree = screen.query_one(Tree)
        labels = []

        def walk(node):
            labels.append(node.label.plain)
            for child in node.children:
                walk(child)

        walk(tree.root)
        assert any("dept" in label and "finance" in label for label in labels)
        assert any("alias" in label or "arn:aws:kms" in label for label in labels)

        screen.query_one("#envelope-verify").press()
        await wait_until(pilot, lambda: "Verified" in str(screen.query_one("#inspect-note", Static).render()),
                         timeout=30)

        # The round trip through the real command: decrypt gives the original bytes back.
        back = tmp_path / "back.bin"
        tui_session.execute(["envelope", "decrypt", str(enc), "--out", str(back)])
        assert back.read_bytes() == src.read_bytes()


async def test_cancel_leaves_no_output(tui_session, make_app, tmp_path):
    tui_session.execute(["key", "create", "--alias", "alias/files"])
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(64 * 1024 * 1024))
    out = tmp_path / "big.bin.enc"
    messages = []
    app = make_app(tui_session)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        screen = await open_envelope(app, pilot)
        fill(screen, files=str(src), keys="alias/files", out=str(out))
        screen.query_one("#envelope-encrypt").press()
        await wait_until(pilot, lambda: any(isinstance(m, envelope_screens.ProgressUpdate) for m in messages),
                         timeout=30)
        screen.query_one("#envelope-cancel").press()
        await wait_until(pilot, lambda: any(isinstance(m, (CommandFinished, CommandFailed))
                                            and m.origin == "envelope-encrypt" for m in messages), timeout=60)
        failed = [m for m in messages if isinstance(m, CommandFailed) and m.origin == "envelope-encrypt"]
        assert failed and "cancelled" in failed[0].error
        assert not out.exists()
        assert not [p for p in tmp_path.iterdir() if p.name not in ("big.bin", "kmstui-home")]
