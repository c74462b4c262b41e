"""Why a message could not be read, decrypted or written.

Everything a file can be wrong about maps to the KMS error a script would already match on
(InvalidCiphertextException: the ciphertext or its context is wrong; IncorrectKeyException: none of our
keys wraps it), so `envelope decrypt` and the core `decrypt` fail the same way. The `reason` word
(truncated, tampered, malformed, unsupported, context, key, limit) lets tests and the TUI tell them apart.
"""

from __future__ import annotations

from kmstui.errors import IncorrectKeyException, InvalidCiphertextException


class MessageError(InvalidCiphertextException):
    """The message is malformed, truncated, tampered with, or uses something we refuse to read."""

    def __init__(self, message: str, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason

    @property
    def code(self) -> str:
        return "InvalidCiphertextException"


class NoUsableKey(IncorrectKeyException):
    """No configured wrapping key could unwrap any of the message's encrypted data keys."""

    reason = "key"

    @property
    def code(self) -> str:
        return "IncorrectKeyException"


def truncated(what: str) -> MessageError:
    where = what if what.startswith("frame ") else f"the {what}"  # "inside frame 3", "inside the footer"
    return MessageError(f"message is truncated: it ends inside {where}", "truncated")


def tampered(what: str) -> MessageError:
    return MessageError(f"{what} does not authenticate: the file was modified, or it belongs to another "
                        "message or context", "tampered")
