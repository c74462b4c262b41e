"""Issue 14: the layers around the key policy. Each test starts from an ALLOW baseline, changes one factor
(or several, for the combined tests) and cites the AWS sentence that decides the answer."""

from __future__ import annotations

import pytest

from kmstui.authz import Request, evaluate
from kmstui.authz.org import Organization, OrganizationError
from tests.authz.helpers import ALLOW_ALL_IAM, allow, policy

ORG = "o-a1b2c3d4e5"
MGMT = "999999999999"
ACCT = "111122223333"  # member: root > ou:Prod > ou:Finance > account
PEER = "222233334444"  # member: root > ou:Prod > account
OUTSIDE = "444455556666"  # another organization
KEY = f"arn:aws:kms:us-east-1:{ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
MGMT_KEY = f"arn:aws:kms:us-east-1:{MGMT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = f"arn:aws:iam::{ACCT}:role/App"
SESSION = f"arn:aws:sts::{ACCT}:assumed-role/App/s1"
USER = f"arn:aws:iam::{ACCT}:user/bob"
ROOT_STMT = allow({"AWS": f"arn:aws:iam::{ACCT}:root"})
KP = policy(ROOT_STMT)  # the default key policy: delegates to the account's IAM policies
FULL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def only(action):
    return doc({"Effect": "Allow", "Action": action, "Resource": "*"})


def scp_deny(action="kms:Decrypt", condition=None):
    st = {"Effect": "Deny", "Action": action, "Resource": "*"}
    if condition:
        st["Condition"] = condition
    return doc(st)


def rcp_deny(action="kms:Decrypt", condition=None):
    st = {"Effect": "Deny", "Principal": "*", "Action": action, "Resource": "*"}
    if condition:
        st["Condition"] = condition
    return doc(st)


def org(scps=(), rcps=()):
    return Organization.from_dict(
        {"id": ORG, "management_account": MGMT, "member_accounts": [ACCT, PEER],
         "ous": [{"name": "Prod", "parent": "root", "accounts": [PEER]},
                 {"name": "Finance", "parent": "Prod", "accounts": [ACCT]}],
         "external_accounts": {OUTSIDE: "o-zzzzzzzzzz"}},
        scps=[{"target": t, "PolicyName": n, "PolicyDocument": d} for t, n, d in
              [("root", "FullAWSAccess", FULL), *scps]],
        rcps=[{"target": t, "PolicyName": n, "PolicyDocument": d} for t, n, d in rcps])


def decide(principal=SESSION, action="kms:Decrypt", *, kp=KP, iam=(ALLOW_ALL_IAM,), grants=(), key=KEY, **layers):
    extra = {k: layers.pop(k) for k in ("service_linked", "key_manager", "target_grant_id", "principal_role_arn")
             if k in layers}
    return evaluate(kp, list(iam), list(grants), Request(principal, action, key, **extra), **layers)


def test_baseline_allows_with_an_organization():
    d = decide(organization=org())
    assert d.allowed and d.trace["layers"]["scp"].startswith("applies along root > ou:Prod > ou:Finance")


# -- SCPs ---------------------------------------------------------------------------------------------------
def test_scp_deny_at_an_ou_denies():
    # "If the enforcement code finds even one explicit deny that applies, the enforcement code returns a final
    # decision of Deny." (IAM, policy evaluation logic)
    d = decide(organization=org(scps=[("ou:Finance", "NoDecrypt", scp_deny())]))
    assert not d.allowed and d.trace["layer"] == "scp"
    assert "SCP NoDecrypt attached to ou:Finance" in d.reason


