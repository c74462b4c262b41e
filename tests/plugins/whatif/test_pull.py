"""`policy pull` against the moto server over HTTP: keys, grants, aliases, tags, IAM principals with inline and
managed policies and a boundary, an organization with an SCP; the pulled files then answer offline."""

from __future__ import annotations

import json
import uuid

import pytest

boto3 = pytest.importorskip("boto3")

ALLOW_ALL_KMS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}


def _client(moto_server, service):
    return boto3.client(service, region_name="us-east-1", endpoint_url=moto_server.url)


@pytest.fixture
def account(moto_server):
    kms, iam, org = (_client(moto_server, s) for s in ("kms", "iam", "organizations"))
    me = boto3.client("sts", region_name="us-east-1", endpoint_url=moto_server.url).get_caller_identity()["Account"]
    tag = uuid.uuid4().hex[:8]  # the moto server lives for the whole session: names unique per test
    try:
        org.create_organization(FeatureSet="ALL")
    except org.exceptions.AlreadyInOrganizationException:
        pass
    member = org.create_account(Email=f"{tag}@example.com", AccountName=tag)["CreateAccountStatus"]["AccountId"]
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name=f"Prod{tag}")["OrganizationalUnit"]["Id"]
    org.move_account(AccountId=member, SourceParentId=root, DestinationParentId=ou)
    scp = org.create_policy(Name=f"NoDecrypt{tag}", Type="SERVICE_CONTROL_POLICY", Description="",
                            Content=json.dumps({"Version": "2012-10-17", "Statement": [
                                {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]}))["Policy"]
    org.attach_policy(PolicyId=scp["PolicySummary"]["Id"], TargetId=ou)
    key = kms.create_key(Description="app")["KeyMetadata"]
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{me}:root"}, "Action": "kms:*",
             "Resource": "*"},
            {"Sid": "Member", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{member}:root"},
             "Action": ["kms:Decrypt", "kms:Encrypt"], "Resource": "*"}]}))
    kms.create_alias(AliasName=f"alias/app{tag}", TargetKeyId=key["KeyId"])
    kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "team", "TagValue": "finance"}])
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=f"arn:aws:iam::{me}:role/Granted",
                     Operations=["Decrypt"])
    iam.create_role(RoleName=f"App{tag}", AssumeRolePolicyDocument="{}")
    iam.put_role_policy(RoleName=f"App{tag}", PolicyName="kms", PolicyDocument=json.dumps(ALLOW_ALL_KMS))
    boundary = iam.create_policy(PolicyName=f"EncryptOnly{tag}", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]}))
    iam.put_role_permissions_boundary(RoleName=f"App{tag}", PermissionsBoundary=boundary["Policy"]["Arn"])
    iam.create_user(UserName=f"bob{tag}")
    managed = iam.create_policy(PolicyName=f"BobKms{tag}", PolicyDocument=json.dumps(ALLOW_ALL_KMS))
    iam.attach_user_policy(UserName=f"bob{tag}", PolicyArn=managed["Policy"]["Arn"])
    return {"me": me, "member": member, "key": key, "tag": tag}


