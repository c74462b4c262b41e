"""Grants end to end on the local HSM: the `grant` commands, and what the backend then allows each caller
(`--as`), decided by kmstui.authz on every call. Account 111122223333 (the unsealed_hsm fixture)."""

from __future__ import annotations

import json

import pytest

from kmstui.errors import (AccessDeniedException, DisabledException, InvalidCiphertextException, InvalidGrantIdException,
                           InvalidGrantTokenException, KMSInvalidStateException, NotFoundException, UsageError)

ACCOUNT = "111122223333"
B = f"arn:aws:iam::{ACCOUNT}:role/B"
C = f"arn:aws:iam::{ACCOUNT}:user/C"
OPS = f"arn:aws:iam::{ACCOUNT}:role/ops"


def run(session, *words):
    return session.execute([str(w) for w in words]).data


def denied(session, *words) -> str:
    with pytest.raises(AccessDeniedException) as err:
        run(session, *words)
    return str(err.value)


@pytest.fixture
def key(session) -> str:
    return run(session, "key", "create", "--description", "grants")["KeyMetadata"]["KeyId"]


def encrypt(session, key, *pairs, who=None):
    words = ["encrypt", "--key-id", key, "--plaintext", "s3cret"]
    for pair in pairs:
        words += ["--context", pair]
    if who:
        words += ["--as", who]
    return run(session, *words)["CiphertextBlob"]


def decrypt(session, blob, *pairs, who=B, tokens=()):
    import base64

    words = ["decrypt", "--ciphertext-blob", base64.b64encode(blob).decode()]
    for pair in pairs:
        words += ["--context", pair]
    for token in tokens:
        words += ["--grant-token", token]
    if who:
        words += ["--as", who]
    return run(session, *words)["Plaintext"]


def grant(session, key, grantee, ops, *extra):
    return run(session, "grant", "create", "--key-id", key, "--grantee-principal", grantee, "--operations", ops,
               *extra)


def test_a_grant_lets_b_decrypt_only_with_the_right_context(session, key):
    web = encrypt(session, key, "app=web")
    web_prod = encrypt(session, key, "app=web", "env=prod")
    message = denied(session, "decrypt", "--ciphertext-blob", _b64(web), "--context", "app=web", "--as", B)
    assert "kms:Decrypt" in message and B in message and key in message

    grant(session, key, B, "Decrypt", "--constraint", "encryption-context-equals", "app=web")
    assert decrypt(session, web, "app=web") == b"s3cret"
    denied(session, "decrypt", "--ciphertext-blob", _b64(web_prod), "--context", "app=web", "--context",
           "env=prod", "--as", B)  # Equals: an extra pair is not the grant's context
    denied(session, "encrypt", "--key-id", key, "--plaintext", "x", "--context", "app=web", "--as", B)
    # Grant constraint keys are case-insensitive, so the grant admits "App=web"; the ciphertext itself,
    # bound to "app=web", still refuses to open under another context.
    with pytest.raises(InvalidCiphertextException):
        decrypt(session, web, "App=web")
    assert decrypt(session, web, "app=web", who=None) == b"s3cret"  # the account root is unaffected


def test_subset_constraint_accepts_extra_pairs_but_not_a_missing_one(session, key):
    grant(session, key, B, "Encrypt,Decrypt", "--constraint", "encryption-context-subset", "tenant=acme")
    blob = encrypt(session, key, "tenant=acme", "file=a.csv", who=B)
    assert decrypt(session, blob, "tenant=acme", "file=a.csv") == b"s3cret"
    denied(session, "encrypt", "--key-id", key, "--plaintext", "x", "--context", "file=a.csv", "--as", B)
    denied(session, "encrypt", "--key-id", key, "--plaintext", "x", "--context", "tenant=ACME", "--as", B)


def test_retire_and_revoke_take_effect_at_once(session, key):
    blob = encrypt(session, key)
    first = grant(session, key, B, "Decrypt", "--retiring-principal", OPS)
    second = grant(session, key, B, "Decrypt", "--name", "second")
    assert decrypt(session, blob) == b"s3cret"

    run(session, "grant", "retire", "--grant-token", first["GrantToken"], "--as", OPS)
    assert [g["GrantId"] for g in run(session, "grant", "list", "--key-id", key)["Grants"]] == [second["GrantId"]]
    assert decrypt(session, blob) == b"s3cret"  # the other grant still counts

    run(session, "grant", "revoke", "--key-id", key, "--grant-id", second["GrantId"], "--yes")
    denied(session, "decrypt", "--ciphertext-blob", _b64(blob), "--as", B)
    assert run(session, "grant", "list", "--key-id", key)["Grants"] == []


