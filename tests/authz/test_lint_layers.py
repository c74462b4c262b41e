"""policy lint and policy matrix learn the layers (issue 14 item 7)."""

from __future__ import annotations

import json
from pathlib import Path

from kmstui.authz import lint_policy
from kmstui.authz.lint import lint_layers
from kmstui.authz.org import make_layers
from tests.authz.helpers import allow, policy
from tests.authz.test_layers import ACCT, KEY, KP, ROLE, only, org, scp_deny

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "policies"


def test_request_alias_conditions_that_arn_callers_never_satisfy():
    # kms:RequestAlias: "the value of the KeyId parameter in the request must be a matching alias name or alias
    # ARN" (AWS KMS condition keys): a key id or key ARN request has no such key.
    doc = policy(allow({"AWS": f"arn:aws:iam::{ACCT}:root"}),
                 allow({"AWS": ROLE}, "kms:Decrypt", {"StringEquals": {"kms:RequestAlias": "alias/app"}}),
                 {**allow("*", "kms:Encrypt", {"StringNotEquals": {"kms:RequestAlias": "alias/app"}}), "Effect": "Deny"})
    codes = {f.code for f in lint_policy(doc, key_account=ACCT)}
    assert {"RequestAliasExcludesKeyArns", "RequestAliasDeniesKeyArns"} <= codes
    ok = policy(allow({"AWS": f"arn:aws:iam::{ACCT}:root"}),
                {**allow("*", "kms:Encrypt", {"StringNotEqualsIfExists": {"kms:RequestAlias": "alias/app"}}),
                 "Effect": "Deny"})
    assert not {f.code for f in lint_policy(ok, key_account=ACCT)} & {"RequestAliasDeniesKeyArns"}


def test_scp_deny_that_makes_a_key_policy_statement_dead():
    doc = policy(allow({"AWS": f"arn:aws:iam::{ACCT}:root"}), allow({"AWS": ROLE}, ["kms:Decrypt"]))
    dead = lint_layers(doc, layers=make_layers(org(scps=[("ou:Finance", "NoDecrypt", scp_deny())])), key_arn=KEY)
    assert [f.statement for f in dead if f.code == "ScpMakesStatementDead"] == ["Statement[1]"]
    alive = lint_layers(doc, layers=make_layers(org()), key_arn=KEY)
    assert not [f for f in alive if f.code == "ScpMakesStatementDead"]


def test_boundary_that_blocks_everything_the_key_policy_delegates():
    found = lint_layers(KP, layers=make_layers(boundary=only("s3:*")), key_arn=KEY)
    assert [f.code for f in found] == ["BoundaryBlocksDelegation"]
    assert not lint_layers(KP, layers=make_layers(boundary=only("kms:Decrypt")), key_arn=KEY)


def test_lint_and_matrix_take_a_layers_file(session, tmp_path):
    layers = tmp_path / "layers.json"
    layers.write_text(json.dumps({
        "organization": json.loads((SAMPLES / "org" / "organization.json").read_text()),
        "scps": [{"target": "ou:Finance", "PolicyName": "NoDecrypt", "PolicyDocument": scp_deny("kms:*")}],
        "permissions_boundary": only("s3:*")}))
    kp = tmp_path / "kp.json"
    kp.write_text(json.dumps(policy(allow({"AWS": f"arn:aws:iam::{ACCT}:root"}), allow({"AWS": ROLE}, "kms:Decrypt"))))
    r = session.execute(["policy", "lint", str(kp), "--layers", str(layers)])
    codes = {f["Code"] for f in r.data["Findings"]}
    assert {"ScpMakesStatementDead", "BoundaryBlocksDelegation"} <= codes
    plain = session.execute(["policy", "matrix", "--key-policy", str(kp), "--actions", "Decrypt"])
    layered = session.execute(["policy", "matrix", "--key-policy", str(kp), "--actions", "Decrypt", "--layers",
                               str(layers)])
    role_row = lambda r: next(p for p in r.data["Principals"] if p["PrincipalArn"] == ROLE)  # noqa: E731
    assert role_row(plain)["Cells"]["Decrypt"] == "ALLOW" and role_row(layered)["Cells"]["Decrypt"] == "DENY"
    w = session.execute(["whatif", "--key-policy", str(kp), "--principal", ROLE, "--action", "kms:Decrypt",
                         "--layers", str(layers)])
    assert w.data[next(k for k in w.data if k.lower() == "decision")] == "DENY"
