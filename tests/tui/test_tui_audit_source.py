"""Audit records say where a call came from: the TUI reading to draw a screen, or a user's command. Every
call stays audited; the Audit tab hides screen reads unless asked. The tag sits in CloudTrail's
additionalEventData, which the CloudTrail record reference describes as "Additional data about the event
that was not part of the request or response"
(https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from textual.widgets import Checkbox, Static

from kmstui.audit import read_events
from kmstui.tui import loaders
from tui_helpers import settle, wait_until


def events(session) -> list[dict]:
    return list(read_events(Path(session.backend().info().extra["audit_log"])))


async def test_browsing_is_tagged_screen_and_hidden_in_the_audit_tab(tui_session, make_app):
    key_id = tui_session.execute(["key", "create", "--alias", "alias/au"]).data["KeyMetadata"]["KeyId"]
    app = make_app(tui_session)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot)
        tabs = app.screen.query_one("#detail-tabs")
        for tab in ("policy", "aliases", "audit"):
            tabs.active = f"tab-{tab}"
            await settle(pilot)
        lines = app.screen.query_one("#audit-lines", Static)
        await wait_until(pilot, lambda: "CreateKey" in str(lines.render()))
        shown = str(lines.render())
        assert "GetKeyPolicy" not in shown and "screen read" in shown  # hidden, and says so
        app.screen.query_one("#audit-screen-reads", Checkbox).toggle()
        await pilot.pause()
        assert "GetKeyPolicy" in str(lines.render())
    by_name: dict[str, set] = {}
    for event in events(tui_session):
        by_name.setdefault(event["eventName"], set()).add((event.get("additionalEventData") or {}).get("source"))
    assert by_name["GetKeyPolicy"] == {"screen"} and "screen" in by_name["ListResourceTags"]
    assert by_name["CreateKey"] == {"command"}  # every call audited, each with where it came from
    assert key_id


def test_usage_chart_counts_commands_per_operation_per_day():
    arn = "arn:aws:kms:us-east-1:111122223333:key/k1"

    def ev(name, day, source="command"):
        return {"eventName": name, "eventTime": f"2026-11-{day:02d}T10:00:00Z", "resources": [{"ARN": arn}],
                "additionalEventData": {"source": source}}

    data = loaders.key_audit([ev("Encrypt", 30), ev("Encrypt", 30), ev("Decrypt", 29), ev("GetKeyPolicy", 30, "screen"),
                              ev("Encrypt", 1)], "k1", until=dt.date(2026, 11, 30), days=30)
    assert data.usage["Encrypt"][-1] == 2 and data.usage["Encrypt"][0] == 1 and data.usage["Decrypt"][-2] == 1
    assert "GetKeyPolicy" not in data.usage  # screen reads are not use
    assert sum(1 for _line, screen in data.lines if screen) == 1
