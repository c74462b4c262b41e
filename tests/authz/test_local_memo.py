"""Remembered decisions on the local HSM (the fast path for policies that read no condition key) answer
exactly as a fresh evaluation would: denials stay denials, a changed policy or grant is seen at once, and
a call with a different encryption context is decided afresh."""

import json

import pytest

from kmstui.errors import AccessDeniedException

ACCT = "111122223333"
BOB = f"arn:aws:iam::{ACCT}:user/bob"


@pytest.fixture
def hsm(unsealed_hsm):
    return unsealed_hsm


def test_remembered_decisions_match_fresh_ones(hsm):
    key = hsm.create_key(Description="t")["KeyMetadata"]["KeyId"]
    for _ in range(3):  # the first call evaluates, the others take the remembered answer
        hsm.encrypt(KeyId=key, Plaintext=b"x")
    hsm.set_caller(BOB)
    for _ in range(3):  # a remembered denial is still enforced
        with pytest.raises(AccessDeniedException, match="kms:Encrypt"):
            hsm.encrypt(KeyId=key, Plaintext=b"x")
    hsm.set_caller(None)
    policy = json.loads(hsm.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    policy["Statement"].append({"Sid": "Bob", "Effect": "Allow", "Principal": {"AWS": BOB},
                                "Action": "kms:Encrypt", "Resource": "*"})
    hsm.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))
    hsm.set_caller(BOB)
    hsm.encrypt(KeyId=key, Plaintext=b"x")  # the policy change is seen at once
    hsm.set_caller(None)
    policy["Statement"][-1]["Effect"] = "Deny"
    hsm.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))
    hsm.set_caller(BOB)
    with pytest.raises(AccessDeniedException):
        hsm.encrypt(KeyId=key, Plaintext=b"x")


def test_grant_constraints_are_decided_per_encryption_context(hsm):
    key = hsm.create_key(Description="t")["KeyMetadata"]["KeyId"]
    hsm.create_grant(KeyId=key, GranteePrincipal=BOB, Operations=["Encrypt"],
                     Constraints={"EncryptionContextEquals": {"job": "42"}})
    hsm.set_caller(BOB)
    for _ in range(2):
        hsm.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"job": "42"})
        with pytest.raises(AccessDeniedException):
            hsm.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"job": "43"})


# -- the last allowed request and the caller's inputs, remembered while nothing is committed (issue 13) ----------
# Authorizer.__call__ answers a repeat of the last allowed request (same key row, action, context, caller and
# call) and reuses the caller's identity policies and layers while the HSM file's change token is unchanged.
# Every change below is committed by a second connection (as another process would) after the fast answers
# are in place, and must count at the very next call: no sleep, no second try.
ALLOW_ENCRYPT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]})
DENY_ENCRYPT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"}]})
ONLY_DECRYPT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]})


def _second(hsm):
    from kmstui.backends.local.backend import LocalBackend
    from kmstui.backends.local.store import Store

    return LocalBackend(Store.open(hsm.path), hsm._keys)


def _bob_allowed(hsm) -> str:
    key = hsm.create_key(Description="t")["KeyMetadata"]["KeyId"]
    hsm.put_identity_policy(PrincipalArn=BOB, PolicyName="allow", PolicyDocument=ALLOW_ENCRYPT)
    hsm.set_caller(BOB)
    for _ in range(4):  # evaluated, then remembered, then answered as the last allowed request
        hsm.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"app": "a"})
    assert hsm.authorizer._last_allowed[0] is not None  # the fast answer is in place before the change
    return key


CHANGES = {
    "identity policy denies": (lambda other, key: other.put_identity_policy(
        PrincipalArn=BOB, PolicyName="deny", PolicyDocument=DENY_ENCRYPT)),
    "identity policy deleted": (lambda other, key: other.delete_identity_policy(PrincipalArn=BOB, PolicyName="allow")),
    "permissions boundary": (lambda other, key: other.put_permissions_boundary(PrincipalArn=BOB,
                                                                                PolicyDocument=ONLY_DECRYPT)),
    "key policy": (lambda other, key: other.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": {"AWS": BOB}, "Action": "kms:Encrypt", "Resource": "*"}]}))),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_committed_elsewhere_counts_at_the_very_next_call(hsm, change):
    key = _bob_allowed(hsm)
    other = _second(hsm)
    try:
        CHANGES[change](other, key)
    finally:
        other.close()
    with pytest.raises(AccessDeniedException):
        hsm.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"app": "a"})


def test_a_change_made_by_this_backend_counts_at_the_very_next_call(hsm):
    key = _bob_allowed(hsm)
    hsm.set_caller(None)
    hsm.put_identity_policy(PrincipalArn=BOB, PolicyName="deny", PolicyDocument=DENY_ENCRYPT)
    hsm.set_caller(BOB)
    with pytest.raises(AccessDeniedException):
        hsm.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"app": "a"})


def test_the_last_allowed_request_is_not_taken_for_another_caller_action_or_key(hsm):
    key = _bob_allowed(hsm)
    hsm.set_caller(f"arn:aws:iam::{ACCT}:user/mallory")  # no identity policy: denied
    with pytest.raises(AccessDeniedException):
        hsm.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"app": "a"})
    hsm.set_caller(BOB)
    hsm.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"app": "a"})
    with pytest.raises(AccessDeniedException):  # allowed Encrypt, not GenerateDataKey
        hsm.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext={"app": "a"})
    hsm.set_caller(None)
    other_key = hsm.create_key(Description="t")["KeyMetadata"]["KeyId"]
    hsm.put_key_policy(KeyId=other_key, PolicyName="default", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": {"AWS": BOB}, "Action": "kms:*", "Resource": "*"}]}))
    hsm.set_caller(BOB)
    for _ in range(3):
        hsm.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"app": "a"})
        with pytest.raises(AccessDeniedException):
            hsm.encrypt(KeyId=other_key, Plaintext=b"x", EncryptionContext={"app": "a"})


def test_a_context_that_a_policy_reads_is_decided_per_call(hsm):
    key = hsm.create_key(Description="t")["KeyMetadata"]["KeyId"]
    hsm.put_identity_policy(PrincipalArn=BOB, PolicyName="app-a", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
                                                "Condition": {"StringEquals": {"kms:EncryptionContext:app": "a"}}}]}))
    hsm.set_caller(BOB)
    context = {"app": "a"}
    for _ in range(3):
        hsm.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext=context)
    context["app"] = "b"  # the same dict, changed in place
    with pytest.raises(AccessDeniedException):
        hsm.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext=context)
