"""The decision model of data/rules.toml: a small condition language, option viability and the rules.

Conditions are plain tables (see the header of rules.toml) so that a rule can be changed, added or
reordered without touching code."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Mapping

from kmstui_advisor import datafiles
from kmstui_advisor.model import OPTION_IDS, OptionAdvice

_COMPARE = {
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}


def holds(cond: Mapping[str, Any], answers: Mapping[str, Any], fired: Iterable[str] = ()) -> bool:
    """Whether condition `cond` is true for `answers` (normalized, keyed by id)."""
    if "any" in cond:
        return any(holds(c, answers, fired) for c in cond["any"])
    if "all" in cond:
        return all(holds(c, answers, fired) for c in cond["all"])
    if "not" in cond:
        return not holds(cond["not"], answers, fired)
    if "fired" in cond:
        return cond["fired"] in set(fired)
    value = answers[cond["q"]]
    if "field" in cond:
        value = value[cond["field"]]
    for op, fn in _COMPARE.items():
        if op in cond:
            return fn(value, cond[op])
    if "has" in cond:
        return cond["has"] in value
    if "lacks" in cond:
        return cond["lacks"] not in value
    if "has_any" in cond:
        return any(v in value for v in cond["has_any"])
    if "eq" in cond:
        return value == cond["eq"]
    if "ne" in cond:
        return value != cond["ne"]
    if "in" in cond:
        return value in cond["in"]
    raise ValueError(f"condition has no operator: {dict(cond)!r}")


def cite(text: str, sources: Iterable[str]) -> str:
    tags = "".join(f"[{s}]" for s in sources)
    return f"{text} {tags}".rstrip()


@dataclass(frozen=True)
class Rule:
    id: str
    when: Mapping[str, Any]
    reason: str = ""
    sources: tuple[str, ...] = ()
    recommend: str | None = None
    terminal: bool = False
    otherwise: bool = False
    option: str | None = None  # for warning-only rules
    warning: str | None = None
    also: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Model:
    options: Mapping[str, Mapping[str, Any]]
    kms_partial: tuple[Mapping[str, Any], ...]
    rules: tuple[Rule, ...]


@lru_cache(maxsize=1)
def model() -> Model:
    data = datafiles.load("rules.toml")
    rules = tuple(
        Rule(id=r["id"], when=r["when"], reason=r.get("reason", ""), sources=tuple(r.get("sources", ())),
             recommend=r.get("recommend"), terminal=r.get("terminal", False), otherwise=r.get("otherwise", False),
             option=r.get("option"), warning=r.get("warning"), also=tuple(r.get("also", ())))
        for r in data["rule"]
    )
    return Model(data["options"], tuple(data.get("kms_partial", ())), rules)


KMS_FAMILY = ("kms_standard", "kms_imported", "kms_cloudhsm_ks", "kms_xks")


def assess_options(answers: Mapping[str, Any]) -> dict[str, OptionAdvice]:
    """Every option with its viability: not serving any stated need, or blocked by a requirement."""
    m = model()
    out: dict[str, OptionAdvice] = {}
    for oid in OPTION_IDS:
        spec = m.options[oid]
        opt = OptionAdvice(oid, spec["name"], spec.get("summary", ""))
        if not holds(spec["serves"], answers):
            opt.block("Not viable: " + cite(spec["serves_reason"], spec.get("serves_sources", ())))
        for blocker in spec.get("blocker", ()):
            if holds(blocker["when"], answers):
                opt.block("Not viable: " + cite(blocker["reason"], blocker.get("sources", ())))
        partials = list(spec.get("partial", ()))
        if oid in KMS_FAMILY:
            partials.extend(m.kms_partial)
        if opt.viable:
            for partial in partials:
                if holds(partial["when"], answers):
                    opt.warn("Covers only part of the keys: " + cite(partial["reason"], partial.get("sources", ())))
        out[oid] = opt
    return out


@dataclass
class Decision:
    primary: str | None = None
    recommended: list[str] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)

    def add(self, option: str) -> None:
        if option not in self.recommended:
            self.recommended.append(option)
        if self.primary is None:
            self.primary = option


def decide(answers: Mapping[str, Any], options: dict[str, OptionAdvice]) -> Decision:
    """Run the rules in order; attach each fired rule's reason to its option and build the recommendation."""
    decision = Decision()
    decided = False
    for rule in model().rules:
        if rule.otherwise and decided:
            continue
        if not holds(rule.when, answers, decision.fired):
            continue
        decision.fired.append(rule.id)
        if rule.warning and rule.option:
            options[rule.option].warn(f"{rule.id}: " + cite(rule.warning, rule.sources))
        if rule.recommend is None:
            continue
        options[rule.recommend].reasons.append(f"{rule.id}: " + cite(rule.reason, rule.sources))
        if decided:
            continue
        decision.add(rule.recommend)
        for extra in rule.also:
            if holds(extra["when"], answers, decision.fired):
                decision.add(extra["option"])
                options[extra["option"]].reasons.append(f"{rule.id}: " + cite(extra["reason"], extra.get("sources", ())))
        decided = rule.terminal
    return decision
