"""samples/grants: scenario files with expected answers, run by the engine and by `policy test`, plus a
replay of the same key policy and grants on a real local HSM, so a scenario and a real call agree."""

from __future__ import annotations

import json
from pathlib import Path

from kmstui.authz import scenarios
from kmstui.errors import AccessDeniedException

SAMPLES = Path(__file__).resolve().parents[3] / "samples" / "grants"


def all_scenarios():
    return [s for f in scenarios.discover([SAMPLES]) for s in scenarios.load(f)]


def test_every_sample_has_an_expected_answer_and_the_engine_gives_it():
    items = all_scenarios()
    assert len(items) >= 30
    wrong = [(s.name, scenarios.run(s).decision) for s in items if scenarios.run(s).decision != s.expected]
    assert wrong == []
    assert {s.expected for s in items} == {"ALLOW", "DENY"}


def test_policy_test_passes_on_the_samples(run_kmstui):
    result = run_kmstui("policy", "test", str(SAMPLES))
    assert result.code == 0, result.out + result.err


# -- the same samples on a real local HSM (account 111122223333, like the samples) -----------------------------
REPLAYED = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
            "kms:DescribeKey", "kms:CreateGrant", "kms:RetireGrant", "kms:RevokeGrant"}


def _call(backend, action: str, key_id: str, request, ids: dict[str, str], blob: bytes | None):
    ec = dict(request.encryption_context)
    if action == "kms:Decrypt":
        return backend.decrypt(CiphertextBlob=blob, EncryptionContext=ec)
    if action == "kms:Encrypt":
        return backend.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext=ec)
    if action == "kms:GenerateDataKey":
        return backend.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=ec)
    if action == "kms:GenerateDataKeyWithoutPlaintext":
        return backend.generate_data_key_without_plaintext(KeyId=key_id, KeySpec="AES_256", EncryptionContext=ec)
    if action == "kms:DescribeKey":
        return backend.describe_key(KeyId=key_id)
    if action == "kms:CreateGrant":
        return backend.create_grant(KeyId=key_id, **request.grant_request)
    if action == "kms:RetireGrant":
        return backend.retire_grant(KeyId=key_id, GrantId=ids[request.target_grant_id])
    return backend.revoke_grant(KeyId=key_id, GrantId=ids[request.target_grant_id])


def test_a_real_local_call_agrees_with_every_replayable_sample(unsealed_hsm):
    backend = unsealed_hsm
    policy = (SAMPLES / "key-policy.json").read_text()
    grants = json.loads((SAMPLES / "grants.json").read_text())["Grants"]
    checked = 0
    for scenario in all_scenarios():
        req = scenario.request
        if req.action not in REPLAYED or scenario.iam_policies:
            continue
        backend.set_caller(None)
        key_id = backend.create_key(Policy=policy, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]["KeyId"]
        ids = {}
        for g in grants:
            body = {k: g[k] for k in ("GranteePrincipal", "RetiringPrincipal", "Operations", "Constraints") if k in g}
            body["Operations"] = [op for op in body["Operations"] if op not in ("PutKeyPolicy", "RevokeGrant")]
            ids[g["GrantId"]] = backend.create_grant(KeyId=key_id, **body)["GrantId"]
        blob = backend.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext=dict(req.encryption_context))[
            "CiphertextBlob"]
        backend.set_caller(req.principal)
        try:
            _call(backend, req.action, key_id, req, ids, blob)
            got = "ALLOW"
        except AccessDeniedException:
            got = "DENY"
        assert got == scenario.expected, scenario.name
        checked += 1
    backend.set_caller(None)
    assert checked >= 25
