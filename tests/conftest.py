"""Shared fixtures: an isolated KMSTUI_HOME for every test, an unsealed local HSM, a SoftHSM2 token and a
moto server on 127.0.0.1. Real components only; each fixture skips nothing silently."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
KMSTUI = [sys.executable, "-m", "kmstui"]
TEST_PASSPHRASE = "correct horse battery staple"


@pytest.fixture(autouse=True)
def kmstui_home(tmp_path, monkeypatch):
    """Every test gets its own config and state folder, and no ambient kmstui settings."""
    home = tmp_path / "kmstui-home"
    monkeypatch.setenv("KMSTUI_HOME", str(home))
    for var in ("KMSTUI_PROFILE", "KMSTUI_PASSPHRASE", "KMSTUI_AS", "KMSTUI_PLUGINS", "KMSTUI_OUTPUT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    return home
