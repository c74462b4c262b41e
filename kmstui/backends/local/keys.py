"""Key lifecycle, aliases, tags and key policies of the local backend, with KMS's validation rules."""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from kmstui.backends import aliasnames, keyusage
from kmstui.backends.local import keymaterial as km
from kmstui.backends.local.core import (DAY, DISABLED, ENABLED, PENDING_DELETION, PENDING_IMPORT, LocalCore,
                                        operation, ts)
from kmstui.errors import (AccessDeniedException, AlreadyExistsException, InvalidMarkerException,
                           KMSInternalException, KMSInvalidStateException, LimitExceededException,
                           MalformedPolicyDocumentException, NotFoundException,
                           TagException, UnsupportedOperationException, ValidationException)

MAX_TAGS = 50


def default_policy(account_id: str) -> str:
    """AWS's default key policy: the account (root) may do everything, so IAM policies decide."""
    return json.dumps({
        "Version": "2012-10-17", "Id": "key-default-1",
        "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                       "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"}, "Action": "kms:*", "Resource": "*"}],
    }, indent=2)


def new_key_id() -> str:
    """A new key's id: a random (version 4) UUID, as KMS gives."""
    import uuid  # here, not at the top: importing uuid loads `platform`, a cost for every command's start-up

    return str(uuid.uuid4())


