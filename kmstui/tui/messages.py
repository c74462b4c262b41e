"""Messages that workers post back to the UI. Handlers on the screens own all widget state."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from kmstui.commands.registry import Result


class KeysLoaded(Message):
    """The key list (KeyMetadata dicts with "Aliases") arrived from the backend."""

    def __init__(self, keys: list[dict[str, Any]], select: str | None = None) -> None:
        super().__init__()
        self.keys, self.select = keys, select


class RotationLoaded(Message):
    """Rotation status for some keys: {key_id: True/False/None}."""

    def __init__(self, status: dict[str, bool | None]) -> None:
        super().__init__()
        self.status = status


class BackendStatus(Message):
    """What the header shows about the backend (kind, location, sealed)."""

    def __init__(self, kind: str, location: str, sealed: bool | None) -> None:
        super().__init__()
        self.kind, self.location, self.sealed = kind, location, sealed


class CommandFinished(Message):
    """A command run through the session succeeded."""

    def __init__(self, words: list[str], result: Result, origin: str = "console", *, text: str = "",
                 mutates: bool = False, path: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.words, self.result, self.origin = words, result, origin
        self.text, self.mutates, self.path = text, mutates, path


class CommandFailed(Message):
    """A command or backend call failed; `error` is the one-line message shown to the user."""

    def __init__(self, words: list[str], error: str, code: str, origin: str = "console") -> None:
        super().__init__()
        self.words, self.error, self.code, self.origin = words, error, code, origin


class DetailLoaded(Message):
    """One tab's data for the selected key (tab name, key id, data)."""

    def __init__(self, tab: str, key_id: str, data: Any) -> None:
        super().__init__()
        self.tab, self.key_id, self.data = tab, key_id, data


class RunCommand(Message):
    """Ask the app to run these command words through the session (then refresh the key)."""

    def __init__(self, words: list[str], origin: str = "detail", stdin: bytes | None = None,
                 reply_to: Any = None) -> None:
        super().__init__()
        self.words, self.origin, self.stdin, self.reply_to = words, origin, stdin, reply_to
