"""The advisor plugin's TUI screen: the questionnaire as a form (one widget per question, built from the
plugin's question data) beside a live recommendation that `advise(answers, facts)` recomputes on every
change. The engine is pure and takes milliseconds, so it runs inline; nothing here touches a key store."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Label, Select, SelectionList, Static

from kmstui.errors import KmstuiError
from kmstui.tui.widgets.footer import KeyFooter
from kmstui_advisor.engine import advise
from kmstui_advisor.facts import load_facts
from kmstui_advisor.model import Advice
from kmstui_advisor.questions import Question, questions
from kmstui_advisor.report import money


class AdviceUpdated(Message):
    """Posted each time the recommendation is recomputed (advice is None when an answer is invalid)."""

    def __init__(self, advice: Advice | None, error: str = "") -> None:
        super().__init__()
        self.advice, self.error = advice, error


def _widget_id(q: Question, part: str = "") -> str:
    return f"q-{q.id}" + (f"-{part}" if part else "")


def recommendation_text(advice: Advice) -> Text:
    """The panel's content: recommended options first, each with reasons, warnings and monthly cost."""
    out = Text()
    out.append("Recommendation: ", style="bold")
    out.append(advice.name(advice.primary) + "\n", style="bold")
    for oid in advice.recommended:
        opt = advice.options[oid]
        out.append(f"\n{opt.name}", style="bold")
        out.append(f"  ~{money(opt.cost)}/month\n" if opt.cost is not None else "\n")
        for reason in opt.reasons:
            out.append(f"  - {reason}\n")
        for warning in opt.warnings:
            out.append(f"  ! {warning}\n", style="italic")
    viable = [o for o in advice.options.values() if o.viable and o.id not in advice.recommended]
    if viable:
        out.append("\nAlso viable:\n", style="bold")
        for opt in viable:
            cost = "" if opt.cost is None else f"  ~{money(opt.cost)}/month"
            out.append(f"  {opt.name}{cost}\n")
    for note in advice.notes:
        out.append(f"\nNote: {note}\n", style="italic")
    out.append(f"\nPrices as of {advice.facts_as_of.isoformat()} ('advise facts' lists sources).\n", style="dim")
    return out


class AdvisorScreen(Screen):
    HELP = """\
## Advisor: KMS or CloudHSM?
Answer the questions on the left (Tab moves between them); the recommendation on the right follows every
change: the options that fit, why, warnings, and the estimated monthly cost. Numbers must be plain numbers.
The same answers give the same result as the `advise` command.
"""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="advisor.back")]

    # Narrow terminals (app class -narrow): the recommendation goes under the form instead of beside it,
    # and question text wraps rather than running off the edge.
    SCOPED_CSS = False
    DEFAULT_CSS = """
    AdvisorScreen #advisor-body { height: 1fr; }
    AdvisorScreen #advisor-form { width: 1fr; padding: 0 1; }
    AdvisorScreen #advisor-result { width: 1fr; border-left: solid $panel; padding: 0 1; }
    AdvisorScreen .question { margin-top: 1; text-style: bold; width: 100%; }
    AdvisorScreen .help { color: $text-muted; width: 100%; }
    AdvisorScreen SelectionList { height: auto; max-height: 8; }
    AdvisorScreen .part { height: auto; }
    AdvisorScreen .part Label { width: 28; padding-top: 1; }
    AdvisorScreen .part Input { width: 1fr; }
    AdvisorScreen #advisor-error { color: $error; height: auto; }
    .-narrow AdvisorScreen #advisor-body { layout: vertical; }
    .-narrow AdvisorScreen #advisor-form { width: 100%; height: 3fr; }
    .-narrow AdvisorScreen #advisor-result { width: 100%; height: 2fr; border-left: none; border-top: solid $panel; }
    .-narrow AdvisorScreen .part Label { width: 18; }
    """

    def __init__(self, session=None) -> None:
        super().__init__(id="advisor")
        self.session = session
        self.facts = load_facts()
        self.questions = questions()
        self.advice: Advice | None = None
        self.error = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="advisor-body"):
            with VerticalScroll(id="advisor-form"):
                for q in self.questions:
                    yield Label(f"{q.id}. {q.text}", classes="question", markup=False)
                    if q.help:
                        yield Label(q.help, classes="help", markup=False)
                    yield from self._field(q)
            with Vertical(id="advisor-result"):
                yield Static("", id="advisor-error", markup=False)
                with VerticalScroll():
                    yield Static("", id="advisor-advice", markup=False)
        yield KeyFooter()

    def _field(self, q: Question) -> ComposeResult:
        if q.type == "choice":
            yield Select([(v, v) for v in q.allowed], value=q.default, allow_blank=False, id=_widget_id(q))
        elif q.type == "multi":
            chosen = set(q.default_value())
            yield SelectionList[str](*[(v, v, v in chosen) for v in q.allowed if v != "none"], id=_widget_id(q))
        else:
            for part in q.parts:
                with Horizontal(classes="part"):
                    yield Label(part.name, markup=False)
                    yield Input(str(part.default), id=_widget_id(q, part.name),
                                type="text" if part.type == "str" else "number")

    def on_mount(self) -> None:
        self.recompute()

    def answers(self) -> dict[str, Any]:
        """The form's current answers keyed by question id (numbers parsed; the engine checks ranges)."""
        out: dict[str, Any] = {}
        for q in self.questions:
            if q.type == "choice":
                out[q.id] = self.query_one(f"#{_widget_id(q)}", Select).value
            elif q.type == "multi":
                out[q.id] = list(self.query_one(f"#{_widget_id(q)}", SelectionList).selected)
            else:
                table: dict[str, Any] = {}
                for part in q.parts:
                    raw = self.query_one(f"#{_widget_id(q, part.name)}", Input).value.strip()
                    table[part.name] = raw if part.type == "str" else _number(raw)
                out[q.id] = table
        return out

    def recompute(self) -> None:
        try:
            self.advice, self.error = advise(self.answers(), self.facts), ""
        except (KmstuiError, ValueError) as exc:
            self.error = str(exc)
        self.query_one("#advisor-error", Static).update(self.error)
        if self.advice is not None:
            self.query_one("#advisor-advice", Static).update(recommendation_text(self.advice))
        self.post_message(AdviceUpdated(None if self.error else self.advice, self.error))

    @on(Select.Changed)
    @on(SelectionList.SelectedChanged)
    @on(Input.Changed)
    def _changed(self, event: Message) -> None:
        if self.is_mounted:
            self.recompute()


def _number(raw: str) -> Any:
    if not raw:
        return raw  # the engine says which part needs a number
    try:
        value = float(raw)
    except ValueError:
        return raw
    return int(value) if value.is_integer() else value
