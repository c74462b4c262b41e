"""Rotation of symmetric PKCS#11 keys: each new material version is one more token key, CKA_ID = key id +
the version as 4 big-endian bytes, and old versions stay so old ciphertexts decrypt. Automatic rotation
happens on the first use after its date (nothing runs on a token in between)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from kmstui.backends.pkcs11.crypto import translate
from kmstui.backends.pkcs11.records import DAY, ts
from kmstui.backends.pkcs11.token import LOCK
from kmstui.errors import (
    DisabledException, KMSInvalidStateException, UnsupportedOperationException, ValidationException,
)


if TYPE_CHECKING:
    from kmstui.backends.pkcs11.backend import Entry

class RotationOps:
    """Mixin for Pkcs11Backend (which provides _entry, _generate and _save)."""

    def _rotatable(self, ref: str) -> Entry:
        entry = self._entry(ref)
        if entry.spec.kind != "aes":
            raise UnsupportedOperationException(f"{entry.arn} is not a symmetric encryption key; only those rotate")
        if entry.rec.state != "Enabled":
            raise (DisabledException if entry.rec.state == "Disabled" else KMSInvalidStateException)(
                f"{entry.arn} is {entry.rec.state}")
        return entry

    def _rotate(self, entry: Entry, kind: str) -> None:
        version = entry.rec.version + 1
        cka_id = entry.id_bytes + version.to_bytes(4, "big")
        try:
            with LOCK:
                self._generate(entry, cka_id, entry.alias or entry.rec.key_id)
        except self._p11.PKCS11Error as exc:
            raise translate(exc, "generating new key material") from None
        now = time.time()
        entry.rec.version = version
        entry.rec.rotations.append({"version": version, "date": now, "type": kind})
        if entry.rec.rotation_period_days:
            entry.rec.next_rotation = now + entry.rec.rotation_period_days * DAY
        self._save(entry)

    def enable_key_rotation(self, *, KeyId: str, RotationPeriodInDays: int = 365) -> dict[str, Any]:
        entry = self._rotatable(KeyId)
        if not 90 <= int(RotationPeriodInDays) <= 2560:
            raise ValidationException("RotationPeriodInDays must be between 90 and 2560")
        entry.rec.rotation_period_days = int(RotationPeriodInDays)
        entry.rec.next_rotation = time.time() + int(RotationPeriodInDays) * DAY
        self._save(entry)
        return {}

    def disable_key_rotation(self, *, KeyId: str) -> dict[str, Any]:
        entry = self._rotatable(KeyId)
        entry.rec.rotation_period_days = entry.rec.next_rotation = None
        self._save(entry)
        return {}

    def get_key_rotation_status(self, *, KeyId: str) -> dict[str, Any]:
        entry = self._entry(KeyId)
        if entry.spec.kind != "aes":
            raise UnsupportedOperationException(f"{entry.arn} is not a symmetric encryption key; only those rotate")
        out: dict[str, Any] = {"KeyId": entry.arn, "KeyRotationEnabled": entry.rec.rotation_period_days is not None}
        if entry.rec.rotation_period_days:
            out["RotationPeriodInDays"] = entry.rec.rotation_period_days
            out["NextRotationDate"] = ts(entry.rec.next_rotation)
        return out

    def rotate_key_on_demand(self, *, KeyId: str) -> dict[str, Any]:
        entry = self._rotatable(KeyId)
        self._rotate(entry, "ON_DEMAND")
        return {"KeyId": entry.arn}

    def list_key_rotations(self, *, KeyId: str, **_paging: Any) -> dict[str, Any]:
        entry = self._entry(KeyId)
        rotations = [{"KeyId": entry.arn, "RotationDate": ts(r["date"]), "RotationType": r["type"]}
                     for r in entry.rec.rotations]
        return {"Rotations": rotations, "Truncated": False}
