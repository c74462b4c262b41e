"""Dated facts: loaded from the package, with date and source; stale ones (over a year) flagged."""

from __future__ import annotations

import datetime as dt
import re
from importlib import resources

import pytest

from kmstui.errors import ConfigError
from kmstui_advisor import advise, load_facts
from kmstui_advisor.facts import STALE_AFTER_DAYS

FACTS = load_facts()


def test_every_fact_has_date_source_and_known_status():
    for fact in FACTS.facts.values():
        assert isinstance(fact.seen, dt.date)
        assert fact.source, fact.id
        assert all(s in FACTS.sources for s in fact.source), fact.id
        assert fact.status in {"reference", "verified", "corrected", "unverified"}
        if fact.status != "reference":
            assert fact.check, f"{fact.id}: a checked fact says what the check found"


def test_staleness_is_a_year():
    fact = FACTS["kms_key_month"]
    assert not fact.stale(fact.seen + dt.timedelta(days=STALE_AFTER_DAYS))
    assert fact.stale(fact.seen + dt.timedelta(days=STALE_AFTER_DAYS + 1))
    assert FACTS["kms_symmetric_rps_top_tier"].stale(dt.date(2026, 11, 29))


def test_corrected_payment_price_is_used():
    assert FACTS.num("payment_crypto_per_10k") == 2.00 and FACTS["payment_crypto_per_10k"].status == "corrected"


def test_replacement_facts_file_changes_the_prices(tmp_path):
    shipped = resources.files("kmstui_advisor").joinpath("data", "facts.toml").read_text(encoding="utf-8")
    changed, n = re.subn(r'(id = "kms_key_month"\ntitle = "[^"]*"\nvalue = )1\.00', r"\g<1>2.00", shipped)
    assert n == 1
    path = tmp_path / "facts.toml"
    path.write_text(changed, encoding="utf-8")
    facts = load_facts(path)
    assert facts.num("kms_key_month") == 2.00
    assert advise({"Q13": {"keys": 3}}, facts).options["kms_standard"].cost == pytest.approx(6.00)


def test_bad_facts_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_facts(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('[[fact]]\nid = "x"\ntitle = "t"\nvalue = 1\nseen = "yesterday"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="not a valid facts file"):
        load_facts(bad)


def test_facts_file_that_is_a_folder_or_unreadable_is_one_config_error(tmp_path):
    """A folder given as --facts was an internal IsADirectoryError (exit 255) before the facts file went
    through the core's bounded reader."""
    with pytest.raises(ConfigError, match="is a folder; give the facts file"):
        load_facts(tmp_path)
    with pytest.raises(ConfigError, match="a file name cannot contain a NUL character"):
        load_facts("facts\x00.toml")