def test_a_change_made_by_another_process_counts_at_once(session, key, run_kmstui):
    blob = encrypt(session, key)
    created = grant(session, key, B, "Decrypt")
    out = run_kmstui("decrypt", "--ciphertext-blob", _b64(blob), "--as", B, "--output", "json")
    assert out.code == 0, out.err
    assert decrypt(session, blob) == b"s3cret"  # the decision is cached here now
    revoked = run_kmstui("grant", "revoke", "--key-id", key, "--grant-id", created["GrantId"], "--yes")
    assert revoked.code == 0, revoked.err
    denied(session, "decrypt", "--ciphertext-blob", _b64(blob), "--as", B)


def test_a_grant_cannot_widen_itself(session, key):
    grant(session, key, B, "CreateGrant,Decrypt", "--constraint", "encryption-context-subset", "tenant=acme")
    base = ["grant", "create", "--key-id", key, "--grantee-principal", C, "--as", B]
    denied(session, *base, "--operations", "Decrypt,Encrypt", "--constraint", "encryption-context-subset",
           "tenant=acme")
    denied(session, *base, "--operations", "Decrypt")  # dropping the constraint
    denied(session, *base, "--operations", "Decrypt", "--constraint", "encryption-context-subset", "tenant=other")
    denied(session, *base, "--operations", "CreateGrant,Decrypt", "--constraint", "encryption-context-equals",
           "env=prod")  # Equals without the parent's pair
    ok = run(session, *base, "--operations", "Decrypt", "--constraint", "encryption-context-subset", "tenant=acme",
             "env=prod")
    assert ok["GrantId"]
    blob = encrypt(session, key, "tenant=acme", "env=prod")
    assert decrypt(session, blob, "tenant=acme", "env=prod", who=C) == b"s3cret"
    assert len(run(session, "grant", "list", "--key-id", key)["Grants"]) == 2


def test_revoke_is_for_key_administrators_not_grantees(session, key):
    created = grant(session, key, B, "Decrypt,RetireGrant")
    message = denied(session, "grant", "revoke", "--key-id", key, "--grant-id", created["GrantId"], "--yes",
                     "--as", B)
    assert "kms:RevokeGrant" in message
    denied(session, "grant", "retire", "--key-id", key, "--grant-id", created["GrantId"], "--as", C)
    run(session, "grant", "retire", "--key-id", key, "--grant-id", created["GrantId"], "--as", B)  # lists RetireGrant
    assert run(session, "grant", "list", "--key-id", key)["Grants"] == []


def test_revoke_asks_for_confirmation_and_changes_nothing_without_it(session, key):
    created = grant(session, key, B, "Decrypt")
    with pytest.raises(UsageError, match="--yes"):
        run(session, "grant", "revoke", "--key-id", key, "--grant-id", created["GrantId"])
    assert len(run(session, "grant", "list", "--key-id", key)["Grants"]) == 1


def test_name_makes_create_idempotent(session, key):
    args = ("--constraint", "encryption-context-equals", "app=web", "--name", "app-web")
    first = grant(session, key, B, "Decrypt", *args)
    again = grant(session, key, B, "Decrypt", *args)
    assert again == first
    other = grant(session, key, B, "Decrypt,Encrypt", *args)  # other parameters: a new grant
    assert other["GrantId"] != first["GrantId"]
    grants = run(session, "grant", "list", "--key-id", key, "--grantee-principal", B)["Grants"]
    assert sorted(g["GrantId"] for g in grants) == sorted([first["GrantId"], other["GrantId"]])
    shown = run(session, "grant", "list", "--key-id", key, "--grant-id", first["GrantId"])["Grants"]
    assert [(g["Name"], g["Operations"], g["Constraints"]) for g in shown] == [
        ("app-web", ["Decrypt"], {"EncryptionContextEquals": {"app": "web"}})]
    assert shown[0]["KeyId"].endswith(f":key/{key}") and shown[0]["GranteePrincipal"] == B


def test_list_retirable_names_the_retiring_principals_grants(session, key):
    mine = grant(session, key, B, "Decrypt", "--retiring-principal", OPS)
    grant(session, key, B, "Encrypt")
    got = run(session, "grant", "list-retirable", "--retiring-principal", OPS)["Grants"]
    assert [g["GrantId"] for g in got] == [mine["GrantId"]]


def test_bad_token_unknown_and_malformed_grant_ids_get_kms_errors(session, key):
    blob = encrypt(session, key)
    created = grant(session, key, B, "Decrypt")
    forged = created["GrantToken"][:-4] + ("AAAA" if not created["GrantToken"].endswith("AAAA") else "BBBB")
    with pytest.raises(InvalidGrantTokenException):
        run(session, "grant", "retire", "--grant-token", forged)
    with pytest.raises(InvalidGrantTokenException):
        decrypt(session, blob, tokens=["not-a-token"])
    assert decrypt(session, blob, tokens=[created["GrantToken"]]) == b"s3cret"
    with pytest.raises(NotFoundException):
        run(session, "grant", "revoke", "--key-id", key, "--grant-id", "ab" * 32, "--yes")
    with pytest.raises(InvalidGrantIdException):
        run(session, "grant", "retire", "--key-id", key, "--grant-id", "nope")