def test_allow_list_scp_must_allow_at_every_level():
    # "every SCP from the root through each OU in the direct path to the account, and even attached to the
    # account itself, must allow that permission" (AWS Organizations, Strategies for using SCPs)
    o = org(scps=[("ou:Prod", "KmsOnly", only("kms:*")), ("ou:Finance", "RestrictCrypto", only("kms:Encrypt"))])
    d = decide(organization=o)
    assert not d.allowed and d.decided_by == "scp"
    assert d.reason == "denied by SCP RestrictCrypto attached to ou:Finance: no Allow for kms:Decrypt at that level"
    o = org(scps=[("ou:Prod", "KmsOnly", only("kms:*")), ("ou:Finance", "Crypto", only(["kms:Encrypt", "kms:Decrypt"]))])
    assert decide(organization=o).allowed
    o = org(scps=[("ou:Prod", "S3Only", only("s3:*")), ("ou:Finance", "Crypto", only("kms:Decrypt"))])
    assert not decide(organization=o).allowed  # a higher level lacks the Allow


def test_scps_never_restrict_the_management_account():
    # "SCPs don't affect users or roles in the management account." (AWS Organizations, SCPs)
    o = org(scps=[("root", "NoKms", scp_deny("kms:*"))])
    kp = policy(allow({"AWS": f"arn:aws:iam::{MGMT}:root"}))
    d = decide(f"arn:aws:iam::{MGMT}:user/admin", kp=kp, key=MGMT_KEY, organization=o)
    assert d.allowed and "management account" in d.trace["layers"]["scp"]


def test_scps_never_restrict_service_linked_roles():
    # "SCPs do not affect any service-linked role." (AWS Organizations, SCPs)
    o = org(scps=[("root", "NoKms", scp_deny("kms:*"))])
    slr = f"arn:aws:sts::{ACCT}:assumed-role/AWSServiceRoleForX/s"
    assert not decide(slr, organization=o).allowed
    assert decide(slr, organization=o, service_linked=True).allowed
    assert decide(slr, organization=o,
                  principal_role_arn=f"arn:aws:iam::{ACCT}:role/aws-service-role/x.amazonaws.com/AWSServiceRoleForX"
                  ).allowed


def test_scps_do_not_restrict_callers_from_outside_the_organization():
    # "They also don't affect users or roles from accounts outside the organization." (SCPs, 2023 copy)
    o = org(scps=[("root", "NoKms", scp_deny("kms:*"))])
    outsider = f"arn:aws:iam::{OUTSIDE}:role/Partner"
    kp = policy(ROOT_STMT, allow({"AWS": f"arn:aws:iam::{OUTSIDE}:root"}, "kms:Decrypt"))
    assert decide(outsider, kp=kp, organization=o).allowed


def test_scps_never_grant():
    # "an SCP never grants permissions" (AWS Organizations, SCPs)
    d = decide(kp=policy(allow({"AWS": f"arn:aws:iam::{ACCT}:role/Other"})), organization=org())
    assert not d.allowed and d.decided_by == "implicit_deny"


def test_cross_account_caller_is_filtered_by_its_own_path_only():
    # "SCPs apply to principals of the account where the SCPs are attached." (IAM, policy evaluation logic)
    kp = policy(ROOT_STMT, allow({"AWS": f"arn:aws:iam::{PEER}:root"}, "kms:Decrypt"))
    peer = f"arn:aws:iam::{PEER}:role/Reader"
    o = org(scps=[("ou:Finance", "NoDecrypt", scp_deny())])  # the key owner's OU: not the caller's path
    assert decide(peer, kp=kp, organization=o).allowed
    o = org(scps=[("account:" + PEER, "NoDecrypt", scp_deny())])
    assert not decide(peer, kp=kp, organization=o).allowed


