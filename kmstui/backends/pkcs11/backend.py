"""The KMS-shaped interface over a PKCS#11 token: key management (create, list, describe, state, deletion).
Aliases and tags are in `aliases.py`, rotation in `rotation.py`, the cryptographic operations in `crypto.py`.

How KMS concepts land on the token:
- a kmstui key is one token key (AES-256) or key pair (RSA, EC) whose CKA_ID is the key id's 16 UUID bytes,
  plus a KeyRecord data object (records.py); a rotated AES key gets one more token key per material version,
  with CKA_ID = UUID bytes + the version as 4 big-endian bytes;
- an alias is the CKA_LABEL of the key's objects (`alias/app` <-> label `app`), so a key has at most one
  alias; an unaliased key is labelled with its key id;
- Disable sets CKA_ENCRYPT/DECRYPT/SIGN/VERIFY false, so the token itself refuses the key, whichever program
  uses it; Enable sets them back;
- ScheduleKeyDeletion keeps the objects with state PendingDeletion (usage attributes off) and a deletion
  date; any kmstui process that scans the token after that date destroys them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from kmstui.backends.base import (
    ALIASES, ASYMMETRIC, HMAC, KEY_POLICIES, KEY_STATE, ROTATION, SCHEDULED_DELETION, TAGS, BackendInfo,
)
from kmstui.backends.pkcs11 import keyspecs
from kmstui.backends.pkcs11.aliases import AliasTagOps
from kmstui.backends.pkcs11.crypto import CryptoOps, translate
from kmstui.backends.pkcs11.records import APPLICATION, DAY, KeyRecord, ts
from kmstui.backends.pkcs11.rotation import RotationOps
from kmstui.backends.pkcs11.token import LOCK, Connection, release
from kmstui.errors import (
    DisabledException, KMSInvalidStateException, NotFoundException, UnsupportedOperationException, UsageError,
    ValidationException,
)

class Entry:
    """This process's view of one kmstui key on the token: its record and its token objects."""

    __slots__ = ("rec", "spec", "id_bytes", "arn", "alias", "secrets", "private", "public", "data_obj")

    def __init__(self, rec: KeyRecord, arn: str) -> None:
        self.rec = rec
        self.spec = keyspecs.KEY_SPECS[rec.key_spec]
        self.id_bytes = uuid.UUID(rec.key_id).bytes
        self.arn = arn
        self.alias: str | None = None
        self.secrets: dict[int, Any] = {}  # material version -> AES key object
        self.private: Any = None
        self.public: Any = None
        self.data_obj: Any = None

    def objects(self) -> list[Any]:
        return [o for o in (*self.secrets.values(), self.private, self.public) if o is not None]


