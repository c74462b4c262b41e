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
