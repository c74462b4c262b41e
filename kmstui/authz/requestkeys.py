"""The condition keys a KMS request carries that come from its parameters or from the key it names.

One table (`KEYS`) says, for every such key, where AWS takes its value from; `RequestContext` reads it
through `derive`, so the local backend (which passes the real call's parameters and the key's metadata),
`whatif` (which builds the same parameters from its flags, a scenario or a CloudTrail record) and the
server all fill the same keys the same way. Sources: "AWS KMS condition keys"
(https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html) and "ABAC for AWS KMS".

Only parameter names listed in `PARAMETERS` are ever read (or kept by callers): a request's plaintext,
ciphertext and messages never enter the engine.
"""

from __future__ import annotations

from typing import Any, Callable

from kmstui.authz import actions as A

_DATA_KEY_OPS = frozenset({"GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
                           "GenerateDataKeyPairWithoutPlaintext"})
_ALGORITHM_PARAM = {"Encrypt": "EncryptionAlgorithm", "Decrypt": "EncryptionAlgorithm",
                    "ReEncryptFrom": "SourceEncryptionAlgorithm", "ReEncryptTo": "DestinationEncryptionAlgorithm"}
# The request parameter naming the key, per operation (kms:RequestAlias reads it).
KEY_PARAM = {"ReEncryptFrom": "SourceKeyId", "ReEncryptTo": "DestinationKeyId"}
# kms:RequestAlias: "cryptographic operations, DescribeKey, and GetPublicKey" (conditions-kms.html).
REQUEST_ALIAS_OPS = frozenset(A.CRYPTO_ACTIONS | {"DescribeKey", "GetPublicKey"})
_KEY_OPS = frozenset(A.KEY_ACTIONS)
_TAGGING_OPS = {"TagResource": "Tags", "CreateKey": "Tags", "ReplicateKey": "Tags"}

# Every request parameter a condition key reads (callers keep only these, never secrets or data).
PARAMETERS = frozenset({
    "KeyId", "SourceKeyId", "DestinationKeyId", "EncryptionAlgorithm", "SourceEncryptionAlgorithm",
    "DestinationEncryptionAlgorithm", "SigningAlgorithm", "MacAlgorithm", "KeyAgreementAlgorithm", "KeyPairSpec",
    "KeySpec", "CustomerMasterKeySpec", "KeyUsage", "Origin", "MultiRegion", "BypassPolicyLockoutSafetyCheck",
    "PendingWindowInDays", "RotationPeriodInDays", "PrimaryRegion", "ReplicaRegion", "ExpirationModel",
    "ValidTo", "WrappingAlgorithm", "WrappingKeySpec", "Tags", "TagKeys",
})
_PARAMETERS_BY_LOWER = {p.lower(): p for p in PARAMETERS}  # keep_parameters runs on every call


def _param(ctx, name: str) -> Any:
    params = ctx.parameters
    return params.get(name.lower()) if params else None


def _key_prop(ctx, name: str) -> Any:
    key = ctx.request.key
    if not key or ctx.action_name not in _KEY_OPS:
        return None
    return key.get(name)


