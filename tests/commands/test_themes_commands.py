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


COMMENTED = """# kmstui configuration: my notes
default_profile = "local"   # the one I use

# colours
theme = "dark"

[profiles.local]
backend = "local"
# path = "/somewhere/hsm.kmstui"    # kept for later
"""


def test_every_command_that_writes_config_toml_keeps_its_comments(run_kmstui, kmstui_home):
    """theme use (the CLI, the REPL and the TUI palette all run it) edits config.toml in place. config init
    writes a new file and refuses to replace one without --force."""
    import tomllib

    from kmstui.config import Config

    path = Config.load().paths.config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(COMMENTED)
    for name in ("light", "high-contrast"):
        result = run_kmstui("theme", "use", name)
        assert result.code == 0, result.err
        assert path.read_text() == COMMENTED.replace('theme = "dark"', f'theme = "{name}"')
    path.write_text(COMMENTED.replace('theme = "dark"\n', ""))  # no theme line yet: one is added, nothing lost
    assert run_kmstui("theme", "use", "light").code == 0
    text = path.read_text()
    assert all(line in text for line in COMMENTED.replace('theme = "dark"\n', "").splitlines())
    assert tomllib.loads(text)["theme"] == "light"
    refused = run_kmstui("config", "init")
    assert refused.code == 252 and path.read_text() == text
