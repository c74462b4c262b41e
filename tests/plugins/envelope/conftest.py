"""Fixtures for the envelope plugin tests (helpers live in envelope_helpers.py)."""

from __future__ import annotations

import pytest

from envelope_helpers import Run, make_keyfiles


@pytest.fixture
def keyfiles(tmp_path):
    return make_keyfiles(tmp_path)


@pytest.fixture
def run():
    return Run


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    d = tmp_path / "work"
    d.mkdir()
    monkeypatch.chdir(d)
    return d
