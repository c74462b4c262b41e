"""The trace's JSON shape (docs/authz-trace.md), which the TUI and `whatif --output json` rely on."""

import json

from .helpers import ALLOW_ALL_IAM, ROLE, ROOT_STMT, SESSION, USER, allow, decide, deny, policy

STEP_NAMES = {"explicit_deny", "retire_grant", "cross_account_filter", "iam", "key_policy", "grants", "implicit_deny"}


def check_shape(t):
    assert set(t) == {"version", "decision", "decided_by", "reason", "request", "steps", "statements", "grants", "notes",
                      "layer", "confidence"}
    assert t["version"] == 1 and t["decision"] in ("ALLOW", "DENY")
    assert set(t["request"]) == {"principal", "principal_kind", "caller_account", "action", "key_arn", "key_account",
                                 "cross_account", "encryption_context"}
    for st in t["steps"]:
        assert st["step"] in STEP_NAMES and st["outcome"] in ("allow", "deny", "continue") and st["detail"]
    for s in t["statements"]:
        assert {"policy", "index", "sid", "effect", "label", "action_matched", "resource_matched", "conditions",
                "applies"} <= set(s)
        if not s["applies"]:
            assert s["why"]
    json.dumps(t)


def test_allow_trace_lists_every_statement_and_the_deciding_step():
    kp = policy(ROOT_STMT, allow({"AWS": ROLE}, "kms:Decrypt", {"StringEquals": {"kms:EncryptionContext:app": "web"}}))
    d = decide(kp, SESSION, encryption_context={"app": "web"})
    t = d.trace
    check_shape(t)
    assert t["decision"] == "ALLOW" and t["decided_by"] == "key_policy" and t["reason"] == d.reason
    assert [s["index"] for s in t["statements"]] == [0, 1]
    s1 = t["statements"][1]
    assert s1["principal"]["match"] == "direct" and s1["applies"]
    assert s1["conditions"][0] | {"request_value": "web", "result": True, "present": True} == s1["conditions"][0]
    assert t["steps"][-1]["step"] == "key_policy" and t["steps"][-1]["outcome"] == "allow"


def test_deny_trace_names_the_failing_condition():
    kp = policy(allow({"AWS": ROLE}, "kms:Decrypt", {"StringEquals": {"kms:EncryptionContext:app": "web"}}))
    d = decide(kp, SESSION, encryption_context={"app": "db"})
    t = d.trace
    check_shape(t)
    assert "kms:EncryptionContext:app" in d.reason
    st = t["statements"][0]
    assert not st["applies"] and "condition StringEquals kms:EncryptionContext:app is false" in st["why"]
    assert st["conditions"][0]["request_value"] == "db"


def test_explicit_deny_and_delegation_traces():
    kp = policy(ROOT_STMT, deny({"AWS": USER}, "kms:Encrypt"))
    t = decide(kp, USER, "kms:Encrypt", iam=[ALLOW_ALL_IAM]).trace
    check_shape(t)
    assert t["steps"][0] == {"step": "explicit_deny", "outcome": "deny", "detail": t["reason"],
                             "statements": ["key-policy Statement[1]"]}
    t2 = decide(kp, USER, "kms:Decrypt", iam=[ALLOW_ALL_IAM]).trace
    check_shape(t2)
    assert t2["decided_by"] == "key_policy_and_iam"
    assert {s["policy"] for s in t2["statements"]} == {"key-policy", "iam[0]"}
    assert t2["statements"][0]["principal"]["match"] == "account"


def test_grant_entries_in_trace():
    g = {"GrantId": "g1", "GranteePrincipal": ROLE, "Operations": ["Decrypt"],
         "Constraints": {"EncryptionContextEquals": {"a": "1"}}}
    t = decide(policy(ROOT_STMT), SESSION, grants=[g], encryption_context={"a": "2"}, grant_tokens=["tok"]).trace
    check_shape(t)
    assert t["grants"][0]["grant_id"] == "g1" and t["grants"][0]["result"] is False
    assert "EncryptionContextEquals" in t["grants"][0]["why"]
    assert any("grant tokens" in n for n in t["notes"])


def test_trace_is_built_lazily_and_matches_the_fast_decision():
    d = decide(policy(ROOT_STMT), USER)
    assert d._trace is None
    assert d.trace["decision"] == d.decision and d.to_dict()["Trace"] is d.trace