def _bool(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


def _encryption_algorithm(ctx) -> Any:
    op = ctx.action_name
    if op in _DATA_KEY_OPS:
        # "For operations that generate data keys and data key pairs, it controls access based on the
        # encryption algorithm that is used to encrypt the data key" (conditions-kms.html): always the
        # symmetric key's SYMMETRIC_DEFAULT.
        return "SYMMETRIC_DEFAULT"
    name = _ALGORITHM_PARAM.get(op)
    if name is None:
        return None
    # The parameter's documented default is SYMMETRIC_DEFAULT (Encrypt/Decrypt/ReEncrypt API reference).
    return _param(ctx, name) or "SYMMETRIC_DEFAULT"


def _on(ops: frozenset | set, name: str, default: Any = None) -> Callable:
    def get(ctx) -> Any:
        if ctx.action_name not in ops:
            return None
        v = _param(ctx, name)
        return _bool(v) if v is not None else default
    return get


def _create_or_key(param: str, prop: str, default: Any, alt: str | None = None) -> Callable:
    """kms:KeySpec/KeyUsage/KeyOrigin/MultiRegion: "It works as a resource condition or a request
    condition": CreateKey reads the request (with the API's default), key operations the key."""
    def get(ctx) -> Any:
        if ctx.action_name == "CreateKey":
            v = _param(ctx, param)
            if v is None and alt:
                v = _param(ctx, alt)
            if v is None and param == "KeyUsage":
                spec = _param(ctx, "KeySpec") or _param(ctx, "CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
                v = default_usage(str(spec))
            return _bool(v if v is not None else default)
        return _bool(_key_prop(ctx, prop))
    return get


def default_usage(spec: str) -> str:
    """CreateKey's KeyUsage when none is given: HMAC keys GENERATE_VERIFY_MAC, else ENCRYPT_DECRYPT."""
    return "GENERATE_VERIFY_MAC" if spec.startswith("HMAC_") else "ENCRYPT_DECRYPT"


def _multi_region_type(ctx) -> Any:
    if ctx.action_name == "CreateKey":
        return "PRIMARY" if _bool(_param(ctx, "MultiRegion")) == "true" else None
    cfg = _key_prop(ctx, "MultiRegionConfiguration")
    return cfg.get("MultiRegionKeyType") if isinstance(cfg, dict) else None


def alias_name(ref: Any) -> str | None:
    """The alias name a KeyId parameter names (`alias/x` or an alias ARN), else None."""
    if not isinstance(ref, str):
        return None
    if ref.startswith("alias/"):
        return ref
    if ref.startswith("arn:") and ":alias/" in ref:
        return ref[ref.index(":alias/") + 1:]
    return None


def _request_alias(ctx) -> Any:
    if ctx.request.request_alias is not None:
        return ctx.request.request_alias or None
    if ctx.action_name not in REQUEST_ALIAS_OPS:
        return None
    return alias_name(_param(ctx, KEY_PARAM.get(ctx.action_name, "KeyId")))


def _resource_aliases(ctx) -> Any:
    if ctx.action_name not in _KEY_OPS:
        return None
    aliases = ctx.key_aliases()
    return list(aliases) if aliases else None


def _tag_keys(ctx) -> Any:
    op = ctx.action_name
    if op == "UntagResource":
        keys = _param(ctx, "TagKeys")
        return list(keys) if isinstance(keys, list) and keys else None
    tags = ctx.request_tags()
    return list(tags) if tags else None


def _same_key(ctx) -> Any:
    """kms:ReEncryptOnSameKey: whether ReEncrypt's other key (DestinationKeyId for ReEncryptFrom, SourceKeyId
    for ReEncryptTo) names this key, by id, ARN or one of its aliases; absent when the request does not say."""
    op = ctx.action_name
    if op not in ("ReEncryptFrom", "ReEncryptTo"):
        return None
    other = _param(ctx, "DestinationKeyId" if op == "ReEncryptFrom" else "SourceKeyId")
    key = ctx.request.key or {}
    if not isinstance(other, str) or not (key or ctx.request.key_arn):
        return None
    own = {key.get("KeyId"), key.get("Arn"), ctx.request.key_arn}
    own.discard(None)
    if ctx.request.key_arn and ":key/" in ctx.request.key_arn:
        own.add(ctx.request.key_arn.rsplit("/", 1)[1])
    name = alias_name(other)
    return "true" if other in own or (name is not None and name in ctx.key_aliases()) else "false"


KEYS: dict[str, Callable] = {
    "kms:reencryptonsamekey": _same_key,
    "kms:encryptionalgorithm": _encryption_algorithm,
    "kms:signingalgorithm": _on({"Sign", "Verify"}, "SigningAlgorithm"),
    "kms:macalgorithm": _on({"GenerateMac", "VerifyMac"}, "MacAlgorithm"),
    "kms:keyagreementalgorithm": _on({"DeriveSharedSecret"}, "KeyAgreementAlgorithm"),
    "kms:datakeypairspec": _on({"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"}, "KeyPairSpec"),
    "kms:keyspec": _create_or_key("KeySpec", "KeySpec", "SYMMETRIC_DEFAULT", alt="CustomerMasterKeySpec"),
    "kms:keyusage": _create_or_key("KeyUsage", "KeyUsage", "ENCRYPT_DECRYPT"),
    "kms:keyorigin": _create_or_key("Origin", "Origin", "AWS_KMS"),
    "kms:multiregion": _create_or_key("MultiRegion", "MultiRegion", False),
    "kms:multiregionkeytype": _multi_region_type,
    "kms:bypasspolicylockoutsafetycheck": _on({"CreateKey", "PutKeyPolicy"}, "BypassPolicyLockoutSafetyCheck",
                                              "false"),
    "kms:schedulekeydeletionpendingwindowindays": _on({"ScheduleKeyDeletion"}, "PendingWindowInDays", 30),
    "kms:rotationperiodindays": _on({"EnableKeyRotation"}, "RotationPeriodInDays", 365),
    "kms:primaryregion": _on({"UpdatePrimaryRegion"}, "PrimaryRegion"),
    "kms:replicaregion": _on({"ReplicateKey"}, "ReplicaRegion"),
    "kms:expirationmodel": _on({"ImportKeyMaterial"}, "ExpirationModel", "KEY_MATERIAL_EXPIRES"),
    "kms:validto": _on({"ImportKeyMaterial"}, "ValidTo"),
    "kms:wrappingalgorithm": _on({"GetParametersForImport"}, "WrappingAlgorithm"),
    "kms:wrappingkeyspec": _on({"GetParametersForImport"}, "WrappingKeySpec"),
    "kms:requestalias": _request_alias,
    "kms:resourcealiases": _resource_aliases,
    "aws:tagkeys": _tag_keys,
}

# Keys the local backend can never carry (no AWS service calls it, no VPC, no attestation): documented, and
# the enforcement test checks every other key in KEYS and in context.py's derived set.
NOT_LOCAL = {"kms:viaservice": "no AWS service calls the local HSM on a caller's behalf",
             "kms:datakeypairspec": "GenerateDataKeyPair is not supported by local backends",
             "kms:keyagreementalgorithm": "DeriveSharedSecret is not supported by local backends",
             "kms:multiregion": "multi-Region keys are not supported by local backends",
             "kms:multiregionkeytype": "multi-Region keys are not supported by local backends",
             "kms:primaryregion": "multi-Region keys are not supported by local backends",
             "kms:replicaregion": "multi-Region keys are not supported by local backends",
             "aws:principalservicename": "no service principal calls the local HSM",
             "kms:grantconstraintsourcearn": "no AWS service creates grants on the local HSM",
             "kms:granteeserviceprincipal": "the local HSM takes no GranteeServicePrincipal",
             "kms:recipientattestation:imagesha384": "no Nitro Enclave attests to the local HSM",
             "kms:recipientattestation:pcr": "no Nitro Enclave attests to the local HSM"}


def derive(key: str, ctx) -> Any:
    """The value of `key` (lower-cased) for this request, None when absent; _MISSING-free."""
    fn = KEYS.get(key)
    if fn is not None:
        return fn(ctx)
    if key.startswith("aws:resourcetag/"):
        if ctx.action_name not in _KEY_OPS:
            return None
        want = key[len("aws:resourcetag/"):]
        return _lookup_ci(ctx.key_tags(), want)
    if key.startswith("aws:requesttag/"):
        return _lookup_ci(ctx.request_tags(), key[len("aws:requesttag/"):])
    return None


def _lookup_ci(tags: dict | None, want: str) -> Any:
    """Tag keys in condition keys are case-insensitive as condition-key names are; values are exact."""
    if not tags:
        return None
    for k, v in tags.items():
        if k.lower() == want:
            return v
    return None


def tags_dict(tags: Any) -> dict[str, str]:
    """A TagList ([{"TagKey", "TagValue"}], as KMS takes and CloudTrail records it) or a plain dict -> dict."""
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    out: dict[str, str] = {}
    if isinstance(tags, list):
        for t in tags:
            if isinstance(t, dict):
                k = t.get("TagKey", t.get("tagKey", t.get("Key", t.get("key"))))
                v = t.get("TagValue", t.get("tagValue", t.get("Value", t.get("value"))))
                if isinstance(k, str):
                    out[k] = "" if v is None else str(v)
    return out


def request_tags_of(action_name: str, parameters: dict | None) -> dict[str, str] | None:
    """aws:RequestTag source: the Tags parameter of TagResource, CreateKey and ReplicateKey."""
    name = _TAGGING_OPS.get(action_name)
    if name is None or not parameters:
        return None
    tags = parameters.get(name.lower())
    return tags_dict(tags) if tags else None


def keep_parameters(params: dict[str, Any] | None) -> dict[str, Any]:
    """The condition-relevant parameters of a call (any case), nothing else: never plaintext or data."""
    if not params:
        return {}
    wanted = _PARAMETERS_BY_LOWER
    return {wanted[k.lower()]: v for k, v in params.items() if isinstance(k, str) and k.lower() in wanted}


def request_facts(request, reads: frozenset[str]) -> tuple:
    """The values of the condition keys in `reads` for `request`, hashable: with the caller, action and
    policies, exactly what a decision depends on (used to memoise decisions)."""
    if not reads:
        return ()
    from kmstui.authz.engine import _context

    ctx = _context(request)
    return tuple((k, _freeze(ctx.get(k))) for k in sorted(reads))


def _freeze(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((str(k), _freeze(x)) for k, x in v.items()))
    return v