# -- RCPs ---------------------------------------------------------------------------------------------------
PERIMETER = {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": ORG}, "Bool": {"aws:PrincipalIsAWSService": "false"}}


def test_rcp_perimeter_denies_other_organizations_even_when_the_key_policy_allows():
    # "RCPs impact the effective permissions of principals trying to access resources in a member account
    # with an applicable RCP, regardless of whether the principals belong to the same organizations or not."
    # (AWS Organizations, RCPs)
    kp = policy(ROOT_STMT, allow({"AWS": f"arn:aws:iam::{OUTSIDE}:root"}, "kms:Decrypt"))
    o = org(rcps=[("root", "Perimeter", rcp_deny("kms:*", PERIMETER))])
    outsider = f"arn:aws:iam::{OUTSIDE}:role/Partner"
    d = decide(outsider, kp=kp, organization=o)
    assert not d.allowed and d.trace["layer"] == "rcp" and "RCP Perimeter attached to root" in d.reason
    assert decide(SESSION, kp=kp, organization=o).allowed  # the organization's own caller


def test_rcp_applies_to_the_key_owners_root_user():
    # "This includes root users." (AWS Organizations, RCPs)
    o = org(rcps=[("account:" + ACCT, "NoDecrypt", rcp_deny())])
    assert not decide(f"arn:aws:iam::{ACCT}:root", organization=o).allowed


def test_rcps_never_apply_to_management_account_keys():
    # "RCPs don't affect resources in the management account." (AWS Organizations, RCPs)
    o = org(rcps=[("root", "NoDecrypt", rcp_deny())])
    kp = policy(allow({"AWS": f"arn:aws:iam::{MGMT}:root"}))
    assert decide(f"arn:aws:iam::{MGMT}:role/Admin", kp=kp, key=MGMT_KEY, organization=o).allowed


def test_rcps_never_apply_to_aws_managed_keys():
    # "RCPs do not apply to AWS managed keys for AWS Key Management Service." (AWS Organizations, RCPs)
    o = org(rcps=[("root", "NoDecrypt", rcp_deny())])
    assert not decide(organization=o).allowed
    d = decide(organization=o, key_manager="AWS")
    assert d.allowed and "AWS managed keys" in d.trace["layers"]["rcp"]


def test_rcps_never_apply_to_service_linked_roles():
    # "RCPs do not impact the effective permissions of any service-linked role." (AWS Organizations, RCPs)
    o = org(rcps=[("root", "NoDecrypt", rcp_deny())])
    assert decide(organization=o, service_linked=True).allowed


def test_rcps_never_apply_to_retire_grant():
    # "The kms:RetireGrant permission is not effective in an RCP, even if the Action element specifies an
    # asterisk (*) as a wildcard." (Resource control policies in AWS KMS)
    grants = [{"GrantId": "g1", "GranteePrincipal": ROLE, "RetiringPrincipal": SESSION, "Operations": ["Decrypt"],
               "KeyId": KEY}]
    o = org(rcps=[("root", "NoKms", rcp_deny("kms:*"))])
    d = decide(SESSION, "kms:RetireGrant", grants=grants, organization=o, target_grant_id="g1")
    assert d.allowed and "RetireGrant" in d.trace["layers"]["rcp"]
    assert not decide(SESSION, "kms:Decrypt", grants=grants, organization=o).allowed


def test_a_grant_never_overrides_an_scp_or_rcp_deny():
    # "No AWS principal ... has any permissions to a KMS key unless they are explicitly allowed, and never
    # denied, in a key policy, IAM policy, or grant." (Key policies in AWS KMS)
    grants = [{"GrantId": "g1", "GranteePrincipal": ROLE, "Operations": ["Decrypt"], "KeyId": KEY}]
    kp = policy(ROOT_STMT)
    assert decide(kp=kp, iam=(), grants=grants, organization=org()).allowed
    for o in (org(scps=[("ou:Finance", "NoDecrypt", scp_deny())]), org(rcps=[("root", "NoDecrypt", rcp_deny())]),
              org(scps=[("ou:Prod", "S3Only", only("s3:*"))])):
        assert not decide(kp=kp, iam=(), grants=grants, organization=o).allowed


# -- permissions boundaries --------------------------------------------------------------------------------
def test_boundary_intersects_identity_policies():
    # "An entity's permissions boundary allows it to perform only the actions that are allowed by both its
    # identity-based policies and its permissions boundaries." (IAM, Permissions boundaries)
    d = decide(boundary=only("kms:Encrypt"))
    assert not d.allowed and d.decided_by == "boundary" and "permissions boundary does not allow" in d.reason
    assert decide(boundary=only("kms:Decrypt")).allowed


def test_key_policy_naming_the_user_arn_is_not_limited_by_the_boundary():
    # "resource-based policies that grant permissions to an IAM user ARN (that is not a federated user
    # session) are not limited by an implicit deny in an identity-based policy or permissions boundary."
    kp = policy(ROOT_STMT, allow({"AWS": USER}, "kms:Decrypt"))
    d = decide(USER, kp=kp, iam=(), boundary=only("kms:Encrypt"))
    assert d.allowed and any("IAM user ARN" in n for n in d.trace["notes"])


def test_key_policy_naming_the_role_arn_is_limited_by_the_boundary_and_session_policy():
    # "Resource-based policies that grant permissions to an IAM role ARN are limited by an implicit deny in a
    # permissions boundary or session policy." (IAM, policy evaluation logic)
    kp = policy(ROOT_STMT, allow({"AWS": ROLE}, "kms:Decrypt"))
    assert decide(kp=kp, iam=()).allowed
    d = decide(kp=kp, iam=(), boundary=only("kms:Encrypt"))
    assert not d.allowed and d.decided_by == "boundary" and d.trace["confidence"] == "medium"
    assert not decide(kp=kp, iam=(), session_policies=only("kms:Encrypt")).allowed


def test_key_policy_naming_the_session_arn_is_not_limited():
    # "Permissions granted directly to a session are not limited by an implicit deny in an identity-based
    # policy, a permissions boundary, or session policy." (IAM, policy evaluation logic)
    kp = policy(ROOT_STMT, allow({"AWS": SESSION}, "kms:Decrypt"))
    assert decide(kp=kp, iam=(), boundary=only("kms:Encrypt"), session_policies=only("kms:Encrypt")).allowed


def test_principal_arn_condition_with_a_wildcard_principal_is_not_limited():
    # "Permissions boundaries and session policies do not limit permissions granted using the aws:PrincipalArn
    # condition key with a wildcard(*) in the Principal element, unless the identity-based policies contain an
    # explicit deny." (IAM, policy evaluation logic)
    kp = policy(ROOT_STMT, allow("*", "kms:Decrypt", {"ArnEquals": {"aws:PrincipalArn": ROLE}}))
    assert decide(kp=kp, iam=(), boundary=only("kms:Encrypt"), session_policies=only("kms:Encrypt")).allowed
    explicit = doc({"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"})
    assert not decide(kp=kp, iam=(explicit,), boundary=only("kms:Encrypt")).allowed


def test_notprincipal_deny_always_denies_a_principal_with_a_boundary():
    # "The NotPrincipal element with a Deny effect will always deny any IAM principal that has a permissions
    # boundary policy attached, regardless of the values specified in the NotPrincipal element."
    kp = policy(ROOT_STMT, {"Effect": "Deny", "NotPrincipal": {"AWS": [ROLE, SESSION, f"arn:aws:iam::{ACCT}:root"]},
                            "Action": "kms:Decrypt", "Resource": "*"})
    assert decide(kp=kp).allowed
    d = decide(kp=kp, boundary=only("kms:*"))
    assert not d.allowed and d.decided_by == "explicit_deny" and "NotPrincipal" in d.reason


def test_the_root_user_has_no_boundary():
    # "you cannot set the permissions boundary for the root user" (IAM, Policies and permissions)
    assert decide(f"arn:aws:iam::{ACCT}:root", iam=(), boundary=only("s3:*")).allowed


def test_explicit_deny_in_a_boundary_denies():
    d = decide(boundary=doc({"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
                            {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}))
    assert not d.allowed and d.decided_by == "explicit_deny" and d.trace["layer"] == "boundary"


# -- session policies -------------------------------------------------------------------------------------
def test_session_policy_intersects_the_roles_permissions():
    # "You cannot use session policies to grant more permissions than those allowed by the identity-based
    # policy of the role that is being assumed." (STS AssumeRole)
    d = decide(session_policies=only("kms:Encrypt"))
    assert not d.allowed and d.decided_by == "session_policy"
    assert decide(session_policies=only("kms:Decrypt")).allowed
    assert not decide(iam=(only("kms:Encrypt"),), session_policies=only("kms:Decrypt")).allowed


def test_no_session_policy_means_no_restriction():
    # "If you didn't pass a session policy, a default session policy is created and the enforcement code
    # returns a final decision of Allow." (IAM, policy evaluation logic)
    assert decide(session_policies=None).allowed
    assert decide(session_policies=[]).allowed


def test_several_session_policies_any_allows():
    assert decide(session_policies=[only("kms:Encrypt"), only("kms:Decrypt")]).allowed


def test_grant_to_the_role_is_capped_by_a_session_policy_with_medium_confidence():
    grants = [{"GrantId": "g1", "GranteePrincipal": ROLE, "Operations": ["Decrypt"], "KeyId": KEY}]
    assert decide(iam=(), grants=grants).allowed
    d = decide(iam=(), grants=grants, session_policies=only("kms:Encrypt"))
    assert not d.allowed and d.decided_by == "session_policy" and d.trace["confidence"] == "medium"


# -- combined ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("drop", ["none", "scp", "boundary", "session_policy", "iam"])
def test_every_layer_must_allow(drop):
    # "If both a permissions boundary (an advanced IAM feature) and an SCP are present, then the boundary, the
    # SCP, and the identity-based policy must all allow the action." (AWS Organizations, SCPs)
    o = org(scps=[("ou:Prod", "Kms", only("kms:*")), ("ou:Finance", "Crypto", only("kms:Decrypt"))])
    layers = {"organization": o if drop != "scp" else org(scps=[("ou:Finance", "Crypto", only("kms:Encrypt"))]),
              "boundary": only("kms:Decrypt" if drop != "boundary" else "kms:Encrypt"),
              "session_policies": only("kms:Decrypt" if drop != "session_policy" else "kms:Encrypt")}
    d = decide(iam=(only("kms:Decrypt" if drop != "iam" else "kms:Encrypt"),), **layers)
    assert d.allowed == (drop == "none")
    if drop not in ("none", "iam"):
        assert d.decided_by == drop and d.trace["layer"] == drop


def test_org_condition_keys():
    # aws:PrincipalOrgID: "This key is included in the request context only if the principal is a member of
    # an organization." (AWS global condition context keys)
    kp = policy(allow("*", "kms:Decrypt", {"StringEquals": {"aws:PrincipalOrgID": ORG}}))
    assert decide(kp=kp, iam=(), organization=org()).allowed
    assert not decide(kp=kp, iam=()).allowed  # no organization: the key is absent
    kp = policy(allow("*", "kms:Decrypt", {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": f"{ORG}/r-root/ou-Prod/*"}}))
    assert decide(kp=kp, iam=(), organization=org()).allowed
    kp = policy(allow("*", "kms:Decrypt", {"StringEquals": {"aws:ResourceOrgID": ORG}}))
    assert decide(kp=kp, iam=(), organization=org()).allowed
    outsider = f"arn:aws:iam::{OUTSIDE}:role/Partner"
    kp = policy(allow("*", "kms:Decrypt", {"StringEquals": {"aws:PrincipalOrgID": "o-zzzzzzzzzz"}}))
    assert decide(outsider, kp=kp, organization=org()).allowed  # external_accounts gives its organization


@pytest.mark.parametrize("bad,needle", [
    ({"id": "nope"}, "organization id"),
    ({"id": ORG, "management_account": "1"}, "management_account"),
    ({"id": ORG, "management_account": MGMT, "ous": [{"name": "A", "parent": "B"}]}, "parent"),
    ({"id": ORG, "management_account": MGMT, "ous": [{"name": "A", "parent": "A"}]}, "ancestor"),
    ({"id": ORG, "management_account": MGMT, "ous": [{"name": "A", "accounts": [ACCT]}]}, "not the management"),
])
def test_organization_data_errors_name_the_field(bad, needle):
    with pytest.raises(OrganizationError, match=needle):
        Organization.from_dict(bad)


# -- local enforcement uses the same layers -----------------------------------------------------------------
def test_local_backend_enforces_the_session_policy_a_call_carries(unsealed_hsm):
    """`kmstui serve` sets backend.call (session_policies, condition_context, context_key, session_key) for a
    request made with assumed-role credentials; the authorizer passes them to the one engine."""
    import json

    from kmstui.backends.local.core import CallFacts

    hsm = unsealed_hsm
    key = hsm.create_key(Description="t")["KeyMetadata"]["KeyId"]
    hsm.put_identity_policy(PrincipalArn=f"arn:aws:iam::{ACCT}:role/App", PolicyName="all",
                            PolicyDocument=json.dumps(ALLOW_ALL_IAM))
    hsm.set_caller(SESSION)
    hsm.encrypt(KeyId=key, Plaintext=b"x")
    hsm.call = CallFacts(session_policies=[json.dumps(only("kms:Decrypt"))], session_key="s1")
    with pytest.raises(Exception, match="session policy does not allow kms:Encrypt"):
        hsm.encrypt(KeyId=key, Plaintext=b"x")
    hsm.call = CallFacts(session_policies=[json.dumps(only("kms:Encrypt"))], session_key="s2")
    hsm.encrypt(KeyId=key, Plaintext=b"x")


# -- scenarios and samples -------------------------------------------------------------------------------------
SAMPLES = __import__("pathlib").Path(__file__).resolve().parents[2] / "samples" / "policies"


@pytest.mark.parametrize("name,layers", [("org-scp", {"scp", "explicit_deny", "implicit_deny"}),
                                         ("org-rcp", {"explicit_deny"}),
                                         ("permissions-boundary", {"boundary"}),
                                         ("session-policy", {"session_policy", "implicit_deny"}),
                                         ("aliases-and-tags", {"implicit_deny"})])
def test_layer_samples_are_decided_by_their_layer(name, layers):
    from kmstui.authz import scenarios

    found = scenarios.load(SAMPLES / f"{name}.scenario.json")
    assert len(found) >= 5
    for sc in found:
        d = scenarios.run(sc)
        assert d.decision == sc.expected, sc.name
        if not d.allowed:
            assert d.decided_by in layers, (sc.name, d.decided_by)
            if name == "org-rcp":
                assert d.trace["layer"] == "rcp"


def test_scenario_layer_fields_are_validated():
    from kmstui.authz.scenarios import ScenarioError, from_dict

    base = {"key_policy": KP, "request": {"principal": SESSION, "action": "kms:Decrypt", "key_arn": KEY}}
    for bad, needle in [({"scps": [{"target": "root", "PolicyName": "x", "PolicyDocument": FULL}]}, "need an 'organization'"),
                        ({"organization": {"id": "bad"}}, "organization id"),
                        ({"organization": {"id": ORG, "management_account": MGMT},
                          "scps": [{"target": "ou:Nope", "PolicyName": "x", "PolicyDocument": FULL}]}, "target"),
                        ({"organization": {"id": ORG, "management_account": MGMT},
                          "rcps": [{"target": "root", "PolicyName": "x", "PolicyDocument": FULL}]}, "Principal"),
                        ({"permissions_boundary": 5}, "permissions_boundary must be"),
                        ({"session_policy": [FULL, "x"]}, "session_policy[1]"),
                        ({"request": {**base["request"], "key_manager": "ME"}}, "key_manager"),
                        ({"request": {**base["request"], "request_alias": "app"}}, "alias name"),
                        ({"request": {**base["request"], "key_tags": {"a": 1}}}, "key_tags")]:
        with pytest.raises(ScenarioError, match=needle.replace("[", r"\[")):
            from_dict({**base, **bad})