def test_a_disabled_key_refuses_the_grantee_with_disabled_exception(session, key):
    blob = encrypt(session, key)
    grant(session, key, B, "Decrypt")
    run(session, "key", "disable", key, "--yes")
    with pytest.raises(DisabledException):
        decrypt(session, blob)
    run(session, "key", "schedule-deletion", key, "--days", "7", "--yes")
    with pytest.raises(KMSInvalidStateException):
        grant(session, key, B, "Encrypt")


def test_every_grant_operation_is_in_the_audit_log(session, key, unsealed_hsm):
    created = grant(session, key, B, "Decrypt,RetireGrant")
    run(session, "grant", "list", "--key-id", key)
    with pytest.raises(AccessDeniedException):
        run(session, "grant", "revoke", "--key-id", key, "--grant-id", created["GrantId"], "--yes", "--as", B)
    run(session, "grant", "retire", "--grant-token", created["GrantToken"], "--as", B)
    session.close()
    events = [json.loads(line) for line in unsealed_hsm.audit.path.read_text().splitlines()]
    grants = [(e["eventName"], e["userIdentity"]["arn"], e.get("errorCode")) for e in events
              if "Grant" in e["eventName"]]
    root = f"arn:aws:iam::{ACCOUNT}:root"
    assert grants == [("CreateGrant", root, None), ("ListGrants", root, None),
                      ("RevokeGrant", B, "AccessDeniedException"), ("RetireGrant", B, None)]
    assert created["GrantToken"] not in unsealed_hsm.audit.path.read_text()


def test_the_cli_prints_access_denied_on_one_line_and_the_trace_only_under_debug(session, key, run_kmstui):
    blob = encrypt(session, key)
    out = run_kmstui("decrypt", "--ciphertext-blob", _b64(blob), "--as", B)
    assert out.code == 254
    assert out.err.strip().count("\n") == 0 and "AccessDeniedException" in out.err and B in out.err
    assert '"decided_by"' not in out.err
    debug = run_kmstui("decrypt", "--ciphertext-blob", _b64(blob), "--as", B, "--debug")
    assert debug.code == 254 and '"decided_by"' in debug.err and "implicit_deny" in debug.err


def _b64(blob: bytes) -> str:
    import base64

    return base64.b64encode(blob).decode()


def test_a_session_of_the_grantee_role_uses_the_grant_even_with_a_role_path(session, key):
    blob = encrypt(session, key, "app=web")
    grant(session, key, f"arn:aws:iam::{ACCOUNT}:role/team/reader", "Decrypt")
    who = f"arn:aws:sts::{ACCOUNT}:assumed-role/reader/job-7"
    assert decrypt(session, blob, "app=web", who=who) == b"s3cret"
    with pytest.raises(AccessDeniedException):
        decrypt(session, blob, "app=web", who=f"arn:aws:sts::{ACCOUNT}:assumed-role/writer/job-7")


def test_a_key_policy_change_counts_at_once(session, key, tmp_path):
    blob = encrypt(session, key)
    grant(session, key, B, "Decrypt")
    assert decrypt(session, blob) == b"s3cret"
    policy = json.loads(run(session, "policy", "get", "--key-id", key)["Policy"])
    policy["Statement"].append({"Sid": "NoB", "Effect": "Deny", "Principal": {"AWS": B}, "Action": "kms:Decrypt",
                                "Resource": "*"})
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    run(session, "policy", "put", "--key-id", key, "--file", str(path), "--yes")
    message = denied(session, "decrypt", "--ciphertext-blob", _b64(blob), "--as", B)
    assert "explicit deny" in message


def test_grant_list_follows_every_page(session, key, unsealed_hsm):
    with unsealed_hsm.store.transaction():
        made = [unsealed_hsm.create_grant(KeyId=key, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:role/w{i}",
                                          Operations=["Decrypt"])["GrantId"] for i in range(130)]
    assert unsealed_hsm.list_grants(KeyId=key)["Truncated"] is True  # KMS pages by 100 by default
    assert [g["GrantId"] for g in run(session, "grant", "list", "--key-id", key)["Grants"]] == made
    page = unsealed_hsm.list_grants(KeyId=key, Limit=50, Marker="100")
    assert [g["GrantId"] for g in page["Grants"]] == made[100:130] and page["Truncated"] is False
