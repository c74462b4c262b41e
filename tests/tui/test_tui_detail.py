"""Pilot tests of the key detail tabs: policy edit (invalid, then diff and save), grants create and revoke."""

from __future__ import annotations

import json

from textual.widgets import Button, DataTable, Input, Static, TextArea

from kmstui.tui.messages import CommandFailed, CommandFinished
from kmstui.tui.screens.modals import ConfirmModal
from kmstui.tui.widgets.policy import PolicyDiffModal, PolicyPane
from tui_helpers import SIZE, settle, wait_until


async def show_tab(app, pilot, tab: str):
    app.screen.query_one("#detail-tabs").active = f"tab-{tab}"
    await settle(pilot)


async def test_policy_edit_with_validation_error_then_valid_save(tui_session, make_app):
    tui_session.execute(["key", "create", "--alias", "alias/pol"])
    messages = []
    app = make_app(tui_session)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        await show_tab(app, pilot, "policy")
        pane = app.screen.query_one(PolicyPane)
        await wait_until(pilot, lambda: pane.stored != "")
        stored = json.loads(pane.stored)
        app.screen.query_one("#policy-edit").press()
        await pilot.pause()
        editor = pane.query_one(TextArea)
        assert pane.has_class("-editing") and json.loads(editor.text) == stored

        editor.load_text('{"Version": "2012-10-17", "Statement": [ {"Effect": "Allow",, } ]}')
        app.screen.query_one("#policy-save").press()
        await pilot.pause()
        error = str(pane.query_one("#policy-error", Static).render())
        assert "invalid JSON" in error and "line 1" in error
        assert not isinstance(app.screen, PolicyDiffModal)  # nothing is sent while the check fails

        new = dict(stored)
        new["Statement"] = stored["Statement"] + [{
            "Sid": "AllowAppDecrypt", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
            "Principal": {"AWS": "arn:aws:iam::111122223333:role/app"}}]
        editor.load_text(json.dumps(new, indent=2))
        app.screen.query_one("#policy-save").press()
        await pilot.pause()
        await wait_until(pilot, lambda: isinstance(app.screen, PolicyDiffModal))
        modal = app.screen
        diff = str(modal.query_one("#diff", Static).render())
        assert '+      "Sid": "AllowAppDecrypt",' in diff
        await wait_until(pilot, lambda: app.focused is modal.query_one("#typed", Input))
        assert modal.query_one("#confirm", Button).disabled
        await pilot.press(*"alias/po", "enter")  # a mismatch never saves
        await pilot.pause()
        assert app.screen is modal and "type it exactly" in str(modal.query_one("#error", Static).render())
        await pilot.press("l", "enter")
        await wait_until(pilot, lambda: any(isinstance(m, CommandFinished) and m.path == ("policy", "put")
                                            for m in messages))
        await settle(pilot)
        saved = json.loads(tui_session.backend().get_key_policy(KeyId="alias/pol", PolicyName="default")["Policy"])
        assert any(s.get("Sid") == "AllowAppDecrypt" for s in saved["Statement"])
        assert not pane.has_class("-editing")


async def test_grant_create_and_revoke(tui_session, make_app):
    key_id = tui_session.execute(["key", "create", "--alias", "alias/granted"]).data["KeyMetadata"]["KeyId"]
    if tui_session.registry.get(("grant", "create")) is None:
        import pytest

        pytest.skip("the grants plugin has no 'grant create' command yet")
    messages = []
    app = make_app(tui_session)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await settle(pilot)
        await show_tab(app, pilot, "grants")
        screen = app.screen
        screen.query_one("#grant-grantee", Input).value = "arn:aws:iam::111122223333:role/app"
        screen.query_one("#grant-operations", Input).value = "Encrypt, Decrypt"
        screen.query_one("#grant-name", Input).value = "app-decrypt"
        screen.query_one("#grant-create", Button).press()
        await wait_until(pilot, lambda: any(isinstance(m, (CommandFinished, CommandFailed)) and m.origin == "grants"
                                            for m in messages))
        assert not [m.error for m in messages if isinstance(m, CommandFailed)]
        await settle(pilot)
        table = screen.query_one("#grant-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 1)
        grants = tui_session.backend().list_grants(KeyId=key_id)["Grants"]
        assert len(grants) == 1 and sorted(grants[0]["Operations"]) == ["Decrypt", "Encrypt"]
        assert table.get_row_at(0)[0].plain == "app-decrypt"

        screen.query_one("#grant-revoke", Button).press()
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await wait_until(pilot, lambda: app.focused is app.screen.query_one("#typed", Input))
        await pilot.press(*"alias/granted", "enter")
        await wait_until(pilot, lambda: not tui_session.backend().list_grants(KeyId=key_id)["Grants"])
        await settle(pilot)
        await wait_until(pilot, lambda: table.row_count == 0)