def check_policy(policy: Any) -> str:
    if not isinstance(policy, str) or not policy.strip():
        raise MalformedPolicyDocumentException("Policy must be a JSON policy document")
    size = len(policy.encode())
    if size > 32768:  # PutKeyPolicy/CreateKey: "If the key policy exceeds the length constraint, KMS returns a
        # LimitExceededException." (KMS API reference, Policy parameter)
        raise LimitExceededException(f"the key policy is {size} bytes; a key policy can be at most 32768 bytes "
                                     "(32 KiB)")
    try:
        doc = json.loads(policy)
    except RecursionError:
        raise MalformedPolicyDocumentException("the key policy nests too deeply to be a policy") from None
    except ValueError as exc:
        raise MalformedPolicyDocumentException(f"the key policy is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("Statement"), (list, dict)) or not doc["Statement"]:
        raise MalformedPolicyDocumentException("the key policy needs a non-empty Statement")
    return policy


def check_tags(tags: Any) -> dict[str, str]:
    out = {}
    if not isinstance(tags, list):
        raise TagException("Tags must be a list of {TagKey, TagValue}")
    for tag in tags:
        key, value = (tag.get("TagKey"), tag.get("TagValue", "")) if isinstance(tag, dict) else (None, None)
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or not isinstance(value, str) or len(value) > 256:
            raise TagException("each tag needs a TagKey of 1-128 characters and a TagValue of at most 256")
        if key.startswith("aws:"):
            raise TagException(f"tag key '{key}' uses the reserved 'aws:' prefix")
        out[key] = value
    return out


def key_type(doc: dict[str, Any]) -> str:
    """KMS's key type for UpdateAlias: symmetric, asymmetric (RSA and ECC alike) or HMAC."""
    kind = km.SPECS[doc["KeySpec"]].kind
    return {"aes": "a symmetric", "hmac": "an HMAC"}.get(kind, "an asymmetric")


_MARKER = r"^[0-9]{1,18}$"  # compiled by `re` when first used


def _page(items: Sequence, limit: Any, marker: Any, max_limit: int = 1000,
          default: int | None = None) -> tuple[Sequence, dict[str, Any]]:
    """KMS-style pagination: Limit (1..max_limit, each operation's range from the KMS API reference:
    ListKeys and ListKeyRotations 1-1000, default 100; ListAliases, ListGrants and ListRetirableGrants
    1-100, default 50; ListResourceTags 1-50, default 50) and an opaque Marker (here, the offset this
    backend handed out as NextMarker; anything else is InvalidMarkerException)."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= max_limit):
        raise ValidationException(f"Limit must be an integer from 1 to {max_limit} (got {limit!r})")
    start = 0
    if marker is not None:
        if not isinstance(marker, str) or not re.match(_MARKER, marker):
            raise InvalidMarkerException(f"invalid pagination marker {marker!r}: pass the NextMarker of the "
                                         "previous page")
        start = int(marker)
    limit = limit or default or min(max_limit, 100)
    page = items[start:start + limit]
    extra: dict[str, Any] = {"Truncated": start + limit < len(items)}
    if extra["Truncated"]:
        extra["NextMarker"] = str(start + limit)
    return page, extra


class KeysMixin(LocalCore):
    # -- metadata ---------------------------------------------------------------------------------
    def key_metadata(self, doc: dict[str, Any]) -> dict[str, Any]:
        s = self._spec(doc)
        usage = doc["KeyUsage"]
        md: dict[str, Any] = {
            "AWSAccountId": self.account_id, "KeyId": doc["KeyId"], "Arn": self.key_arn(doc["KeyId"]),
            "CreationDate": ts(doc["CreationDate"]), "Enabled": doc["KeyState"] == ENABLED,
            "Description": doc.get("Description", ""), "KeyUsage": usage, "KeyState": doc["KeyState"],
            "Origin": doc["Origin"], "KeyManager": "CUSTOMER", "CustomerMasterKeySpec": doc["KeySpec"],
            "KeySpec": doc["KeySpec"], "MultiRegion": False,
        }
        if doc.get("DeletionDate") is not None:
            # KMS shows PendingDeletionWindowInDays only for a multi-Region primary key waiting for its
            # replicas (PendingReplicaDeletion), which a local store never has: DeletionDate alone here.
            md["DeletionDate"] = ts(doc["DeletionDate"])
        material = km.material_id(doc)
        if material is not None:
            md["CurrentKeyMaterialId"] = material
        if doc["Origin"] == "EXTERNAL":
            md["ExpirationModel"] = doc.get("ExpirationModel") or "KEY_MATERIAL_DOES_NOT_EXPIRE"
            if doc.get("ValidTo") is not None:
                md["ValidTo"] = ts(doc["ValidTo"])
        for field, values in (("EncryptionAlgorithms", s.encryption_algorithms(usage)),
                              ("SigningAlgorithms", s.signing_algorithms(usage)),
                              ("MacAlgorithms", s.mac_algorithms()),
                              ("KeyAgreementAlgorithms", s.key_agreement_algorithms(usage))):
            if values:
                md[field] = values
        return md

    # -- create / describe / list -----------------------------------------------------------------
    @operation("CreateKey")
    def create_key(self, *, Description: str = "", KeyUsage: str | None = None, KeySpec: str | None = None,
                   CustomerMasterKeySpec: str | None = None, Origin: str = "AWS_KMS", Policy: str | None = None,
                   BypassPolicyLockoutSafetyCheck: bool = False, Tags: list | None = None,
                   MultiRegion: bool = False, **_ignored: Any) -> dict:
        s = km.spec(KeySpec or CustomerMasterKeySpec or "SYMMETRIC_DEFAULT")
        usage = keyusage.key_usage(s.name, KeyUsage, s.usages)
        if Origin not in ("AWS_KMS", "EXTERNAL"):
            raise UnsupportedOperationException(f"Origin {Origin} is not supported by local backends (AWS_KMS or EXTERNAL)")
        if Origin == "EXTERNAL" and s.kind not in ("aes", "hmac"):
            raise UnsupportedOperationException("imported key material is supported for symmetric and HMAC keys only")
        if MultiRegion:
            raise UnsupportedOperationException("multi-Region keys are not supported by local backends")
        if not isinstance(Description, str) or len(Description) > 8192:
            raise ValidationException("Description must be text of at most 8192 characters")
        policy = check_policy(Policy) if Policy is not None else default_policy(self.account_id)
        tags = check_tags(Tags or [])
        if len(tags) > MAX_TAGS:
            raise TagException(f"a key can have at most {MAX_TAGS} tags")
        if self.authorizer is not None:
            self.authorizer(self, "kms:CreateKey", None, self._params)
        key_id = new_key_id()
        now = self.clock()
        doc = {"KeyId": key_id, "Description": Description, "KeyUsage": usage, "KeySpec": s.name, "Origin": Origin,
               "CreationDate": now, "KeyState": ENABLED if Origin == "AWS_KMS" else PENDING_IMPORT,
               "Version": 1 if Origin == "AWS_KMS" else 0, "Rotation": {"Enabled": False}, "Rotations": [],
               "Tags": tags}
        material = km.generate(s) if Origin == "AWS_KMS" else None
        with self.store.transaction() as conn:
            self._save(doc, new=True)
            if material is not None:
                self._put_material(key_id, 1, material)
            payload, mac = self.store.seal_doc("policies", f"{key_id}/default", policy)
            conn.execute("INSERT INTO policies(key_id, name, doc, mac) VALUES (?, 'default', ?, ?)", (key_id, payload, mac))
        self._resources.append(self.key_arn(key_id))
        return {"KeyMetadata": self.key_metadata(doc)}

    @operation("DescribeKey", read_only=True)
    def describe_key(self, *, KeyId: str, GrantTokens: list | None = None) -> dict:
        return {"KeyMetadata": self.key_metadata(self._key(KeyId, "kms:DescribeKey"))}

    @operation("ListKeys", read_only=True)
    def list_keys(self, *, Limit: int | None = None, Marker: str | None = None) -> dict:
        self._authorize("kms:ListKeys")
        ids = [r[0] for r in self.store.conn.execute("SELECT key_id FROM keys ORDER BY created, key_id")]
        page, extra = _page(ids, Limit, Marker)
        return {"Keys": [{"KeyId": k, "KeyArn": self.key_arn(k)} for k in page], **extra}

    @operation("ListKeys", read_only=True)
    def list_key_metadata(self) -> list[dict[str, Any]]:
        """All keys' metadata with aliases joined in, in one pass over the store (for `key list`). Audited as
        the ListKeys call it stands for (CloudTrail logs every KMS operation, reads included).

        As in KMS, kms:ListKeys shows every key's id and ARN; the rest of a key's metadata needs
        kms:DescribeKey on that key, and the alias names kms:ListAliases. A key the caller may not describe
        is listed as ListKeys shows it ({KeyId, KeyArn}), never refused and never shown in full."""
        self.apply_due_events()
        if self.authorizer is not None:
            self.authorizer(self, "kms:ListKeys", None, {})
        aliases: dict[str, list[str]] = {}
        if self._allowed("kms:ListAliases", None):
            for name, doc, mac in self.store.conn.execute("SELECT name, doc, mac FROM aliases ORDER BY name"):
                aliases.setdefault(self.store.open_doc("aliases", name, doc, mac)["TargetKeyId"], []).append(name)
        out = []
        rows = self.store.conn.execute("SELECT key_id, doc, mac FROM keys ORDER BY created, key_id").fetchall()
        for key_id, doc, mac in rows:
            key_doc = self.store.open_doc("keys", key_id, doc, mac)
            if not self._allowed("kms:DescribeKey", key_doc):
                out.append({"KeyId": key_id, "KeyArn": self.key_arn(key_id)})
                continue
            md = self.key_metadata(key_doc)
            md["Aliases"] = aliases.get(key_id, [])
            out.append(md)
        return out

    def _allowed(self, action: str, key_doc: dict[str, Any] | None) -> bool:
        if self.authorizer is None:
            return True
        try:
            self.authorizer(self, action, key_doc, {})
        except AccessDeniedException:
            return False
        return True

    # -- state ------------------------------------------------------------------------------------
    def _set_state(self, ref: str, action: str, allowed: tuple[str, ...], new_state: str) -> dict:
        with self.store.transaction():
            doc = self._mutable(ref, action)
            if doc["KeyState"] not in allowed:
                raise KMSInvalidStateException(f"key '{self.key_arn(doc['KeyId'])}' is {doc['KeyState']}; "
                                               f"{action.split(':')[1]} needs it to be {' or '.join(allowed)}")
            doc["KeyState"] = new_state
            self._save(doc)
        return {}

    @operation("EnableKey")
    def enable_key(self, *, KeyId: str) -> dict:
        return self._set_state(KeyId, "kms:EnableKey", (ENABLED, DISABLED), ENABLED)

    @operation("DisableKey")
    def disable_key(self, *, KeyId: str) -> dict:
        return self._set_state(KeyId, "kms:DisableKey", (ENABLED, DISABLED), DISABLED)

    @operation("ScheduleKeyDeletion")
    def schedule_key_deletion(self, *, KeyId: str, PendingWindowInDays: int = 30) -> dict:
        if not isinstance(PendingWindowInDays, int) or not 7 <= PendingWindowInDays <= 30:
            raise ValidationException("PendingWindowInDays must be between 7 and 30")
        with self.store.transaction():
            doc = self._mutable(KeyId, "kms:ScheduleKeyDeletion")
            if doc["KeyState"] == PENDING_DELETION:
                raise KMSInvalidStateException(f"key '{self.key_arn(doc['KeyId'])}' is already pending deletion")
            doc["KeyState"] = PENDING_DELETION
            doc["DeletionDate"] = self.clock() + PendingWindowInDays * DAY
            doc["PendingWindowInDays"] = PendingWindowInDays
            self._save(doc)
        return {"KeyId": self.key_arn(doc["KeyId"]), "DeletionDate": ts(doc["DeletionDate"]),
                "KeyState": PENDING_DELETION, "PendingWindowInDays": PendingWindowInDays}

    @operation("CancelKeyDeletion")
    def cancel_key_deletion(self, *, KeyId: str) -> dict:
        with self.store.transaction():
            doc = self._mutable(KeyId, "kms:CancelKeyDeletion")
            if doc["KeyState"] != PENDING_DELETION:
                raise KMSInvalidStateException(f"key '{self.key_arn(doc['KeyId'])}' is not pending deletion")
            doc["KeyState"] = DISABLED if doc["Version"] else PENDING_IMPORT
            doc.pop("DeletionDate", None)
            doc.pop("PendingWindowInDays", None)
            self._save(doc)
        return {"KeyId": self.key_arn(doc["KeyId"])}

    def _delete_key_rows(self, key_id: str) -> None:
        conn = self.store.conn
        for table in ("keys", "policies", "grants", "import_params"):
            conn.execute(f"DELETE FROM {table} WHERE key_id=?", (key_id,))
        conn.execute("DELETE FROM aliases WHERE key_id=?", (key_id,))
        self._drop_material(key_id)
        self.store.forget("keys", key_id)

    @operation("UpdateKeyDescription")
    def update_key_description(self, *, KeyId: str, Description: str) -> dict:
        if not isinstance(Description, str) or len(Description) > 8192:
            raise ValidationException("Description must be text of at most 8192 characters")
        with self.store.transaction():
            doc = self._mutable(KeyId, "kms:UpdateKeyDescription")
            self._not_pending_deletion(doc)
            doc["Description"] = Description
            self._save(doc)
        return {}

    def _not_pending_deletion(self, doc: dict[str, Any]) -> None:
        if doc["KeyState"] == PENDING_DELETION:
            raise KMSInvalidStateException(f"key '{self.key_arn(doc['KeyId'])}' is pending deletion")

    # -- aliases ----------------------------------------------------------------------------------
    def _check_alias_name(self, name: Any) -> str:
        return aliasnames.check_alias_name(name)

    def _alias_target(self, target: str) -> dict[str, Any]:
        aliasnames.check_alias_target(target)
        doc = self._key(target, None)
        self._not_pending_deletion(doc)
        return doc

    def _write_alias(self, name: str, key_id: str, created: float) -> None:
        payload, mac = self.store.seal_doc("aliases", name, {"TargetKeyId": key_id, "CreationDate": created,
                                                              "LastUpdatedDate": self.clock()})
        self.store.conn.execute("INSERT OR REPLACE INTO aliases(name, key_id, doc, mac) VALUES (?,?,?,?)",
                                (name, key_id, payload, mac))

    @operation("CreateAlias")
    def create_alias(self, *, AliasName: str, TargetKeyId: str) -> dict:
        name = self._check_alias_name(AliasName)
        with self.store.transaction() as conn:
            doc = self._alias_target(TargetKeyId)
            if self.authorizer is not None:
                self.authorizer(self, "kms:CreateAlias", doc, self._params)
            if conn.execute("SELECT 1 FROM aliases WHERE name=?", (name,)).fetchone():
                raise AlreadyExistsException(f"alias '{name}' already exists; use 'alias update' to repoint it")
            self._write_alias(name, doc["KeyId"], self.clock())
        return {}

    def _alias_doc(self, name: str) -> dict[str, Any]:
        row = self.store.conn.execute("SELECT doc, mac FROM aliases WHERE name=?", (name,)).fetchone()
        if row is None:
            raise NotFoundException(f"alias '{name}' does not exist")
        return self.store.open_doc("aliases", name, row[0], row[1])

    @operation("UpdateAlias")
    def update_alias(self, *, AliasName: str, TargetKeyId: str) -> dict:
        name = self._check_alias_name(AliasName)
        with self.store.transaction():
            old = self._alias_doc(name)
            old_key = self._key(old["TargetKeyId"], "kms:UpdateAlias")
            doc = self._alias_target(TargetKeyId)
            if (key_type(old_key), old_key["KeyUsage"]) != (key_type(doc), doc["KeyUsage"]):
                raise ValidationException(
                    f"an alias can only move to a key of the same type and key usage: alias '{name}' points to "
                    f"{key_type(old_key)} key with usage {old_key['KeyUsage']}, the new key is {key_type(doc)} key with "
                    f"usage {doc['KeyUsage']} (delete the alias and create it again to change that)")
            self._write_alias(name, doc["KeyId"], old["CreationDate"])
        return {}

    @operation("DeleteAlias")
    def delete_alias(self, *, AliasName: str) -> dict:
        name = self._check_alias_name(AliasName)
        with self.store.transaction() as conn:
            target = self._alias_doc(name)["TargetKeyId"]
            self._key(target, "kms:DeleteAlias")
            conn.execute("DELETE FROM aliases WHERE name=?", (name,))
        self.store.forget("aliases", name)
        return {}

    def aliases_of(self, key_id: str) -> list[str]:
        """The verified alias names that point at a key (kms:ResourceAliases, for the authorization engine)."""
        rows = self.store.conn.execute("SELECT name, doc, mac FROM aliases WHERE key_id=? ORDER BY name", (key_id,))
        return [name for name, payload, mac in rows.fetchall()
                if self.store.open_doc("aliases", name, payload, mac)["TargetKeyId"] == key_id]

    @operation("ListAliases", read_only=True)
    def list_aliases(self, *, KeyId: str | None = None, Limit: int | None = None, Marker: str | None = None) -> dict:
        if KeyId is not None:
            key_id = self._key(KeyId, "kms:ListAliases", allow_alias=False)["KeyId"]
            rows = self.store.conn.execute("SELECT name, doc, mac FROM aliases WHERE key_id=? ORDER BY name", (key_id,))
        else:
            self._authorize("kms:ListAliases")
            rows = self.store.conn.execute("SELECT name, doc, mac FROM aliases ORDER BY name")
        items = []
        for name, payload, mac in rows.fetchall():
            doc = self.store.open_doc("aliases", name, payload, mac)
            items.append({"AliasName": name, "AliasArn": self.alias_arn(name), "TargetKeyId": doc["TargetKeyId"],
                          "CreationDate": ts(doc["CreationDate"]), "LastUpdatedDate": ts(doc["LastUpdatedDate"])})
        page, extra = _page(items, Limit, Marker, 100, 50)
        return {"Aliases": page, **extra}

    # -- tags -------------------------------------------------------------------------------------
    @operation("TagResource")
    def tag_resource(self, *, KeyId: str, Tags: list) -> dict:
        tags = check_tags(Tags)
        with self.store.transaction():
            doc = self._mutable(KeyId, "kms:TagResource")
            self._not_pending_deletion(doc)
            doc["Tags"].update(tags)
            if len(doc["Tags"]) > MAX_TAGS:
                raise TagException(f"a key can have at most {MAX_TAGS} tags")
            self._save(doc)
        return {}

    @operation("UntagResource")
    def untag_resource(self, *, KeyId: str, TagKeys: list) -> dict:
        if not isinstance(TagKeys, list) or not all(isinstance(k, str) for k in TagKeys):
            raise TagException("TagKeys must be a list of tag keys")
        with self.store.transaction():
            doc = self._mutable(KeyId, "kms:UntagResource")
            self._not_pending_deletion(doc)
            for k in TagKeys:
                doc["Tags"].pop(k, None)
            self._save(doc)
        return {}

    @operation("ListResourceTags", read_only=True)
    def list_resource_tags(self, *, KeyId: str, Limit: int | None = None, Marker: str | None = None) -> dict:
        doc = self._key(KeyId, "kms:ListResourceTags", allow_alias=False)
        tags = [{"TagKey": k, "TagValue": v} for k, v in sorted(doc["Tags"].items())]
        page, extra = _page(tags, Limit, Marker, 50)
        return {"Tags": page, **extra}

    # -- key policies -----------------------------------------------------------------------------
    def key_policy(self, key_id: str) -> str:
        """The verified key policy text (for the authorization engine)."""
        row = self.store.conn.execute("SELECT doc, mac FROM policies WHERE key_id=? AND name='default'",
                                      (key_id,)).fetchone()
        if row is None:  # every key gets its policy row in the transaction that creates it
            raise KMSInternalException(
                f"integrity check failed for key '{self.key_arn(key_id)}': its key policy row is missing from "
                f"{self.path} (the HSM file was modified outside kmstui); refusing to fall back to the default "
                "policy (restore the file from a backup)")
        return self.store.open_doc("policies", f"{key_id}/default", row[0], row[1])

    @operation("GetKeyPolicy", read_only=True)
    def get_key_policy(self, *, KeyId: str, PolicyName: str = "default") -> dict:
        if PolicyName != "default":
            raise NotFoundException(f"no key policy named {PolicyName!r}; the only policy name is 'default'")
        doc = self._key(KeyId, "kms:GetKeyPolicy")
        return {"Policy": self.key_policy(doc["KeyId"]), "PolicyName": "default"}

    @operation("PutKeyPolicy")
    def put_key_policy(self, *, KeyId: str, Policy: str, PolicyName: str = "default",
                       BypassPolicyLockoutSafetyCheck: bool = False) -> dict:
        if PolicyName != "default":
            raise ValidationException("PolicyName must be 'default'")
        check_policy(Policy)
        with self.store.transaction() as conn:
            doc = self._key(KeyId, "kms:PutKeyPolicy")
            self._not_pending_deletion(doc)
            payload, mac = self.store.seal_doc("policies", f"{doc['KeyId']}/default", Policy)
            conn.execute("INSERT OR REPLACE INTO policies(key_id, name, doc, mac) VALUES (?, 'default', ?, ?)",
                         (doc["KeyId"], payload, mac))
            self._authz_changed(doc)
        return {}

    @operation("ListKeyPolicies", read_only=True)
    def list_key_policies(self, *, KeyId: str, Limit: int | None = None, Marker: str | None = None) -> dict:
        self._key(KeyId, "kms:ListKeyPolicies")
        return {"PolicyNames": ["default"], "Truncated": False}
