"""`key ...`: the life of a key — create, list, describe, enable/disable, deletion, rotation, tags,
descriptions, public keys and bring-your-own-key import.

Handlers resolve every key reference through `session.key_ref` (and `resolved_key` where KMS wants a key
id), so ids, ARNs, aliases, alias ARNs and a `profile:` prefix work the same in every command; they return
AWS-shaped data (what `aws kms` prints).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from kmstui.commands.args import (FORCE, GRANT_TOKENS, KEY, OUT, after_change, check_alias_name, check_writable,
                                  parse_tags, read_file, resolved_key, without, write_output)
from kmstui.commands.paging import PAGING_ARGS, paginate
from kmstui.commands.registry import Arg, Result, TableHint
from kmstui.commands.values import BYTES, DOCUMENT, TEXT
from kmstui.errors import AlreadyExistsException, KMSError, NotFoundException, UsageError

KEY_SPECS = ("SYMMETRIC_DEFAULT", "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384",
             "ECC_NIST_P521", "ECC_SECG_P256K1", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512", "SM2")
KEY_USAGES = ("ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT")
KEY_STATES = ("Enabled", "Disabled", "PendingDeletion", "PendingImport", "Unavailable", "Creating",
              "Updating", "PendingReplicaDeletion")

LIST_TABLE = TableHint(rows="Keys", columns=[
    ("Alias", "Aliases"), ("KeyId", "KeyId"), ("Description", "Description"), ("State", "KeyState"),
    ("Spec", "KeySpec"), ("Usage", "KeyUsage"), ("Created", "CreationDate"),
])
TAGS_TABLE = TableHint(rows="Tags", columns=[("Key", "TagKey"), ("Value", "TagValue")])
ROTATIONS_TABLE = TableHint(rows="Rotations", columns=[("Date", "RotationDate"), ("Type", "RotationType"),
                                                       ("KeyMaterialId", "KeyMaterialId")])


def when(value: Any) -> str:
    """A timestamp for a message line: ISO 8601 to the second."""
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)


def checked_policy(text: str, where: str) -> str:
    """A key policy's text, checked to be a JSON policy (one-line error with line and column)."""
    from kmstui.commands.policy import validate_policy_text

    validate_policy_text(text, where)
    return text


def all_pages(call: Callable[..., dict], field: str, **kwargs: Any) -> dict[str, Any]:
    """Follow Marker/NextMarker until the list is complete; return the AWS shape with the whole list."""
    items: list[Any] = []
    marker = None
    while True:
        page = call(**kwargs, **({"Marker": marker} if marker else {}))
        items.extend(page.get(field, []))
        marker = page.get("NextMarker")
        if not page.get("Truncated") or not marker:
            break
    return {field: items}


def metadata_result(response: dict[str, Any], message: str | None = None) -> Result:
    return Result(data={"KeyMetadata": response["KeyMetadata"]}, message=message)


def _key(session, args) -> tuple[Any, str]:
    return resolved_key(session, args.key_id)


def _describe(backend, key: str, message: str | None = None) -> Result:
    return metadata_result(backend.describe_key(KeyId=key), message)


def _changed(session, backend, key: str, done: str) -> Result:
    """After a change that succeeded: the key's new metadata in a table (best effort), else nothing (see after_change)."""
    return after_change(session, lambda: _describe(backend, key), done)


def _alias_is_free(backend, alias: str) -> None:
    """Refuse an alias that is taken before creating the key, so a failed line leaves no unnamed key."""
    try:
        backend.describe_key(KeyId=alias)
    except NotFoundException:
        return
    raise AlreadyExistsException(f"alias '{alias}' already exists; choose another name (no key was created)")


def cmd_create(session, args) -> Result:
    # Sent as given: KMS requires KeyUsage for every key spec but SYMMETRIC_DEFAULT (ValidationException), so
    # there is no default here that would create a key of another usage than the user meant.
    params: dict[str, Any] = {k: v for k, v in (("KeySpec", args.key_spec), ("KeyUsage", args.key_usage)) if v}
    if args.description is not None:
        params["Description"] = args.description
    if args.origin:
        params["Origin"] = args.origin
    if args.policy:
        params["Policy"] = checked_policy(args.policy, "--policy")
    if args.tag:
        params["Tags"] = parse_tags(args.tag)
    if args.bypass_policy_lockout_safety_check:
        params["BypassPolicyLockoutSafetyCheck"] = True
    profile, alias = (session.split_key_ref(args.alias) if args.alias else (None, None))
    if alias is not None:
        check_alias_name(alias, " (no key was created)")
    backend = session.backend(profile)
    if alias:
        _alias_is_free(backend, alias)
    metadata = backend.create_key(**params)["KeyMetadata"]
    message = None
    if alias:
        try:
            backend.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
        except KMSError as exc:
            raise type(exc)(f"key {metadata['KeyId']} was created but alias {alias} was not: {exc}") from None
        message = f"created key {metadata['KeyId']} with alias {alias}"
    return Result(data={"KeyMetadata": metadata}, message=message)


