"""Hook implementations of the advisor plugin: `advise`, `advise facts`, `advise questions`.

None of them touches a key store (needs_backend=False). The interactive path is the only one that imports
prompt_toolkit, and only when there is a terminal to ask on."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kmstui.commands.registry import Arg, Result, TableHint
from kmstui.errors import UsageError
from kmstui.hookspecs import hookimpl

FACTS_ARG = Arg("--facts", "use this facts file instead of the shipped one (same shape as data/facts.toml)",
                metavar="FILE", complete="file")


def _facts(args):
    from kmstui_advisor.facts import load_facts

    return load_facts(args.facts)


def _can_ask(session) -> bool:
    isatty = getattr(session.stdin, "isatty", None)
    return bool(session.interactive and isatty is not None and isatty())


def cmd_advise(session, args) -> Result:
    from kmstui_advisor.answers import check_target, dump_answers, load_answers, write_atomic
    from kmstui_advisor.engine import advise
    from kmstui_advisor.report import render_markdown, render_text

    outputs = [(args.save_answers, "--save-answers"), (args.report, "--report")]
    for path, what in outputs:  # before asking 18 questions, and before writing either file
        if path:
            check_target(path, force=args.force, what=what)
    if args.answers:
        raw: dict[str, Any] = load_answers(args.answers)
    elif _can_ask(session):
        from kmstui_advisor.interactive import ask_answers

        raw = ask_answers()
    else:
        raise UsageError("advise: no terminal to ask the questions on; pass --answers FILE.toml "
                         "(see 'advise questions' and docs/advisor.md)")
    facts = _facts(args)
    advice = advise(raw, facts)
    notes = [f"Recommendation: {advice.name(advice.primary)}"]
    if args.save_answers:
        path = write_atomic(args.save_answers, dump_answers(advice.answers), force=args.force, what="--save-answers")
        notes.append(f"wrote answers to {path}")
    if args.report:
        path = write_atomic(args.report, render_markdown(advice, facts), force=args.force, what="--report")
        notes.append(f"wrote report to {path}")
    data = advice.to_json()

    def priced() -> dict:
        """The options with their monthly cost as money is written: two decimals (15.90, not 15.9)."""
        rows = [{**o, "MonthlyCostUSD": None if o.get("MonthlyCostUSD") is None else f"{o['MonthlyCostUSD']:,.2f}"}
                for o in data["Options"]]
        return {"Options": rows}

    return Result(
        data=data,
        table=TableHint("Options", [("Option", "Name"), ("Viable", "Viable"), ("USD/month", "MonthlyCostUSD")],
                        source=priced),
        text=render_text(advice, facts),
        message="; ".join(notes),
    )


def cmd_facts(session, args) -> Result:
    facts = _facts(args)
    today = dt.date.today()
    rows = [{
        "Id": f.id, "Title": f.title, "Value": f.value, "Seen": f.seen.isoformat(), "AgeDays": f.age_days(today),
        "PossiblyStale": f.stale(today), "Status": f.status, "Sources": list(f.source), "Check": f.check,
    } for f in facts.facts.values()]
    lines = [f"Facts as of {facts.as_of.isoformat()} (today {today.isoformat()}; older than a year = possibly stale)", ""]
    for row in rows:
        flag = "  ** possibly stale **" if row["PossiblyStale"] else ""
        lines.append(f"{row['Id']}: {row['Value']}")
        lines.append(f"    {row['Title']}; seen {row['Seen']} ({row['AgeDays']} days ago){flag}; "
                     f"status {row['Status']}; sources {', '.join(row['Sources'])}")
        if row["Check"]:
            lines.append(f"    check: {row['Check']}")
    stale = sum(r["PossiblyStale"] for r in rows)
    return Result(
        data={"FactsAsOf": facts.as_of.isoformat(), "Today": today.isoformat(), "Facts": rows},
        table=TableHint("Facts", [("Id", "Id"), ("Value", "Value"), ("Seen", "Seen"),
                                  ("Stale", "PossiblyStale"), ("Status", "Status")]),
        text="\n".join(lines),
        message=f"{stale} fact(s) possibly stale" if stale else None,
    )


def cmd_questions(session, args) -> Result:
    from kmstui_advisor.questions import questions

    rows = [{
        "Id": q.id, "Name": q.name, "Text": q.text, "Type": q.type, "Allowed": q.accepts(),
        "Default": q.default_value(), "Help": q.help,
    } for q in questions()]
    lines = []
    for row in rows:
        lines += [f"{row['Id']} / {row['Name']}: {row['Text']}", f"    {row['Allowed']}",
                  f"    default: {row['Default']}", f"    {row['Help']}", ""]
    return Result(
        data={"Questions": rows},
        table=TableHint("Questions", [("Id", "Id"), ("Name", "Name"), ("Type", "Type"), ("Allowed", "Allowed")]),
        text="\n".join(lines),
    )


@hookimpl
def register_commands(registry):
    registry.describe_group("advise", "CloudHSM-vs-KMS decision helper")
    registry.command(
        "advise", "Recommend KMS, a custom key store, CloudHSM or Payment Cryptography, with reasons and costs",
        [
            Arg("--answers", "answer file (TOML; keys Q1..Q18 or readable names); without it, ask at the terminal",
                metavar="FILE", complete="file"),
            Arg("--report", "also write a markdown report for a design review", metavar="FILE", complete="file"),
            Arg("--save-answers", "write the answers used (defaults filled in) as TOML", metavar="FILE",
                complete="file"),
            Arg("--force", "overwrite --report/--save-answers files that exist", flag=True),
            FACTS_ARG,
        ],
        needs_backend=False,
        description="Answers questions Q1..Q18 (see 'advise questions') and recommends an AWS key-management "
                    "option, explaining every reason with its source and pricing each viable option.",
        examples=["advise --answers samples/advisor/startup-s3-rds.toml --output text",
                  "advise --answers team.toml --report decision.md --output json"],
    )(cmd_advise)
    registry.command("advise facts", "Show the dated facts behind the advice; flags ones older than a year",
                     [FACTS_ARG], needs_backend=False)(cmd_facts)
    registry.command("advise questions", "List the questions: ids, readable names, allowed answers, defaults",
                     [], needs_backend=False)(cmd_questions)


@hookimpl
def register_tui_screens(register):
    def advisor_screen(app):
        from kmstui_advisor.screens import AdvisorScreen

        return AdvisorScreen(app.session)

    register("advisor", "Advisor: KMS or CloudHSM?", advisor_screen, key="f6")
