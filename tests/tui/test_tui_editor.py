"""$EDITOR hand-off from the policy tab, with a scripted editor: a small program given as EDITOR that edits
the file the TUI hands it, as a user's editor would. Pilot's headless driver cannot give the terminal away,
so App.suspend is the one part replaced; the editor process, the temporary file and the review are real."""

from __future__ import annotations

import contextlib
import json
import sys

import pytest
from textual.widgets import Static, TextArea

from kmstui.tui.app import KmstuiApp
from kmstui.tui.messages import CommandFinished
from kmstui.tui.widgets.policy import PolicyDiffModal, PolicyPane
from tui_helpers import SIZES, settle, wait_until

EDITOR = """\
import json, sys
path = sys.argv[1]
with open(path) as f:
    doc = json.load(f)
doc["Statement"].append({"Sid": "FromEditor", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
                         "Principal": {"AWS": "arn:aws:iam::111122223333:role/app"}})
with open(path, "w") as f:
    json.dump(doc, f, indent=2)
"""


@pytest.fixture
def no_terminal_handover(monkeypatch):
    monkeypatch.setattr(KmstuiApp, "suspend", lambda self: contextlib.nullcontext())


@pytest.mark.parametrize("size", list(SIZES))
async def test_scripted_editor_edits_the_policy_then_review_saves_it(tui_session, make_app, tmp_path, monkeypatch,
                                                                     no_terminal_handover, size):
    script = tmp_path / "editor.py"
    script.write_text(EDITOR)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    tui_session.execute(["key", "create", "--alias", "alias/ed"])
    messages = []
    app = make_app(tui_session)
    async with app.run_test(size=SIZES[size], message_hook=messages.append) as pilot:
        await settle(pilot)
        app.screen.query_one("#detail-tabs").active = "tab-policy"
        pane = app.screen.query_one(PolicyPane)
        await wait_until(pilot, lambda: pane.stored != "")
        app.screen.query_one("#policy-external").press()
        await wait_until(pilot, lambda: pane.has_class("-editing"))
        edited = json.loads(pane.query_one(TextArea).text)
        assert edited["Statement"][-1]["Sid"] == "FromEditor"  # what the editor wrote is in the TUI's editor
        app.screen.query_one("#policy-save").press()
        await wait_until(pilot, lambda: isinstance(app.screen, PolicyDiffModal))
        assert '"Sid": "FromEditor"' in str(app.screen.query_one("#diff", Static).render())
        await pilot.press(*"alias/ed", "enter")
        await wait_until(pilot, lambda: any(isinstance(m, CommandFinished) and m.path == ("policy", "put")
                                            for m in messages))
    saved = json.loads(tui_session.backend().get_key_policy(KeyId="alias/ed", PolicyName="default")["Policy"])
    assert saved["Statement"][-1]["Sid"] == "FromEditor"
    assert not list(tmp_path.glob("kmstui-policy-*"))


async def test_editor_that_fails_changes_nothing(tui_session, make_app, monkeypatch, no_terminal_handover):
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", f"{sys.executable} -c 'import sys; sys.exit(3)'")
    tui_session.execute(["key", "create", "--alias", "alias/ed"])
    app = make_app(tui_session)
    async with app.run_test(size=SIZES["80x24"]) as pilot:
        await settle(pilot)
        app.screen.query_one("#detail-tabs").active = "tab-policy"
        pane = app.screen.query_one(PolicyPane)
        await wait_until(pilot, lambda: pane.stored != "")
        app.screen.query_one("#policy-external").press()
        await wait_until(pilot, lambda: any("exited with status 3" in n.message for n in app._notifications))
        assert not pane.has_class("-editing")
