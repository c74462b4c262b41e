"""kmstui advisor plugin: should this team use AWS KMS, a KMS custom key store, CloudHSM or Payment
Cryptography? Questions, rules and dated facts are data files in ``data/``; ``engine.advise`` is a pure
function so that the CLI, the report writer and a live TUI form all get the same answer."""

from kmstui_advisor.engine import advise
from kmstui_advisor.facts import Facts, load_facts
from kmstui_advisor.model import Advice

__all__ = ["Advice", "Facts", "advise", "load_facts"]