class Pkcs11Backend(AliasTagOps, RotationOps, CryptoOps):
    kind = "pkcs11"
    capabilities = frozenset({ALIASES, TAGS, ROTATION, SCHEDULED_DELETION, KEY_STATE, ASYMMETRIC, HMAC})

    def __init__(self, conn: Connection, profile_name: str) -> None:
        import pkcs11

        self._p11 = pkcs11
        self.conn = conn
        self.session = conn.session
        self.profile_name = profile_name
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}  # label -> key id
        self._refs: dict[str, Entry] = {}  # every accepted KeyId spelling -> entry (hot-path cache)
        self._arn_prefix = f"arn:pkcs11:kms:token:{conn.serial}:"
        self._scan()

    # -- connection ------------------------------------------------------------------------------------
    def info(self) -> BackendInfo:
        return BackendInfo("pkcs11", self.profile_name, f"token '{self.conn.label}' via {self.conn.module}",
                           account_id=self.conn.serial, extra={"token_serial": self.conn.serial})

    def close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            self._entries.clear()
            self._refs.clear()
            release(conn)

    def set_caller(self, principal_arn: str | None) -> None:
        if principal_arn is not None:
            raise UsageError("--as (and a profile 'principal') cannot be used with a pkcs11 backend: the token "
                             "decides access by its PIN login, not by principal")

    # -- reading the token -----------------------------------------------------------------------------
    def _scan(self) -> None:
        """Read every kmstui record and key object from the token; destroy keys whose deletion date passed."""
        A, C = self._p11.Attribute, self._p11.ObjectClass
        entries: dict[str, Entry] = {}
        try:
            with LOCK:
                for obj in self.session.get_objects({A.CLASS: C.DATA, A.APPLICATION: APPLICATION}):
                    rec = KeyRecord.from_bytes(obj[A.VALUE])
                    if rec is None or rec.key_spec not in keyspecs.KEY_SPECS:
                        continue
                    old = entries.get(rec.key_id)
                    if old is not None and old.rec.seq >= rec.seq:
                        obj.destroy()  # a leftover from an interrupted record update
                        continue
                    if old is not None:
                        old.data_obj.destroy()
                    entry = Entry(rec, self._arn_prefix + "key/" + rec.key_id)
                    entry.data_obj = obj
                    entries[rec.key_id] = entry
                for cls in (C.SECRET_KEY, C.PRIVATE_KEY, C.PUBLIC_KEY):
                    for obj in self.session.get_objects({A.CLASS: cls, A.TOKEN: True}):
                        self._attach(entries, obj, cls)
        except self._p11.PKCS11Error as exc:
            raise translate(exc, "reading the token") from None
        now = time.time()
        for kid, entry in list(entries.items()):
            if entry.rec.state == "PendingDeletion" and entry.rec.deletion_date and entry.rec.deletion_date <= now:
                self._destroy(entry)
                del entries[kid]
            elif not entry.secrets and entry.private is None:
                del entries[kid]  # a record whose key objects are gone: nothing usable
        self._entries = entries
        self._aliases = {e.alias: kid for kid, e in entries.items() if e.alias}
        self._refs = {}

    def _attach(self, entries: dict[str, Entry], obj: Any, cls: Any) -> None:
        A, C = self._p11.Attribute, self._p11.ObjectClass
        cid = obj[A.ID]
        if len(cid) not in (16, 20):
            return
        entry = entries.get(str(uuid.UUID(bytes=cid[:16])))
        if entry is None:
            return
        if cls == C.SECRET_KEY:
            version = 1 if len(cid) == 16 else int.from_bytes(cid[16:], "big")
            entry.secrets[version] = obj
        elif cls == C.PRIVATE_KEY:
            entry.private = obj
        else:
            entry.public = obj
        if len(cid) == 16 and cls != C.PUBLIC_KEY:
            label = obj[A.LABEL]
            entry.alias = label if label and label != entry.rec.key_id else None

    def _entry(self, ref: str) -> Entry:
        """Resolve a KeyId (id, alias/NAME, key or alias ARN); rescans the token once on a miss."""
        entry = self._refs.get(ref)
        if entry is not None:
            return entry
        if not isinstance(ref, str) or not ref:
            raise ValidationException("KeyId is required")
        name = ref
        if name.startswith("arn:"):
            if not name.startswith(self._arn_prefix):
                raise NotFoundException(f"{ref} is not an ARN of token '{self.conn.label}' "
                                        f"(its ARNs start {self._arn_prefix})")
            name = name[len(self._arn_prefix):]
            if name.startswith("key/"):
                name = name[4:]
        for attempt in (0, 1):
            entry = self._find(name)
            if entry is not None:
                self._refs[ref] = entry
                return entry
            if attempt == 0:
                self._scan()
        what = f"alias {name}" if name.startswith("alias/") else f"key {name}"
        raise NotFoundException(f"{what} is not on token '{self.conn.label}'")

    def _find(self, name: str) -> Entry | None:
        if name.startswith("alias/"):
            kid = self._aliases.get(name[6:])
            return self._entries.get(kid) if kid else None
        try:
            name = str(uuid.UUID(name))
        except ValueError:
            raise NotFoundException(f"invalid key id {name!r}: use a key id (UUID), alias/NAME or a key ARN") from None
        return self._entries.get(name)

    def _usable(self, ref: str, usage: str) -> Entry:
        """The entry, if its state and usage allow a cryptographic operation."""
        entry = self._entry(ref)
        if entry.rec.state != "Enabled":
            self._scan()  # another process may have enabled it since this one last looked
            entry = self._entry(ref)
        rec = entry.rec
        if rec.state != "Enabled":
            if rec.state == "Disabled":
                raise DisabledException(f"{entry.arn} is disabled")
            raise KMSInvalidStateException(f"{entry.arn} is pending deletion")
        if rec.key_usage != usage:
            raise keyspecs.InvalidKeyUsageException(f"{entry.arn} has KeyUsage {rec.key_usage}, not {usage}")
        if rec.next_rotation is not None and time.time() >= rec.next_rotation:
            self._rotate(entry, "AUTOMATIC")
        return entry

    # -- writing the token ------------------------------------------------------------------------------
    def _save(self, entry: Entry) -> None:
        """Replace the key's record: write the new object first, then drop the old one."""
        A, C = self._p11.Attribute, self._p11.ObjectClass
        entry.rec.seq += 1
        try:
            with LOCK:
                new = self.session.create_object({
                    A.CLASS: C.DATA, A.TOKEN: True, A.PRIVATE: True, A.MODIFIABLE: True,
                    A.APPLICATION: APPLICATION, A.LABEL: entry.rec.key_id, A.VALUE: entry.rec.to_bytes()})
                if entry.data_obj is not None:
                    entry.data_obj.destroy()
        except self._p11.PKCS11Error as exc:
            raise translate(exc, "writing the key record") from None
        entry.data_obj = new

    def _destroy(self, entry: Entry) -> None:
        try:
            with LOCK:
                for obj in entry.objects():
                    obj.destroy()
                if entry.data_obj is not None:
                    entry.data_obj.destroy()
        except self._p11.PKCS11Error as exc:
            raise translate(exc, "destroying the key") from None

    def _set_usage(self, entry: Entry, enabled: bool) -> None:
        """Turn the token's own usage flags on or off, so the token refuses a disabled key to any program."""
        A = self._p11.Attribute
        pairs: list[tuple[Any, Any]] = []
        if entry.spec.kind in ("aes", "hmac"):
            flags = (A.ENCRYPT, A.DECRYPT) if entry.spec.kind == "aes" else (A.SIGN, A.VERIFY)
            pairs = [(o, flag) for o in entry.secrets.values() for flag in flags]
        elif entry.rec.key_usage == "SIGN_VERIFY":
            pairs = [(entry.private, A.SIGN), (entry.public, A.VERIFY)]
        else:
            pairs = [(entry.private, A.DECRYPT), (entry.public, A.ENCRYPT)]
        try:
            with LOCK:
                for obj, attr in pairs:
                    if obj is not None:
                        obj[attr] = enabled
        except self._p11.PKCS11Error as exc:
            raise translate(exc, "changing the key's usage attributes") from None

    def _set_label(self, entry: Entry, label: str) -> None:
        try:
            with LOCK:
                for obj in entry.objects():
                    obj[self._p11.Attribute.LABEL] = label
        except self._p11.PKCS11Error as exc:
            raise translate(exc, "relabelling the key") from None

    # -- keys ----------------------------------------------------------------------------------------------
    def create_key(self, *, KeySpec: str | None = None, KeyUsage: str | None = None, Description: str = "",
                   Tags: list[dict[str, str]] | None = None, Policy: str | None = None,
                   CustomerMasterKeySpec: str | None = None, Origin: str = "AWS_KMS", MultiRegion: bool = False,
                   BypassPolicyLockoutSafetyCheck: bool = False, **_ignored: Any) -> dict[str, Any]:
        if Policy is not None:
            self.require(KEY_POLICIES)
        if MultiRegion:
            raise UnsupportedOperationException("multi-Region keys are not supported by pkcs11 backends")
        if Origin not in (None, "AWS_KMS"):
            raise UnsupportedOperationException(f"Origin {Origin} is not supported by pkcs11 backends "
                                                "(keys are generated on the token)")
        ks, usage = keyspecs.spec(KeySpec or CustomerMasterKeySpec, KeyUsage)
        kid = str(uuid.uuid4())
        rec = KeyRecord(kid, ks.name, usage, time.time(), Description or "",
                        tags=self._tag_dict(Tags or []))
        entry = Entry(rec, self._arn_prefix + "key/" + kid)
        try:
            with LOCK:
                self._generate(entry, entry.id_bytes, kid)
        except self._p11.PKCS11Error as exc:
            raise translate(exc, "generating the key") from None
        try:
            self._save(entry)
        except Exception:
            self._destroy(entry)
            raise
        self._entries[kid] = entry
        return {"KeyMetadata": self._metadata(entry)}

    def _generate(self, entry: Entry, cka_id: bytes, label: str) -> None:
        """Create the token objects (called with LOCK held)."""
        p11 = self._p11
        A, F = p11.Attribute, p11.MechanismFlag
        secret = {A.EXTRACTABLE: False, A.SENSITIVE: True, A.PRIVATE: True, A.MODIFIABLE: True}
        ks = entry.spec
        if ks.kind in ("aes", "hmac"):
            version = 1 if len(cka_id) == 16 else int.from_bytes(cka_id[16:], "big")
            key_type, caps = ((p11.KeyType.AES, F.ENCRYPT | F.DECRYPT) if ks.kind == "aes"
                              else (p11.KeyType.GENERIC_SECRET, F.SIGN | F.VERIFY))
            entry.secrets[version] = self.session.generate_key(
                key_type, ks.bits, id=cka_id, label=label, store=True, template=secret, capabilities=caps)
            return
        caps = F.SIGN | F.VERIFY if entry.rec.key_usage == "SIGN_VERIFY" else F.ENCRYPT | F.DECRYPT
        public = {A.MODIFIABLE: True, A.PRIVATE: False}
        if ks.kind == "rsa":
            pub, priv = self.session.generate_keypair(
                p11.KeyType.RSA, ks.bits, id=cka_id, label=label, store=True, capabilities=caps,
                public_template=public, private_template=secret)
        else:
            public[A.EC_PARAMS] = p11.util.ec.encode_named_curve_parameters(ks.curve)
            pub, priv = self.session.generate_keypair(
                p11.KeyType.EC, 0, id=cka_id, label=label, store=True, capabilities=caps,
                public_template=public, private_template=secret)
        entry.public, entry.private = pub, priv

    def _metadata(self, entry: Entry) -> dict[str, Any]:
        rec = entry.rec
        md: dict[str, Any] = {
            "AWSAccountId": self.conn.serial, "KeyId": rec.key_id, "Arn": entry.arn,
            "CreationDate": ts(rec.created), "Enabled": rec.state == "Enabled", "Description": rec.description,
            "KeyUsage": rec.key_usage, "KeyState": rec.state, "Origin": "AWS_KMS", "KeyManager": "CUSTOMER",
            "CustomerMasterKeySpec": rec.key_spec, "KeySpec": rec.key_spec, "MultiRegion": False,
        }
        if rec.deletion_date is not None:
            md["DeletionDate"] = ts(rec.deletion_date)
        if rec.key_usage == "ENCRYPT_DECRYPT":
            md["EncryptionAlgorithms"] = ([keyspecs.SYMMETRIC] if entry.spec.kind == "aes"
                                          else list(keyspecs.RSA_ENCRYPTION))
        elif rec.key_usage == "GENERATE_VERIFY_MAC":
            md["MacAlgorithms"] = [f"HMAC_SHA_{entry.spec.bits}"]
        else:
            md["SigningAlgorithms"] = keyspecs.signing_algorithms(entry.spec)
        return md

    def describe_key(self, *, KeyId: str, GrantTokens: list[str] | None = None) -> dict[str, Any]:
        return {"KeyMetadata": self._metadata(self._entry(KeyId))}

    def list_keys(self, **_paging: Any) -> dict[str, Any]:
        self._scan()
        return {"Keys": [{"KeyId": kid, "KeyArn": e.arn} for kid, e in sorted(self._entries.items())],
                "Truncated": False}

    def list_key_metadata(self) -> list[dict[str, Any]]:
        self._scan()
        out = []
        for _kid, entry in sorted(self._entries.items()):
            md = self._metadata(entry)
            md["Aliases"] = [f"alias/{entry.alias}"] if entry.alias else []
            out.append(md)
        return out

    def update_key_description(self, *, KeyId: str, Description: str) -> dict[str, Any]:
        entry = self._entry(KeyId)
        entry.rec.description = Description
        self._save(entry)
        return {}

    def _set_state(self, entry: Entry, state: str) -> None:
        entry.rec.state = state
        self._set_usage(entry, state == "Enabled")
        self._save(entry)
        # python-pkcs11 gives an object encrypt/sign methods by its usage flags when it is found: find it again.
        self._scan()

    def enable_key(self, *, KeyId: str) -> dict[str, Any]:
        entry = self._entry(KeyId)
        if entry.rec.state == "PendingDeletion":
            raise KMSInvalidStateException(f"{entry.arn} is pending deletion; cancel the deletion first")
        self._set_state(entry, "Enabled")
        return {}

    def disable_key(self, *, KeyId: str) -> dict[str, Any]:
        entry = self._entry(KeyId)
        if entry.rec.state == "PendingDeletion":
            raise KMSInvalidStateException(f"{entry.arn} is pending deletion")
        self._set_state(entry, "Disabled")
        return {}

    def schedule_key_deletion(self, *, KeyId: str, PendingWindowInDays: int = 30) -> dict[str, Any]:
        entry = self._entry(KeyId)
        if not 7 <= int(PendingWindowInDays) <= 30:
            raise ValidationException("PendingWindowInDays must be between 7 and 30")
        if entry.rec.state == "PendingDeletion":
            raise KMSInvalidStateException(f"{entry.arn} is already pending deletion")
        entry.rec.deletion_date = time.time() + int(PendingWindowInDays) * DAY
        self._set_state(entry, "PendingDeletion")
        return {"KeyId": entry.arn, "DeletionDate": ts(entry.rec.deletion_date), "KeyState": "PendingDeletion",
                "PendingWindowInDays": int(PendingWindowInDays)}

    def cancel_key_deletion(self, *, KeyId: str) -> dict[str, Any]:
        entry = self._entry(KeyId)
        if entry.rec.state != "PendingDeletion":
            raise KMSInvalidStateException(f"{entry.arn} is not pending deletion")
        entry.rec.deletion_date = None
        self._set_state(entry, "Disabled")  # as in AWS KMS: a cancelled deletion leaves the key disabled
        return {"KeyId": entry.arn}