def test_pull_then_whatif_and_policy_test_answer_offline(aws_profile, account, run_kmstui, tmp_path):
    me, key, tag = account["me"], account["key"], account["tag"]
    role, user = f"arn:aws:iam::{me}:role/App{tag}", f"arn:aws:iam::{me}:user/bob{tag}"
    out = tmp_path / "pulled"
    r = run_kmstui("--profile", aws_profile, "policy", "pull", "--out", str(out), "--principal", role,
                   "--principal", user)
    assert r.code == 0, r.err
    assert "kmstui whatif --key-policy" in r.out and "kmstui policy matrix" in r.out  # the follow-up commands
    kdir = out / "keys" / key["KeyId"]
    meta = json.loads((kdir / "key.json").read_text())
    assert meta["Aliases"] == [f"alias/app{tag}"] and meta["Tags"] == {"team": "finance"}
    assert json.loads((kdir / "grants.json").read_text())["Grants"][0]["Operations"] == ["Decrypt"]

    def whatif(principal, action, prefix):
        pdir = out / "principals" / prefix
        iam = [a for p in sorted((pdir / "identity").glob("*.json")) for a in ("--iam-policy", str(p))]
        res = run_kmstui("whatif", "--key-policy", str(kdir / "key-policy.json"), "--key-arn", key["Arn"],
                         "--grants", str(kdir / "grants.json"), *iam, "--layers", str(pdir / "layers.json"),
                         "--principal", principal, "--action", action, "--output", "json")
        assert res.code == 0, res.err
        return json.loads(res.out)["Decision"]

    # "the effective permissions are the intersection of the identity-based policy and the permissions boundary"
    # (IAM User Guide, Permissions boundaries for IAM entities)
    assert whatif(role, "kms:Decrypt", f"role-App{tag}") == "DENY"
    assert whatif(role, "kms:Encrypt", f"role-App{tag}") == "ALLOW"
    assert whatif(user, "kms:Decrypt", f"user-bob{tag}") == "ALLOW"  # the managed policy, pulled

    # The SCP on the member account's OU: "SCPs affect only IAM users and roles that are managed by accounts that
    # are part of the organization" and deny there; the management account is not limited.
    layers = json.loads((out / "layers.json").read_text())
    assert any(s["target"] == f"ou:Prod{tag}" for s in layers["scps"])
    scen = []
    for action, expected in (("kms:Decrypt", "DENY"), ("kms:Encrypt", "ALLOW")):
        scen.append({"name": action, "key_policy": f"pulled/keys/{key['KeyId']}/key-policy.json",
                     "iam_policies": [ALLOW_ALL_KMS], "organization": "pulled/" + layers["organization"],
                     "scps": [{**s, "PolicyDocument": "pulled/" + s["PolicyDocument"]} for s in layers["scps"]],
                     "request": {"principal": f"arn:aws:iam::{account['member']}:role/Ops", "action": action,
                                 "key_arn": key["Arn"]}, "expected": expected})
    (tmp_path / "member.scenario.json").write_text(json.dumps(scen))
    res = run_kmstui("policy", "test", str(tmp_path / "member.scenario.json"))
    assert res.code == 0, res.out + res.err
    # the pulled scenarios load and run (no expectation yet: skipped, not errors)
    res = run_kmstui("policy", "test", str(out / "scenarios"), "--output", "json")
    assert res.code == 0 and "ERROR" not in res.out, res.out + res.err


def test_pull_refuses_a_non_empty_out_without_force_and_replaces_with_it(aws_profile, account, run_kmstui,
                                                                        tmp_path):
    out = tmp_path / "pulled"
    out.mkdir()
    (out / "old.txt").write_text("keep")
    r = run_kmstui("--profile", aws_profile, "policy", "pull", "--out", str(out))
    assert r.code != 0 and "--force" in r.err and (out / "old.txt").read_text() == "keep"
    r = run_kmstui("--profile", aws_profile, "policy", "pull", "--out", str(out), "--force",
                   "--keys", account["key"]["KeyId"])
    assert r.code == 0, r.err
    assert not (out / "old.txt").exists() and (out / "keys" / account["key"]["KeyId"] / "key-policy.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_unreadable_principal_is_reported_and_skipped_not_fatal(aws_profile, account, run_kmstui, tmp_path):
    ghost = f"arn:aws:iam::{account['me']}:role/Ghost"
    r = run_kmstui("--profile", aws_profile, "policy", "pull", "--out", str(tmp_path / "o"), "--principal", ghost,
                   "--keys", account["key"]["KeyId"], "--output", "json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["Keys"] == 1 and any(ghost in s["Item"] for s in data["Skipped"])


def test_progress_bar_on_a_terminal_only(aws_profile, account, run_kmstui, tmp_path):
    import os
    import subprocess
    import sys

    r = run_kmstui("--profile", aws_profile, "policy", "pull", "--out", str(tmp_path / "piped"), "--keys",
                   account["key"]["KeyId"])
    assert r.code == 0 and "policy pull [" not in r.err  # stderr is a pipe here: no bar
    master, slave = os.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "kmstui", "--profile", aws_profile, "policy", "pull", "--out",
                               str(tmp_path / "tty"), "--keys", account["key"]["KeyId"]], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=slave, timeout=120)
        os.close(slave)
        slave = -1
        err = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
    finally:
        if slave != -1:
            os.close(slave)
        os.close(master)
    assert proc.returncode == 0
    assert b"policy pull [" in err and b"2/2" in err and b"\x1b[K" in err  # drawn, then cleared
