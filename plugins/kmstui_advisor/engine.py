"""advise(answers, facts) -> Advice: the whole decision as one pure function, so the CLI, the report and a
live TUI form all compute the same thing from the same answers."""

from __future__ import annotations

from typing import Any, Mapping

from kmstui_advisor import costs
from kmstui_advisor.checks import Context, run_checks
from kmstui_advisor.facts import Facts, load_facts
from kmstui_advisor.model import Advice
from kmstui_advisor.questions import normalize
from kmstui_advisor.rules import assess_options, decide


def advise(answers: Mapping[str, Any], facts: Facts | None = None) -> Advice:
    """Recommend, explain and price. `answers` may use ids or readable names and may leave questions out
    (defaults apply); bad answers raise UsageError naming the question and what it allows."""
    facts = facts if facts is not None else load_facts()
    a = normalize(answers)
    options = assess_options(a)
    decision = decide(a, options)
    notes: list[str] = []
    for oid in list(decision.recommended):
        if not options[oid].viable:
            decision.recommended.remove(oid)
            notes.append(f"{options[oid].name} was chosen by a rule but is ruled out by another answer; dropped.")
    ctx = Context(a, facts, options, decision)
    if not decision.recommended:
        ctx.withdraw("", "No option serves the stated needs: check Q4 (consumers) and Q5 (use cases).")
    decision.primary = decision.primary if decision.primary in decision.recommended else decision.recommended[0]
    run_checks(ctx)
    for oid, opt in options.items():
        if opt.viable:
            opt.cost, opt.breakdown = costs.price(oid, a, facts)
    return Advice(primary=decision.primary, recommended=list(decision.recommended), options=options,
                  facts_as_of=facts.as_of, answers=a, fired=decision.fired + ctx.fired, notes=notes + ctx.notes)
