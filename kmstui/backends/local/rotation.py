"""Rotation (automatic and on demand) and the time-based events of the local backend.

A rotation adds a new material version; ciphertexts name their version, so old ones still decrypt.
Time-based events (a deletion window ending, a rotation falling due, imported material expiring) are
applied when the store is opened or the key next used, whichever comes first, and each is written to
the audit log as a KMS service event. Times come from `backend.clock`, so tests can move time.
"""

from __future__ import annotations

from typing import Any

from kmstui.backends.local import keymaterial as km
from kmstui.backends.local.core import DAY, ENABLED, PENDING_DELETION, PENDING_IMPORT, LocalCore, operation, ts
from kmstui.errors import UnsupportedOperationException, ValidationException

DEFAULT_PERIOD = 365


class RotationMixin(LocalCore):
    def _rotatable(self, doc: dict[str, Any]) -> None:
        if doc["KeySpec"] != "SYMMETRIC_DEFAULT":
            raise UnsupportedOperationException(f"{doc['KeySpec']} keys cannot be rotated (symmetric keys only)")
        if doc["Origin"] != "AWS_KMS":
            raise UnsupportedOperationException("keys with imported material cannot be rotated by kmstui")

    @operation("EnableKeyRotation")
    def enable_key_rotation(self, *, KeyId: str, RotationPeriodInDays: int | None = None) -> dict:
        period = DEFAULT_PERIOD if RotationPeriodInDays is None else RotationPeriodInDays
        if not isinstance(period, int) or not 90 <= period <= 2560:
            raise ValidationException("RotationPeriodInDays must be between 90 and 2560")
        with self.store.transaction():
            doc = self._mutable(KeyId, "kms:EnableKeyRotation")
            self._rotatable(doc)
            self._check_usable(doc)
            doc["Rotation"] = {"Enabled": True, "PeriodDays": period, "Next": self.clock() + period * DAY}
            self._save(doc)
        return {}

    @operation("DisableKeyRotation")
    def disable_key_rotation(self, *, KeyId: str) -> dict:
        with self.store.transaction():
            doc = self._mutable(KeyId, "kms:DisableKeyRotation")
            self._rotatable(doc)
            self._check_usable(doc)
            doc["Rotation"] = {"Enabled": False, "PeriodDays": doc["Rotation"].get("PeriodDays")}
            self._save(doc)
        return {}

    @operation("GetKeyRotationStatus", read_only=True)
    def get_key_rotation_status(self, *, KeyId: str) -> dict:
        doc = self._key(KeyId, "kms:GetKeyRotationStatus")
        rot = doc["Rotation"]
        out: dict[str, Any] = {"KeyId": self.key_arn(doc["KeyId"]), "KeyRotationEnabled": bool(rot.get("Enabled"))}
        if rot.get("Enabled"):
            out["RotationPeriodInDays"] = rot["PeriodDays"]
            out["NextRotationDate"] = ts(rot["Next"])
        if doc.get("OnDemandRotationStartDate"):
            out["OnDemandRotationStartDate"] = ts(doc["OnDemandRotationStartDate"])
        return out

    @operation("RotateKeyOnDemand")
    def rotate_key_on_demand(self, *, KeyId: str) -> dict:
        with self.store.transaction():
            doc = self._mutable(KeyId, "kms:RotateKeyOnDemand")
            self._rotatable(doc)
            self._check_usable(doc)
            self._rotate(doc, "ON_DEMAND")
            doc["OnDemandRotationStartDate"] = self.clock()
            self._save(doc)
        return {"KeyId": self.key_arn(doc["KeyId"])}

    @operation("ListKeyRotations", read_only=True)
    def list_key_rotations(self, *, KeyId: str, Limit: int | None = None, Marker: str | None = None) -> dict:
        from kmstui.backends.local.keys import _page

        doc = self._key(KeyId, "kms:ListKeyRotations")
        self._rotatable(doc)
        rotations = [{"KeyId": self.key_arn(doc["KeyId"]), "RotationDate": ts(r["Date"]), "RotationType": r["Type"],
                      **({"KeyMaterialId": km.material_id(doc, r["Version"])} if km.material_id(doc, r["Version"])
                         else {})}
                     for r in doc.get("Rotations", [])]
        page, extra = _page(rotations, Limit, Marker)
        return {"Rotations": page, **extra}

    def _rotate(self, doc: dict[str, Any], kind: str, when: float | None = None) -> None:
        """Add a material version (inside a transaction); the caller saves `doc`."""
        version = int(doc["Version"]) + 1
        self._put_material(doc["KeyId"], version, km.generate(km.SPECS[doc["KeySpec"]]))
        doc["Version"] = version
        when = self.clock() if when is None else when
        doc.setdefault("Rotations", []).append({"Date": when, "Type": kind, "Version": version})

    # -- time-based events ------------------------------------------------------------------------
    def apply_due_events(self) -> int:
        """Apply every event that has fallen due in the whole store (on open and before listings)."""
        now = self.clock()
        rows = self.store.conn.execute(
            "SELECT key_id FROM keys WHERE deletion_due <= ?1 OR rotation_due <= ?1 OR expiry_due <= ?1", (now,)).fetchall()
        for (key_id,) in rows:
            self._apply_events(key_id, now)
        return len(rows)

    def _apply_events(self, key_id: str, now: float) -> None:
        with self._lock, self.store.transaction():
            row = self.store.conn.execute("SELECT doc, mac FROM keys WHERE key_id=?", (key_id,)).fetchone()
            if row is None:
                return  # another process got there first
            doc = dict(self.store.open_doc("keys", key_id, row[0], row[1]))
            deletion = doc.get("DeletionDate")
            if doc["KeyState"] == PENDING_DELETION and deletion is not None and deletion <= now:
                self._delete_key_rows(key_id)
                self._record_service("DeleteKey", key_id)
                return
            changed = False
            rot = dict(doc["Rotation"])
            if rot.get("Enabled") and rot.get("Next") is not None and rot["Next"] <= now and doc["KeyState"] == ENABLED:
                doc["Rotations"] = list(doc.get("Rotations", []))
                while rot["Next"] <= now:  # a store closed for years rotates once per missed period
                    self._rotate(doc, "AUTOMATIC", when=rot["Next"])
                    self._record_service("RotateKey", key_id, {"rotationType": "AUTOMATIC", "version": doc["Version"]})
                    rot["Next"] += rot["PeriodDays"] * DAY
                doc["Rotation"] = rot
                changed = True
            valid_to = doc.get("ValidTo")
            if valid_to is not None and valid_to <= now and doc["KeyState"] != PENDING_DELETION:
                self._drop_material(key_id)
                doc.update(KeyState=PENDING_IMPORT, Version=0, ValidTo=None)
                self._record_service("DeleteExpiredKeyMaterial", key_id)
                changed = True
            if changed:
                self._save(doc)
