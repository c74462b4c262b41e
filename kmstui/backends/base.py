"""The one KMS-shaped interface every key backend implements.

Methods mirror the AWS KMS API: snake_case operation names (as boto3 spells them), keyword arguments with
KMS's CamelCase parameter names, and AWS-shaped response dicts (bytes stay bytes). The AWS backend can then
forward calls unchanged, and the CLI's JSON output looks like the AWS CLI's.

A backend declares what it supports in `capabilities`; every operation it does not override raises
UnsupportedOperationException naming the operation and the backend kind, so nothing is silently skipped.
Key material never leaves a backend: there is no export operation.
"""

from __future__ import annotations

from abc import ABC
from typing import Any, ClassVar

from kmstui.errors import UnsupportedOperationException

# Capability names. A backend lists those it has; commands check them to give clear errors early.
KEY_POLICIES = "key_policies"
GRANTS = "grants"
ALIASES = "aliases"
TAGS = "tags"
ROTATION = "rotation"
SCHEDULED_DELETION = "scheduled_deletion"
KEY_STATE = "key_state"  # enable/disable enforced by the backend
IMPORT = "import"  # bring-your-own-key (Origin EXTERNAL)
ASYMMETRIC = "asymmetric"  # RSA / ECC sign, verify, public keys
HMAC = "hmac"
IAM_POLICIES = "iam_policies"  # identity policies stored alongside the keys (local HSM only)
AUDIT = "audit"  # a hash-chained local audit log

ALL_CAPABILITIES = frozenset(
    {KEY_POLICIES, GRANTS, ALIASES, TAGS, ROTATION, SCHEDULED_DELETION, KEY_STATE, IMPORT, ASYMMETRIC, HMAC,
     IAM_POLICIES, AUDIT}
)

# Which capability each optional operation needs (operations not listed are part of every backend).
OPERATION_CAPABILITY: dict[str, str] = {
    "get_key_policy": KEY_POLICIES, "put_key_policy": KEY_POLICIES, "list_key_policies": KEY_POLICIES,
    "create_grant": GRANTS, "list_grants": GRANTS, "list_retirable_grants": GRANTS, "retire_grant": GRANTS,
    "revoke_grant": GRANTS,
    "create_alias": ALIASES, "delete_alias": ALIASES, "update_alias": ALIASES, "list_aliases": ALIASES,
    "tag_resource": TAGS, "untag_resource": TAGS, "list_resource_tags": TAGS,
    "enable_key_rotation": ROTATION, "disable_key_rotation": ROTATION, "get_key_rotation_status": ROTATION,
    "rotate_key_on_demand": ROTATION, "list_key_rotations": ROTATION,
    "schedule_key_deletion": SCHEDULED_DELETION, "cancel_key_deletion": SCHEDULED_DELETION,
    "enable_key": KEY_STATE, "disable_key": KEY_STATE,
    "get_parameters_for_import": IMPORT, "import_key_material": IMPORT, "delete_imported_key_material": IMPORT,
    "sign": ASYMMETRIC, "verify": ASYMMETRIC, "get_public_key": ASYMMETRIC, "derive_shared_secret": ASYMMETRIC,
    "generate_mac": HMAC, "verify_mac": HMAC,
    "put_identity_policy": IAM_POLICIES, "get_identity_policy": IAM_POLICIES,
    "list_identity_policies": IAM_POLICIES, "delete_identity_policy": IAM_POLICIES,
}

# Subject and verb for "<...> not supported by <kind> backends".
CAPABILITY_WORDS = {
    KEY_POLICIES: "key policies are", GRANTS: "grants are", ALIASES: "aliases are", TAGS: "tags are",
    ROTATION: "key rotation is", SCHEDULED_DELETION: "scheduled key deletion is",
    KEY_STATE: "enabling and disabling keys is", IMPORT: "imported key material is",
    ASYMMETRIC: "asymmetric keys are", HMAC: "HMAC keys are", IAM_POLICIES: "stored IAM policies are",
    AUDIT: "a local audit log is",
}


class BackendInfo:
    """What `backend list` and the toolbars show about a connected backend."""

    __slots__ = ("kind", "profile", "location", "account_id", "region", "sealed", "extra")

    def __init__(self, kind: str, profile: str, location: str, account_id: str | None = None,
                 region: str | None = None, sealed: bool | None = None, extra: dict[str, Any] | None = None) -> None:
        self.kind = kind  # "local", "pkcs11", "aws"
        self.profile = profile
        self.location = location  # file path, token label, or region/endpoint
        self.account_id = account_id
        self.region = region
        self.sealed = sealed  # None where sealing means nothing
        self.extra = {} if extra is None else extra