def _table_time(value: Any) -> str:
    """A creation time for the key table: the UTC date, so a key's row fits 120 columns (`key describe` and
    `key list --describe` give the full time)."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d")
    return str(value or "")


def cmd_list(session, args) -> Result:
    """ListKeys, paged as `aws kms list-keys` pages; the table shows each key's aliases and metadata.

    --state and --key-manager (kmstui's filters; AWS has none) and --describe need each key's metadata,
    read in one pass (`list_key_metadata`); the JSON stays ListKeys' shape unless --describe is given."""
    backend = session.backend()
    data = paginate(backend.list_keys, "Keys", args)
    described: dict[str, dict[str, Any]] | None = None

    def metadata() -> dict[str, dict[str, Any]]:
        nonlocal described
        if described is None:
            described = {md["KeyId"]: md for md in backend.list_key_metadata()}
        return described

    if args.state or args.key_manager:
        wanted = {"KeyState": args.state, "KeyManager": args.key_manager}
        data["Keys"] = [k for k in data["Keys"]
                        if all(v is None or metadata().get(k["KeyId"], {}).get(f) == v for f, v in wanted.items())]
    if args.describe:
        data["Keys"] = [metadata().get(k["KeyId"], k) for k in data["Keys"]]

    def table_rows() -> dict[str, Any]:
        rows = []
        for key in data["Keys"]:
            md = dict(metadata().get(key["KeyId"], key))
            md["CreationDate"] = _table_time(md.get("CreationDate"))
            rows.append(md)
        return {"Keys": rows}

    return Result(data=data, table=TableHint(LIST_TABLE.rows, LIST_TABLE.columns, source=table_rows))


def _tokens(args) -> dict[str, Any]:
    return {"GrantTokens": list(args.grant_token)} if getattr(args, "grant_token", None) else {}


def cmd_describe(session, args) -> Result:
    backend, key = session.key_ref(args.key_id)
    return metadata_result(backend.describe_key(KeyId=key, **_tokens(args)))


def cmd_enable(session, args) -> Result:
    backend, key = _key(session, args)
    backend.enable_key(KeyId=key)
    return _changed(session, backend, key, f"enabled {args.key_id}")


def cmd_disable(session, args) -> Result:
    backend, key = _key(session, args)
    backend.disable_key(KeyId=key)
    return _changed(session, backend, key, f"disabled {args.key_id}: it refuses every cryptographic operation until enabled")


def cmd_schedule_deletion(session, args) -> Result:
    backend, key = _key(session, args)
    response = backend.schedule_key_deletion(KeyId=key, PendingWindowInDays=args.days)
    return Result(data=response, message=f"{args.key_id} will be deleted on {when(response.get('DeletionDate'))}; "
                  f"'key cancel-deletion {args.key_id}' undoes this until then")


def cmd_cancel_deletion(session, args) -> Result:
    backend, key = _key(session, args)
    response = without(backend.cancel_key_deletion(KeyId=key), "ResponseMetadata")
    return Result(data=response, message=f"deletion of {args.key_id} cancelled; the key is Disabled until you "
                  "enable it")


def cmd_update_description(session, args) -> Result:
    backend, key = _key(session, args)
    backend.update_key_description(KeyId=key, Description=args.description)
    return _changed(session, backend, key, f"updated the description of {args.key_id}")


def cmd_rotate(session, args) -> Result:
    backend, key = _key(session, args)
    response = backend.rotate_key_on_demand(KeyId=key)
    return Result(data=response, message=f"rotated {args.key_id}: new material encrypts from now on; "
                  "earlier ciphertexts still decrypt")


def cmd_rotation(session, args) -> Result:
    if args.enable and args.disable:
        raise UsageError("give --enable or --disable, not both")
    if args.period is not None and not args.enable:
        raise UsageError("--period goes with --enable")
    if (args.enable or args.disable) and session.options.read_only:
        flag = "--enable" if args.enable else "--disable"
        raise UsageError(f"read-only mode: 'key rotation {flag}' changes backend state; run without --read-only")
    backend, key = _key(session, args)
    if args.enable:
        params = {"RotationPeriodInDays": args.period} if args.period is not None else {}
        backend.enable_key_rotation(KeyId=key, **params)
        return after_change(session, lambda: _rotation_status(backend, key), f"automatic rotation enabled for {args.key_id}")
    if args.disable:
        backend.disable_key_rotation(KeyId=key)
        return after_change(session, lambda: _rotation_status(backend, key), f"automatic rotation disabled for {args.key_id}")
    return _rotation_status(backend, key)


def _rotation_status(backend, key: str) -> Result:
    status = dict(backend.get_key_rotation_status(KeyId=key))
    status.pop("ResponseMetadata", None)
    status["Rotations"] = all_pages(backend.list_key_rotations, "Rotations", KeyId=key)["Rotations"]
    state = "enabled" if status.get("KeyRotationEnabled") else "disabled"
    text = [f"automatic rotation: {state}"]
    if status.get("KeyRotationEnabled"):
        text.append(f"period: {status.get('RotationPeriodInDays')} days, next: {when(status.get('NextRotationDate'))}")
    text += [f"{when(r.get('RotationDate'))}  {r.get('RotationType')}" for r in status["Rotations"]]
    if not status["Rotations"]:
        text.append("no rotations yet")
    return Result(data=status, text="\n".join(text))


def _both(args, positional: str, flag: str, what: str) -> list[str]:
    """The words given as positionals and through the aws CLI's flag (`key tag KEY a=b` or `--tags ...`)."""
    words = list(getattr(args, positional) or []) + list(getattr(args, flag) or [])
    if not words:
        raise UsageError(f"give at least one {what}")
    return words


def cmd_tag(session, args) -> Result:
    tags = parse_tags(_both(args, "pairs", "tags", "tag (KEY=VALUE, or --tags TagKey=K,TagValue=V)"), "tag")
    backend, key = _key(session, args)
    backend.tag_resource(KeyId=key, Tags=tags)
    return after_change(session, lambda: _tags(backend, key), f"tagged {args.key_id}")


def cmd_untag(session, args) -> Result:
    tag_keys = _both(args, "names", "tag_keys", "tag key (or --tag-keys KEY ...)")
    backend, key = _key(session, args)
    backend.untag_resource(KeyId=key, TagKeys=tag_keys)
    return after_change(session, lambda: _tags(backend, key), f"untagged {args.key_id}")


def _tags(backend, key: str) -> Result:
    return Result(data=all_pages(backend.list_resource_tags, "Tags", KeyId=key), table=TAGS_TABLE)


def cmd_tags(session, args) -> Result:
    backend, key = _key(session, args)
    return Result(data=paginate(backend.list_resource_tags, "Tags", args, KeyId=key), table=TAGS_TABLE)


def cmd_rotations(session, args) -> Result:
    backend, key = _key(session, args)
    return Result(data=paginate(backend.list_key_rotations, "Rotations", args, KeyId=key), table=ROTATIONS_TABLE)


def cmd_delete_imported_material(session, args) -> Result:
    backend, key = _key(session, args)
    response = without(backend.delete_imported_key_material(KeyId=key), "ResponseMetadata")
    return Result(data=response or None, message=f"deleted the imported key material of {args.key_id}: it is "
                  "PendingImport until you import the same material again")


def cmd_public_key(session, args) -> Result:
    from cryptography.hazmat.primitives import serialization

    check_writable(args.out, args.force)
    backend, key = _key(session, args)
    response = dict(backend.get_public_key(KeyId=key, **_tokens(args)))
    response.pop("ResponseMetadata", None)
    der = response["PublicKey"]
    pem = serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    if args.out:
        note = write_output(session, args.out, der if args.format == "DER" else pem, args.force)
        return Result(data=None if args.out == "-" else {k: v for k, v in response.items() if k != "PublicKey"},
                      message=note)
    return Result(data=response, text=pem.decode("ascii").rstrip("\n"))


WRAPPING_ALGORITHMS = ("RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256",
                       "RSA_AES_KEY_WRAP_SHA_1")
IMPORT_FILES = ("WrappingPublicKey.bin", "ImportToken.bin")


def cmd_import_parameters(session, args) -> Result:
    from pathlib import Path

    backend, key = _key(session, args)
    if args.out_dir:
        folder = Path(args.out_dir).expanduser()
        if not folder.is_dir():
            raise UsageError(f"--out-dir {args.out_dir}: no such folder")
        for name in IMPORT_FILES:
            check_writable(str(folder / name), args.force, "--out-dir")
    response = without(backend.get_parameters_for_import(
        KeyId=key, WrappingAlgorithm=args.wrapping_algorithm, WrappingKeySpec=args.wrapping_key_spec),
        "ResponseMetadata")
    if not args.out_dir:
        return Result(data=response)
    notes = [write_output(session, str(folder / name), response[field], args.force, flag="--out-dir")
             for name, field in zip(IMPORT_FILES, ("PublicKey", "ImportToken"))]
    data = without(response, "PublicKey", "ImportToken")
    data["Files"] = [str(folder / name) for name in IMPORT_FILES]
    return Result(data=data, message="; ".join(notes))


def wrap_material(material: bytes, public_key: bytes, algorithm: str) -> bytes:
    """Wrap plaintext key material for ImportKeyMaterial the way KMS's wrapping algorithms define."""
    import os

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

    try:
        loader = serialization.load_pem_public_key if public_key.lstrip().startswith(b"-----") \
            else serialization.load_der_public_key
        pub = loader(public_key)
    except ValueError:
        raise UsageError("--public-key-file is not a DER or PEM public key") from None
    if not isinstance(pub, rsa.RSAPublicKey):
        raise UsageError("--public-key-file is not an RSA public key")
    digest = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()
    oaep = padding.OAEP(mgf=padding.MGF1(digest), algorithm=digest, label=None)
    if algorithm.startswith("RSA_AES_KEY_WRAP"):
        aes_key = os.urandom(32)
        return pub.encrypt(aes_key, oaep) + aes_key_wrap_with_padding(aes_key, material)
    try:
        return pub.encrypt(material, oaep)
    except ValueError:
        raise UsageError(f"the key material is too long for {algorithm}; use an RSA_AES_KEY_WRAP algorithm") from None


def cmd_import_material(session, args) -> Result:
    from datetime import timezone

    given = [f for f, v in (("--material-file", args.material_file), ("--raw-material-file", args.raw_material_file),
                            ("--encrypted-key-material", args.encrypted_key_material)) if v is not None]
    if len(given) != 1:
        raise UsageError("give one of --material-file or --encrypted-key-material fileb://PATH (already wrapped), or "
                         "--raw-material-file with --public-key-file")
    if args.raw_material_file and not args.public_key_file:
        raise UsageError("--raw-material-file needs --public-key-file (WrappingPublicKey.bin)")
    if (args.import_token_file is None) == (args.import_token is None):
        raise UsageError("give the ImportToken.bin from 'key import-parameters' once: --import-token-file FILE or "
                         "--import-token fileb://FILE")
    token = args.import_token if args.import_token is not None else \
        read_file(session, args.import_token_file, "--import-token-file")
    if args.encrypted_key_material is not None:
        encrypted = args.encrypted_key_material
    elif args.material_file:
        encrypted = read_file(session, args.material_file, "--material-file")
    else:
        encrypted = wrap_material(read_file(session, args.raw_material_file, "--raw-material-file"),
                                  read_file(session, args.public_key_file, "--public-key-file"),
                                  args.wrapping_algorithm)
    params: dict[str, Any] = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
    if args.valid_to:
        try:
            valid_to = datetime.fromisoformat(args.valid_to)
        except ValueError:
            raise UsageError(f"--valid-to '{args.valid_to}' is not an ISO-8601 time (e.g. 2030-01-31T00:00:00+00:00)") from None
        if valid_to.tzinfo is None:  # as the AWS CLI reads a timestamp without a zone: UTC
            valid_to = valid_to.replace(tzinfo=timezone.utc)
        params = {"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": valid_to}
    if args.expiration_model and args.expiration_model != params["ExpirationModel"]:
        raise UsageError(f"--expiration-model {args.expiration_model} "
                         + ("needs --valid-to TIME" if args.expiration_model == "KEY_MATERIAL_EXPIRES"
                            else "does not go with --valid-to"))
    backend, key = _key(session, args)
    response = backend.import_key_material(KeyId=key, ImportToken=token, EncryptedKeyMaterial=encrypted, **params)
    # ImportKeyMaterial answers KeyId and KeyMaterialId (botocore's model), so this prints them, as aws does.
    return Result(data=without(response, "ResponseMetadata") or None,
                  message=f"imported key material into {args.key_id}")


def register(registry) -> None:
    registry.describe_group("key", "create, inspect and manage keys (state, deletion, rotation, tags, import)")
    c = registry.command

    c("key create", "Create a key (symmetric by default; RSA, ECC or HMAC with --key-spec)", [
        Arg("--key-spec", "key type (default SYMMETRIC_DEFAULT, an AES-256 key)", choices=KEY_SPECS,
            aliases=("--customer-master-key-spec",)),
        Arg("--key-usage", "what the key is for; required for every spec but SYMMETRIC_DEFAULT, as in KMS (RSA: "
            "ENCRYPT_DECRYPT or SIGN_VERIFY; NIST ECC: SIGN_VERIFY or KEY_AGREEMENT; ECC_SECG_P256K1: SIGN_VERIFY; "
            "HMAC: GENERATE_VERIFY_MAC)", choices=KEY_USAGES),
        Arg("--description", "free-text description shown in 'key list' (TEXT or file://PATH)", metavar="TEXT",
            kind=TEXT),
        Arg("--origin", "AWS_KMS (the backend makes the material) or EXTERNAL (you import it)",
            choices=("AWS_KMS", "EXTERNAL")),
        Arg("--policy", "key policy: a JSON file PATH, file://PATH or the JSON text (default: the backend's "
            "default key policy)", complete="file", metavar="FILE", kind=DOCUMENT),
        Arg("--tag", "tag KEY=VALUE (repeatable), or a JSON list of {\"TagKey\": ..., \"TagValue\": ...} (inline or "
            "file://PATH)", repeat=True, nargs="+", flat=True, aliases=("--tags",), metavar="K=V", kind=TEXT),
        Arg("--alias", "also create this alias (alias/NAME) for the new key", metavar="alias/NAME"),
        Arg("--bypass-policy-lockout-safety-check", "skip KMS's check that the --policy lets you manage the key "
            "(as in AWS: only when you mean it)", flag=True),
    ], mutates=True, examples=["key create --description 'app data' --alias alias/app",
                               "key create --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY",
                               "key create --key-spec HMAC_256 --key-usage GENERATE_VERIFY_MAC"])(cmd_create)
    c("key list", "List keys (ListKeys: KeyId, KeyArn); a table shows aliases, description and state", [
        Arg("--state", "only keys in this state (kmstui filter)", choices=KEY_STATES),
        Arg("--key-manager", "only customer-managed or AWS-managed keys (kmstui filter)",
            choices=("CUSTOMER", "AWS")),
        Arg("--describe", "print each key's full KeyMetadata (with its Aliases) instead of ListKeys' "
            "{KeyId, KeyArn}", flag=True),
        *PAGING_ARGS,
    ], description="ListKeys. JSON, YAML and text print what 'aws kms list-keys' prints: Keys[].KeyId and "
                   "Keys[].KeyArn, every page fetched (--max-items, --page-size, --starting-token; "
                   "--no-paginate, --limit and --marker make one call and add Truncated and NextMarker). "
                   "A table shows each key's aliases, description, state, spec, usage and creation date; "
                   "--describe puts that metadata in the JSON too.",
       examples=["key list", "key list --output json --query 'Keys[].KeyId'", "key list --describe --state Enabled",
                 "key list --max-items 10"])(cmd_list)
    c("key describe", "Show a key's metadata (KeyMetadata)", [KEY, GRANT_TOKENS])(cmd_describe)
    c("key enable", "Enable a disabled key", [KEY], mutates=True)(cmd_enable)
    c("key disable", "Disable a key: every cryptographic operation with it is refused", [KEY],
      mutates=True, confirm="key_id")(cmd_disable)
    c("key schedule-deletion", "Schedule a key's deletion after a waiting period (7-30 days)", [
        KEY, Arg("--days", "waiting period in days, 7 to 30", type=int, default=30, metavar="DAYS",
                 aliases=("--pending-window-in-days",)),
    ], mutates=True, confirm="key_id")(cmd_schedule_deletion)
    c("key cancel-deletion", "Cancel a scheduled deletion (the key comes back Disabled)", [KEY],
      mutates=True)(cmd_cancel_deletion)
    c("key update-description", "Change a key's description", [
        KEY, Arg("--description", "the new description (TEXT or file://PATH)", required=True, metavar="TEXT",
                 kind=TEXT),
    ], mutates=True)(cmd_update_description)
    c("key rotate", "Rotate a key's material now (older versions still decrypt)", [KEY],
      mutates=True)(cmd_rotate)
    c("key rotation", "Show automatic rotation status and past rotations; --enable/--disable change it", [
        KEY, Arg("--enable", "turn automatic rotation on", flag=True),
        Arg("--period", "rotation period in days with --enable (90-2560, default 365)", type=int, metavar="DAYS",
            aliases=("--rotation-period-in-days",)),
        Arg("--disable", "turn automatic rotation off", flag=True),
    ])(cmd_rotation)
    c("key tag", "Add or change tags on a key", [
        KEY, Arg("pairs", "tags as KEY=VALUE, or a JSON list of {\"TagKey\": ..., \"TagValue\": ...} (inline or "
                 "file://PATH)", nargs="*", metavar="K=V", kind=TEXT),
        Arg("--tags", "tags as the aws CLI gives them: TagKey=K,TagValue=V ... or JSON (also KEY=VALUE)",
            repeat=True, nargs="+", flat=True, metavar="TAG", kind=TEXT),
    ], mutates=True)(cmd_tag)
    c("key untag", "Remove tags from a key", [
        KEY, Arg("names", "tag keys to remove", nargs="*", metavar="TAGKEY"),
        Arg("--tag-keys", "tag keys to remove, as the aws CLI gives them", repeat=True, nargs="+", flat=True,
            metavar="TAGKEY"),
    ], mutates=True)(cmd_untag)
    c("key tags", "List a key's tags (ListResourceTags)", [KEY, *PAGING_ARGS])(cmd_tags)
    c("key rotations", "List a key's rotations (ListKeyRotations)", [KEY, *PAGING_ARGS])(cmd_rotations)
    c("key delete-imported-material", "Delete the imported key material of an EXTERNAL key (it becomes "
      "PendingImport)", [KEY], mutates=True, confirm="key_id")(cmd_delete_imported_material)
    c("key public-key", "Show or save the public key of an asymmetric key (PEM by default)", [
        KEY, OUT, Arg("--format", "file format with --out", choices=("PEM", "DER"), default="PEM"),
        FORCE, GRANT_TOKENS,
    ])(cmd_public_key)
    c("key import-parameters", "Get a wrapping public key and import token for importing key material", [
        KEY,
        Arg("--wrapping-algorithm", "how the material will be wrapped (default RSAES_OAEP_SHA_256)",
            choices=WRAPPING_ALGORITHMS, default="RSAES_OAEP_SHA_256"),
        Arg("--wrapping-key-spec", "size of the wrapping RSA key (default RSA_4096)",
            choices=("RSA_2048", "RSA_3072", "RSA_4096"), default="RSA_4096"),
        Arg("--out-dir", "write WrappingPublicKey.bin (DER) and ImportToken.bin into DIR instead of printing "
            "them base64-encoded", complete="dir", metavar="DIR"),
        FORCE,
    ])(cmd_import_parameters)
    c("key import-material", "Import key material into an EXTERNAL-origin key", [
        KEY,
        Arg("--import-token-file", "the ImportToken.bin from 'key import-parameters'", complete="file",
            metavar="FILE"),
        Arg("--import-token", "the import token as the aws CLI takes it: fileb://ImportToken.bin", metavar="BLOB",
            kind=BYTES),
        Arg("--encrypted-key-material", "the wrapped material as the aws CLI takes it: fileb://PATH",
            metavar="BLOB", kind=BYTES),
        Arg("--expiration-model", "KEY_MATERIAL_EXPIRES (with --valid-to) or KEY_MATERIAL_DOES_NOT_EXPIRE (default "
            "without --valid-to)", choices=("KEY_MATERIAL_EXPIRES", "KEY_MATERIAL_DOES_NOT_EXPIRE")),
        Arg("--material-file", "key material already wrapped with the wrapping public key", complete="file",
            metavar="FILE"),
        Arg("--raw-material-file", "plaintext key material to wrap here (needs --public-key-file)",
            complete="file", metavar="FILE"),
        Arg("--public-key-file", "WrappingPublicKey.bin (DER or PEM) to wrap --raw-material-file with",
            complete="file", metavar="FILE"),
        Arg("--wrapping-algorithm", "algorithm used with --raw-material-file (default RSAES_OAEP_SHA_256; must "
            "match import-parameters)", choices=WRAPPING_ALGORITHMS, default="RSAES_OAEP_SHA_256"),
        Arg("--valid-to", "material expires at this ISO-8601 time (default: never)", metavar="TIME"),
    ], mutates=True)(cmd_import_material)
