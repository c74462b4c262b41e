"""Aliases and tags of PKCS#11 keys. An alias is the CKA_LABEL of the key's objects (`alias/app` <-> label
`app`), so a token key has at most one alias; tags live in the key's record object."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kmstui.backends import aliasnames
from kmstui.errors import (
    AlreadyExistsException, KMSInvalidStateException, LimitExceededException,
    NotFoundException, ValidationException,
)



if TYPE_CHECKING:
    from kmstui.backends.pkcs11.backend import Entry

class AliasTagOps:
    """Mixin for Pkcs11Backend (which provides _scan, _entry, _save, _set_label and the alias index)."""

    def _alias_name(self, name: str) -> str:
        return aliasnames.check_alias_name(name)[len(aliasnames.PREFIX):]

    def _attach_alias(self, label: str, entry: Entry) -> None:
        if entry.rec.state == "PendingDeletion":
            raise KMSInvalidStateException(f"{entry.arn} is pending deletion")
        if entry.alias is not None:
            raise LimitExceededException(f"{entry.arn} already has alias/{entry.alias}; a PKCS#11 key has one "
                                         "label, so one alias (delete or move that alias first)")
        self._set_label(entry, label)
        entry.alias = label
        self._aliases[label] = entry.rec.key_id
        self._refs = {}

    def create_alias(self, *, AliasName: str, TargetKeyId: str) -> dict[str, Any]:
        label = self._alias_name(AliasName)
        self._scan()
        if label in self._aliases:
            raise AlreadyExistsException(f"{AliasName} already exists on token '{self.conn.label}'")
        aliasnames.check_alias_target(TargetKeyId)
        self._attach_alias(label, self._entry(TargetKeyId))
        return {}

    def _detach_alias(self, label: str) -> Entry:
        entry = self._entries[self._aliases.pop(label)]
        self._set_label(entry, entry.rec.key_id)
        entry.alias = None
        self._refs = {}
        return entry

    def delete_alias(self, *, AliasName: str) -> dict[str, Any]:
        label = self._alias_name(AliasName)
        self._scan()
        if label not in self._aliases:
            raise NotFoundException(f"{AliasName} does not exist on token '{self.conn.label}'")
        self._detach_alias(label)
        return {}

    def update_alias(self, *, AliasName: str, TargetKeyId: str) -> dict[str, Any]:
        label = self._alias_name(AliasName)
        self._scan()
        if label not in self._aliases:
            raise NotFoundException(f"{AliasName} does not exist on token '{self.conn.label}'")
        aliasnames.check_alias_target(TargetKeyId)
        target = self._entry(TargetKeyId)
        old = self._entries[self._aliases[label]]
        if old is target:
            return {}
        if old.rec.key_usage != target.rec.key_usage or old.spec.kind != target.spec.kind:
            raise ValidationException("an alias can only move to a key of the same type and usage")
        if target.alias is not None:
            raise LimitExceededException(f"{target.arn} already has alias/{target.alias}; a PKCS#11 key has one "
                                         "label, so one alias")
        self._detach_alias(label)
        self._attach_alias(label, target)
        return {}

    def list_aliases(self, *, KeyId: str | None = None, **_paging: Any) -> dict[str, Any]:
        self._scan()
        only = self._entry(KeyId).rec.key_id if KeyId else None
        aliases = [{"AliasName": f"alias/{label}", "AliasArn": f"{self._arn_prefix}alias/{label}",
                    "TargetKeyId": kid}
                   for label, kid in sorted(self._aliases.items()) if only is None or kid == only]
        return {"Aliases": aliases, "Truncated": False}

    # -- tags --------------------------------------------------------------------------------------------
    @staticmethod
    def _tag_dict(tags: list[dict[str, str]]) -> dict[str, str]:
        out = {}
        for tag in tags:
            if not isinstance(tag, dict) or "TagKey" not in tag or "TagValue" not in tag:
                raise ValidationException("each tag needs TagKey and TagValue")
            out[str(tag["TagKey"])] = str(tag["TagValue"])
        return out

    def tag_resource(self, *, KeyId: str, Tags: list[dict[str, str]]) -> dict[str, Any]:
        entry = self._entry(KeyId)
        entry.rec.tags.update(self._tag_dict(Tags))
        self._save(entry)
        return {}

    def untag_resource(self, *, KeyId: str, TagKeys: list[str]) -> dict[str, Any]:
        entry = self._entry(KeyId)
        for key in TagKeys:
            entry.rec.tags.pop(key, None)
        self._save(entry)
        return {}

    def list_resource_tags(self, *, KeyId: str, **_paging: Any) -> dict[str, Any]:
        tags = self._entry(KeyId).rec.tags
        return {"Tags": [{"TagKey": k, "TagValue": v} for k, v in sorted(tags.items())], "Truncated": False}
