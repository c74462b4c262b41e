"""Dated facts (prices, quotas, certificates) with the day each was seen and its source.

Facts live in data/facts.toml so they can be updated without code changes. A fact whose `seen` date is
more than a year before today is flagged as possibly stale."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmstui.errors import ConfigError
from kmstui_advisor import datafiles

STALE_AFTER_DAYS = 365


@dataclass(frozen=True)
class Fact:
    id: str
    title: str
    value: Any
    seen: dt.date
    source: tuple[str, ...]
    status: str = "reference"
    check: str = ""
    by_region: dict[str, Any] = field(default_factory=dict)
    regions: tuple[str, ...] = ()

    def age_days(self, today: dt.date) -> int:
        return (today - self.seen).days

    def stale(self, today: dt.date) -> bool:
        return self.age_days(today) > STALE_AFTER_DAYS


@dataclass(frozen=True)
class Facts:
    facts: dict[str, Fact]
    sources: dict[str, str]

    def __getitem__(self, fact_id: str) -> Fact:
        return self.facts[fact_id]

    def num(self, fact_id: str) -> float:
        """A numeric fact's value (int stays int)."""
        value = self.facts[fact_id].value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"fact {fact_id} is not a number: {value!r}")
        return value

    @property
    def as_of(self) -> dt.date:
        """The latest `seen` date: when the fact set was last checked (stale facts are flagged one by one)."""
        return max(f.seen for f in self.facts.values())

    def hsm_hour_price(self, region: str) -> tuple[float, bool]:
        """CloudHSM price per HSM-hour for `region`, and whether the Region had its own figure."""
        fact = self.facts["cloudhsm_hsm_hour"]
        if region in fact.by_region:
            return float(fact.by_region[region]), True
        return float(fact.value), False

    def kms_symmetric_quota(self, region: str) -> int:
        top = self.facts["kms_symmetric_rps_top_tier"]
        if region in top.regions:
            return int(top.value)
        fact = self.facts["kms_symmetric_rps"]
        return int(fact.by_region.get(region, fact.value))

    def stale(self, today: dt.date) -> list[Fact]:
        return [f for f in self.facts.values() if f.stale(today)]


def _fact(raw: dict[str, Any]) -> Fact:
    seen = raw["seen"]
    if isinstance(seen, dt.datetime):
        seen = seen.date()
    if not isinstance(seen, dt.date):
        raise ValueError(f"fact {raw.get('id')}: 'seen' must be a TOML date, got {seen!r}")
    return Fact(
        id=raw["id"], title=raw["title"], value=raw["value"], seen=seen, source=tuple(raw.get("source", ())),
        status=raw.get("status", "reference"), check=raw.get("check", ""),
        by_region=dict(raw.get("by_region", {})), regions=tuple(raw.get("regions", ())),
    )


def parse_facts(data: dict[str, Any]) -> Facts:
    facts = {}
    for raw in data.get("fact", []):
        fact = _fact(raw)
        facts[fact.id] = fact
    return Facts(facts, dict(data.get("sources", {})))


def load_facts(path: str | Path | None = None) -> Facts:
    """The shipped facts, or a replacement facts file (same shape) given by `path`."""
    if path is None:
        return parse_facts(datafiles.load("facts.toml"))
    data = datafiles.read_user_toml(path, "--facts", "facts file", ConfigError)
    try:
        return parse_facts(data)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"facts file {path} is not a valid facts file ({exc})") from None
