"""What a token cannot hold in key attributes (description, state, deletion date, tags, rotation schedule),
kept as one private CKO_DATA token object per key: CKA_APPLICATION "kmstui", CKA_LABEL the key id, CKA_VALUE
this record as JSON.

SoftHSM makes CKA_VALUE of data objects read-only, so a record is replaced by writing a new object with
a higher sequence number and then destroying the old one; a reader that finds two keeps the higher one, so
an interruption between the two steps loses nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

APPLICATION = "kmstui"
DAY = 86400.0


def ts(value: float | None) -> datetime | None:
    """A record's epoch seconds as the timezone-aware datetime KMS responses carry."""
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


@dataclass
class KeyRecord:
    key_id: str
    key_spec: str
    key_usage: str
    created: float
    description: str = ""
    state: str = "Enabled"  # Enabled | Disabled | PendingDeletion
    deletion_date: float | None = None
    tags: dict[str, str] = field(default_factory=dict)
    version: int = 1  # current key material version (AES keys rotate by adding a token key per version)
    rotation_period_days: int | None = None  # set while automatic rotation is enabled
    next_rotation: float | None = None
    rotations: list[dict[str, Any]] = field(default_factory=list)  # {"version", "date", "type"}
    seq: int = 0

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> "KeyRecord | None":
        try:
            data = json.loads(raw)
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            return cls(**known)
        except (ValueError, TypeError):
            return None