class Backend(ABC):
    """Abstract KMS-shaped backend. Subclasses override the operations their capabilities promise."""

    kind: ClassVar[str] = "abstract"
    capabilities: ClassVar[frozenset[str]] = frozenset()

    # Identity the backend acts as, where it decides authorisation itself (the local HSM); an ARN.
    caller_arn: str | None = None

    def set_caller(self, principal_arn: str | None) -> None:
        """Act as `principal_arn` (profile principal or `--as`). Backends that cannot choose refuse."""
        if principal_arn is not None:
            raise UnsupportedOperationException(
                f"acting as another principal (--as) is not supported by {self.kind} backends"
            )

    def info(self) -> BackendInfo:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections and forget in-memory secrets."""

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    def require(self, capability: str) -> None:
        """Raise the clear 'not supported' error for a missing capability."""
        if capability not in self.capabilities:
            words = CAPABILITY_WORDS.get(capability, f"{capability} is")
            raise UnsupportedOperationException(f"{words} not supported by {self.kind} backends")

    def _unsupported(self, operation: str) -> UnsupportedOperationException:
        cap = OPERATION_CAPABILITY.get(operation)
        if cap is not None and cap not in self.capabilities:
            try:
                self.require(cap)
            except UnsupportedOperationException as exc:
                return exc
        return UnsupportedOperationException(f"{operation} is not supported by {self.kind} backends")

    # Fast path for `key list`: metadata of every key with aliases joined in. Backends that can do better
    # than one DescribeKey per key override it.
    def list_key_metadata(self) -> list[dict[str, Any]]:
        """Return KeyMetadata dicts, each with an extra "Aliases" list of alias names."""
        aliases: dict[str, list[str]] = {}
        if self.supports(ALIASES):
            for alias in self.list_aliases().get("Aliases", []):
                if alias.get("TargetKeyId"):
                    aliases.setdefault(alias["TargetKeyId"], []).append(alias["AliasName"])
        out = []
        for key in self.list_keys().get("Keys", []):
            md = dict(self.describe_key(KeyId=key["KeyId"])["KeyMetadata"])
            md["Aliases"] = aliases.get(md["KeyId"], [])
            out.append(md)
        return out


def _make_unsupported(name: str):
    def op(self, **kwargs):
        raise self._unsupported(name)

    op.__name__ = name
    op.__doc__ = f"KMS {''.join(p.title() for p in name.split('_'))}: unsupported unless the backend overrides it."
    return op


# Every KMS operation in the interface. Bodies raise UnsupportedOperationException until overridden.
OPERATIONS = (
    # keys
    "create_key", "describe_key", "list_keys", "enable_key", "disable_key", "schedule_key_deletion",
    "cancel_key_deletion", "update_key_description",
    # aliases and tags
    "create_alias", "delete_alias", "update_alias", "list_aliases", "tag_resource", "untag_resource",
    "list_resource_tags",
    # rotation
    "enable_key_rotation", "disable_key_rotation", "get_key_rotation_status", "rotate_key_on_demand",
    "list_key_rotations",
    # policies
    "get_key_policy", "put_key_policy", "list_key_policies",
    # import (BYOK)
    "get_parameters_for_import", "import_key_material", "delete_imported_key_material",
    # cryptography
    "encrypt", "decrypt", "re_encrypt", "generate_data_key", "generate_data_key_without_plaintext",
    "generate_random", "sign", "verify", "generate_mac", "verify_mac", "get_public_key", "derive_shared_secret",
    # grants
    "create_grant", "list_grants", "list_retirable_grants", "retire_grant", "revoke_grant",
    # identity (IAM) policies kept beside the keys, so a local store can answer as AWS would for any principal.
    # Not KMS API: PrincipalArn, PolicyName, PolicyDocument (JSON text), shaped like IAM's responses.
    "put_identity_policy", "get_identity_policy", "list_identity_policies", "delete_identity_policy",
)

for _name in OPERATIONS:
    setattr(Backend, _name, _make_unsupported(_name))

# Operations that change backend state; refused by a read-only session whatever command asks for them.
MUTATING_OPERATIONS = frozenset({
    "create_key", "enable_key", "disable_key", "schedule_key_deletion", "cancel_key_deletion",
    "update_key_description", "create_alias", "delete_alias", "update_alias", "tag_resource", "untag_resource",
    "enable_key_rotation", "disable_key_rotation", "rotate_key_on_demand", "put_key_policy",
    "import_key_material", "delete_imported_key_material", "create_grant", "retire_grant", "revoke_grant",
    "put_identity_policy", "delete_identity_policy", "put_permissions_boundary", "delete_permissions_boundary",
    "create_organization", "delete_organization", "invite_account", "remove_account", "create_organizational_unit",
    "delete_organizational_unit", "move_account", "create_org_policy", "attach_org_policy", "detach_org_policy",
    "delete_org_policy",
    # Not KMS-shaped, but they change the store (and its audit log) all the same.
    "create_access_key", "delete_access_key", "put_role_trust_policy", "delete_role", "acknowledge_audit_gap",
})
