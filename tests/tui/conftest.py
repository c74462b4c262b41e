"""Fixtures for the TUI tests: a real local HSM file, a session on it, and the app under Pilot."""

from __future__ import annotations

import pytest
from textual.widgets import Input

TEST_PASSPHRASE = "correct horse battery staple"  # as in tests/conftest.py
from kmstui.config import Config
from kmstui.session import Options, Session

@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch):
    """Deterministic screenshots: a blinking cursor would make them differ from run to run."""
    monkeypatch.setattr(Input, "cursor_blink", False)


@pytest.fixture
def hsm_file(kmstui_home):
    """A real local HSM file, created with the test passphrase and closed again (sealed at rest)."""
    from kmstui.backends.local.unseal import create_hsm

    config = Config.load()
    path = config.paths.data_dir / "hsm.kmstui"
    path.parent.mkdir(parents=True, exist_ok=True)
    store, _keys = create_hsm(path, TEST_PASSPHRASE, account_id="111122223333", region="us-east-1")
    store.close()
    return path


@pytest.fixture
def tui_session(hsm_file, monkeypatch):
    """A session that unseals the HSM from KMSTUI_PASSPHRASE (no prompt)."""
    monkeypatch.setenv("KMSTUI_PASSPHRASE", TEST_PASSPHRASE)
    session = Session(interactive=True)
    yield session
    session.close()


@pytest.fixture
def read_only_session(hsm_file, monkeypatch):
    monkeypatch.setenv("KMSTUI_PASSPHRASE", TEST_PASSPHRASE)
    session = Session(options=Options(read_only=True), interactive=True)
    yield session
    session.close()


@pytest.fixture
def make_app():
    from kmstui.tui.app import KmstuiApp

    def make(session, **kw):
        return KmstuiApp(session, **kw)

    return make
