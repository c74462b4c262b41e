"""Shared helpers of the adversarial campaign: an attacker's raw access to an HSM file (no kmstui, no key)."""

from __future__ import annotations

import sqlite3

import pytest


def attack(path, *statements: str, params: tuple = ()) -> None:
    """Run SQL against the file as an attacker with write access would (plain sqlite3, no passphrase)."""
    conn = sqlite3.connect(str(path))
    try:
        for statement in statements:
            conn.execute(statement, params) if params else conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def attacker():
    return attack
