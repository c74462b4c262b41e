"""Data-key caching (the S3 Bucket Key idea): many messages under one backend-generated data key.

Each message still gets its own random message ID and therefore its own derived encryption key (HKDF
with the message ID as salt), so caching changes who is asked for a data key, not how any message is
encrypted. Entries are keyed by everything that shapes the materials (suite, wrapping keys, context);
limits bound how long and how much one data key may protect. The cache is per command run and lives in
memory only; entries are wiped when evicted. (The ESDK-Python shared cache let a non-committing entry
serve a committing request, CVE-2026-6550: here the suite is part of the key.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from kmstui_envelope.keyrings import wipe

MAX_MESSAGES_LIMIT = 2**32  # the SDK's ceiling for messages per cached data key


@dataclass
class CachePolicy:
    max_age: float = 300.0  # seconds
    max_messages: int = 4096
    max_bytes: int = 2**62

    def __post_init__(self) -> None:
        if self.max_age <= 0 or self.max_messages < 1 or self.max_bytes < 1:
            raise ValueError("cache limits must be positive")
        self.max_messages = min(self.max_messages, MAX_MESSAGES_LIMIT)


@dataclass
class Entry:
    data_key: bytearray
    edks: list
    context: dict[str, str]  # full context, incl. aws-crypto-public-key for signed suites
    signing_key: Any
    created: float = field(default_factory=time.monotonic)
    messages: int = 0
    bytes: int = 0


class DataKeyCache:
    def __init__(self, policy: CachePolicy) -> None:
        self.policy = policy
        self._entries: dict[tuple, Entry] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple, plaintext_len: int | None) -> Entry | None:
        """A usable entry, already charged for one more message of `plaintext_len` bytes (None: unknown,
        counted later with `charge`)."""
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        p = self.policy
        size = plaintext_len or 0
        if (time.monotonic() - entry.created > p.max_age or entry.messages + 1 > p.max_messages
                or entry.bytes + size > p.max_bytes):
            self.evict(key)
            self.misses += 1
            return None
        entry.messages += 1
        entry.bytes += size
        self.hits += 1
        return entry

    def put(self, key: tuple, entry: Entry, plaintext_len: int | None) -> None:
        entry.messages = 1
        entry.bytes = plaintext_len or 0
        if entry.bytes <= self.policy.max_bytes:
            self.evict(key)
            self._entries[key] = entry

    def charge(self, key: tuple, extra_bytes: int) -> None:
        """Count bytes learnt only after encrypting (streamed input of unknown size)."""
        entry = self._entries.get(key)
        if entry is not None:
            entry.bytes += extra_bytes
            if entry.bytes > self.policy.max_bytes:
                self.evict(key)

    def evict(self, key: tuple) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            wipe(entry.data_key)

    def clear(self) -> None:
        for key in list(self._entries):
            self.evict(key)
