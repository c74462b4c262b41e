"""`theme list` and `theme use` through the session, as every face runs them."""

from __future__ import annotations

import tomllib

import pytest

from kmstui.errors import UsageError
from kmstui.session import Session


@pytest.fixture
def session(kmstui_home):
    s = Session(load_plugins=False)
    yield s
    s.close()


def test_theme_list_marks_the_active_theme(session):
    result = session.execute(["theme", "list"])
    names = {row["Name"]: row for row in result.data["Themes"]}
    assert {"dark", "light", "high-contrast"} <= set(names)
    assert names["dark"]["Active"] and not names["light"]["Active"]
    assert result.data["Active"] == "dark"


def test_theme_use_persists_and_never_opens_a_backend(session):
    result = session.execute(["theme", "use", "high-contrast"])
    assert result.data["Theme"] == "high-contrast"
    saved = tomllib.loads(session.config.paths.config_file.read_text())
    assert saved["theme"] == "high-contrast"
    assert session.open_backends() == {}  # needs_backend=False: no HSM was created or unsealed
    assert session.execute(["theme", "list"]).data["Active"] == "high-contrast"


def test_theme_use_unknown_name_is_a_usage_error(session):
    with pytest.raises(UsageError, match="no theme named 'neon'.*known: dark"):
        session.execute(["theme", "use", "neon"])
    assert not session.config.paths.config_file.exists()
