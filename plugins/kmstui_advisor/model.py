"""The advice a run produces: one entry per option, with reasons, warnings and a costed breakdown."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

# Display order of the options (also the order of "Options" in the JSON output).
OPTION_IDS = (
    "kms_standard",
    "kms_imported",
    "kms_cloudhsm_ks",
    "kms_xks",
    "cloudhsm_direct",
    "payment_cryptography",
    "none_qualifies",
)


@dataclass
class CostLine:
    """One priced item: what it is, the formula, the numbers that went into it, and the result."""

    item: str
    formula: str
    inputs: dict[str, Any]
    usd: float

    def to_json(self) -> dict[str, Any]:
        return {"Item": self.item, "Formula": self.formula, "Inputs": dict(self.inputs), "USD": round(self.usd, 2)}


@dataclass
class OptionAdvice:
    id: str
    name: str
    summary: str = ""
    viable: bool = True
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cost: float | None = None
    breakdown: list[CostLine] = field(default_factory=list)

    def block(self, reason: str) -> None:
        self.viable = False
        self.reasons.append(reason)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def to_json(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Viable": self.viable,
            "Reasons": list(self.reasons),
            "Warnings": list(self.warnings),
            "MonthlyCostUSD": None if self.cost is None else round(self.cost, 2),
            "CostBreakdown": [line.to_json() for line in self.breakdown],
        }


@dataclass
class Advice:
    """The result of `advise`: the primary option, every recommended option, and all options assessed."""

    primary: str
    recommended: list[str]
    options: dict[str, OptionAdvice]
    facts_as_of: dt.date
    answers: dict[str, Any]
    fired: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def name(self, option_id: str) -> str:
        return self.options[option_id].name

    def to_json(self) -> dict[str, Any]:
        return {
            "Recommendation": self.name(self.primary),
            "Recommended": [self.name(o) for o in self.recommended],
            "Options": [self.options[o].to_json() for o in OPTION_IDS],
            "FactsAsOf": self.facts_as_of.isoformat(),
        }
