"""Small builders shared by the authz tests."""

from __future__ import annotations

from kmstui.authz import Request, evaluate
from kmstui.authz.conditions import compile_block
from kmstui.authz.context import RequestContext
from kmstui.authz.principals import parse_caller

ACCT = "111122223333"
OTHER = "444455556666"
KEY = f"arn:aws:kms:us-east-1:{ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROOT = f"arn:aws:iam::{ACCT}:root"
USER = f"arn:aws:iam::{ACCT}:user/bob"
ROLE = f"arn:aws:iam::{ACCT}:role/App"
SESSION = f"arn:aws:sts::{ACCT}:assumed-role/App/s1"
ALLOW_ALL_IAM = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}


def policy(*statements, version="2012-10-17"):
    doc = {"Statement": list(statements)}
    if version:
        doc["Version"] = version
    return doc


def allow(principal, action="kms:*", condition=None, **extra):
    st = {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*", **extra}
    if condition:
        st["Condition"] = condition
    return st


def deny(principal, action="kms:*", condition=None, **extra):
    st = allow(principal, action, condition, **extra)
    st["Effect"] = "Deny"
    return st


ROOT_STMT = allow({"AWS": ROOT})


def cond(block, *, context=None, ec=None, principal=USER, variables=True, action="Decrypt"):
    """Evaluate one Condition block against a request; asserts the block compiles."""
    conds, errors = compile_block(block, variables)
    assert not errors, errors
    req = Request(principal, "kms:" + action, KEY, encryption_context=ec or {}, context=context or {})
    ctx = RequestContext(req, parse_caller(principal), action, ACCT, "us-east-1")
    return all(c.test(ctx) for c in conds)


def decide(key_policy, principal, action="kms:Decrypt", *, iam=(), grants=(), key=KEY, **kw):
    gs = grants if not isinstance(grants, (list, tuple)) else list(grants)
    return evaluate(key_policy, list(iam), gs, Request(principal, action, key, **kw))
