"""kmstui advisor plugin: should this team use AWS KMS, a KMS custom key store, CloudHSM or Payment
Cryptography? Questions, rules and dated facts are data files in ``data/``; ``engine.advise`` is a pure
function so that the CLI, the report writer and a live TUI form all get the same answer.

The public names below load on first use (PEP 562), so registering the plugin's commands, which kmstui
does on every start, does not import the engine and its data.
"""

__all__ = ["Advice", "Facts", "advise", "load_facts"]

_HOMES = {"advise": "engine", "Facts": "facts", "load_facts": "facts", "Advice": "model"}


def __getattr__(name: str):
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"kmstui_advisor.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'kmstui_advisor' has no attribute {name!r}")
