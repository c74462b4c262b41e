"""The AWS organization the local HSM's account belongs to: its root, OUs, accounts, and the service control
policies (SCPs) and resource control policies (RCPs) attached to them, shaped like AWS Organizations' API.

Stored in two tables, sealed and MAC'd like every row and covered by the row-set record: `org_state` (one
row, 'organization': ids, management account, accounts and the parent each sits in, OUs, and where the AWS
managed FullAWSAccess SCP was detached) and `org_policies` (one row per policy: content and the targets it is
attached to). Every change bumps the organization's Revision in the same transaction, so the authorizer's
memo of compiled layers (kmstui/authz/local.py) is keyed by it; `organization_state()` hands the engine the
same `kmstui.authz.org.Organization` a scenario's `organization`/`scps`/`rcps` build, so a local call and
`whatif` with the same data cannot disagree.

The HSM's own account is a member account when the organization's management account is another account
(`create-organization --management-account ID`): SCPs then apply to every local call. Organization changes
are made on behalf of the management account: only the HSM account's root (the default caller) may make
them, so a principal an SCP restricts cannot lift it. Invitations are accepted at once and the SCP and RCP
policy types are enabled at creation (AWS needs EnablePolicyType and the invited account's consent).
"""

from __future__ import annotations

import copy
import json
import re
import time
from typing import TYPE_CHECKING, Any

from kmstui.authz.model import PolicyError
from kmstui.authz.policy import compile_policy
from kmstui.authz.principals import ACCOUNT_RE, parse_caller
from kmstui.backends.local.core import LocalCore, operation
from kmstui.errors import (AccessDeniedException, AccountNotFoundException, AlreadyInOrganizationException,
                           AWSOrganizationsNotInUseException, ConstraintViolationException,
                           DuplicateAccountException, DuplicateOrganizationalUnitException,
                           DuplicatePolicyAttachmentException, DuplicatePolicyException, InvalidInputException,
                           MalformedPolicyDocumentException, OrganizationalUnitNotEmptyException,
                           OrganizationalUnitNotFoundException, OrganizationNotEmptyException,
                           ParentNotFoundException, PolicyInUseException, PolicyNotAttachedException,
                           PolicyNotFoundException, TargetNotFoundException)

if TYPE_CHECKING:
    from kmstui.authz.org import Organization

SCP, RCP = "SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"
KINDS = {SCP: "scp", RCP: "rcp"}
# "Maximum size of a policy document: Service control policies: 5,120 characters; Resource control
# policies: 5,120 characters" (Quotas for AWS Organizations); the CLI/SDK store the text as given.
MAX_POLICY_CHARS = 5120
# "Maximum number of policies attached to a root, OU or account: SCPs 5, RCPs 5" (same page).
MAX_ATTACHED = 5
MAX_OUS = 2000  # "Number of OUs in an organization: 2000"
MAX_OU_DEPTH = 5  # "You can nest OUs up to five levels deep"
NAME = r"^[\x20-\x7e]{1,128}$"  # a policy's or an OU's name (compiled by `re` when first used)
FULL_ACCESS_ID = "p-FullAWSAccess"
FULL_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# A level whose FullAWSAccess was detached and where only Deny SCPs remain allows nothing ("there must be an
# Allow at every level"); the engine takes a level without an Allow SCP as keeping FullAWSAccess, so such a
# level is handed over with this Allow that matches no action.
_NO_ALLOW = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kmstui:NoAllowSCPAttached",
                                                      "Resource": "*"}]}
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_RECHECK_OTHERS = 0.05  # seconds between checks for organization changes made by other processes


def _rand(n: int) -> str:
    import secrets  # here: secrets loads random, which an ordinary command's start-up skips

    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not re.match(NAME, value):
        raise InvalidInputException(f"{name} must be 1-128 printable ASCII characters")
    return value


class OrganizationMixin(LocalCore):
    # -- reading ---------------------------------------------------------------------------------------------
    def _org(self) -> dict[str, Any] | None:
        row = self.store.conn.execute("SELECT doc, mac FROM org_state WHERE name='organization'").fetchone()
        # a copy: the store keeps the verified document it hands out, and callers change theirs
        return None if row is None else copy.deepcopy(self.store.open_doc("org_state", "organization", row[0], row[1]))

    def _org_required(self) -> dict[str, Any]:
        org = self._org()
        if org is None:
            raise AWSOrganizationsNotInUseException(
                "Your account is not a member of an organization (create one with 'org create-organization')")
        return org

    def _policies(self) -> list[dict[str, Any]]:
        rows = self.store.conn.execute("SELECT policy_id, doc, mac FROM org_policies ORDER BY policy_id").fetchall()
        return [copy.deepcopy(self.store.open_doc("org_policies", pid, doc, mac)) for pid, doc, mac in rows]

    def _policy(self, policy_id: Any) -> dict[str, Any]:
        if policy_id == FULL_ACCESS_ID:
            return self._full_access()
        if not isinstance(policy_id, str) or not re.fullmatch(r"p-[0-9a-z_]{8,128}", policy_id):
            raise InvalidInputException("PolicyId must be a policy id such as p-examplepolicyid111")
        row = self.store.conn.execute("SELECT doc, mac FROM org_policies WHERE policy_id=?", (policy_id,)).fetchone()
        if row is None:
            raise PolicyNotFoundException(f"We can't find a policy with the PolicyId {policy_id}")
        return copy.deepcopy(self.store.open_doc("org_policies", policy_id, row[0], row[1]))

    def _full_access(self) -> dict[str, Any]:
        """The AWS managed FullAWSAccess SCP, attached to every root, OU and account unless detached."""
        org = self._org_required()
        targets = [t for t in self._targets(org) if t not in org["FullAWSAccessDetached"]]
        return {"Id": FULL_ACCESS_ID, "Name": "FullAWSAccess", "Type": SCP, "AwsManaged": True,
                "Description": "Allows access to every operation", "Content": json.dumps(FULL_ACCESS),
                "Targets": targets}

    @staticmethod
    def _targets(org: dict[str, Any]) -> list[str]:
        return [org["RootId"], *org["OUs"], *org["Accounts"]]

    def _summary(self, org: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        kind = p["Type"].lower()
        arn = (f"arn:aws:organizations::aws:policy/{kind}/{p['Id']}" if p.get("AwsManaged") else
               f"arn:aws:organizations::{org['MasterAccountId']}:policy/{org['Id']}/{kind}/{p['Id']}")
        return {"Id": p["Id"], "Arn": arn, "Name": p["Name"], "Description": p.get("Description", ""),
                "Type": p["Type"], "AwsManaged": bool(p.get("AwsManaged"))}

    def _org_out(self, org: dict[str, Any]) -> dict[str, Any]:
        mgmt = org["MasterAccountId"]
        return {"Id": org["Id"], "Arn": f"arn:aws:organizations::{mgmt}:organization/{org['Id']}",
                "FeatureSet": "ALL", "MasterAccountArn": f"arn:aws:organizations::{mgmt}:account/{org['Id']}/{mgmt}",
                "MasterAccountId": mgmt,
                "AvailablePolicyTypes": [{"Type": SCP, "Status": "ENABLED"}, {"Type": RCP, "Status": "ENABLED"}]}

    # -- what the authorizer reads ---------------------------------------------------------------------------
    def organization_state(self) -> tuple[Any, Organization] | None:
        """(revision, the organization with its SCPs and RCPs, compiled) or None without one. Kept until the
        store changes, so a call does not pay a query for it: while the file's change token (Store.
        change_token) is unchanged nothing was committed anywhere; without a token (inside a transaction)
        this process's writes count at once and another process's within 50 ms (as the authorizer does for
        identity policies)."""
        token = self.store.change_token()  # nothing committed anywhere since: the same organization
        hit = getattr(self, "_org_cache", None)
        if token is not None and hit is not None and hit[3] == token:
            return hit[2]
        conn, now = self.store.conn, time.monotonic()
        if token is None and hit is not None and hit[0][1] == conn.total_changes and now - hit[1] < _RECHECK_OTHERS:
            return hit[2]  # this process changed nothing, and another's change is looked for every 50 ms
        stamp = (conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes)
        if hit is not None and hit[0] == stamp:
            self._org_cache = (stamp, now, hit[2], token)
            return hit[2]
        org = self._org()
        state = None if org is None else ((org["Id"], org["Revision"]), self._engine_org(org))
        self._org_cache = (stamp, now, state, token)
        return state

    def _engine_org(self, org: dict[str, Any]) -> Organization:
        from kmstui.authz.org import OU, Attached, Organization  # a store with an organization only (start-up)

        names = {ou_id: ou["Name"] for ou_id, ou in org["OUs"].items()}

        def target(tid: str) -> str:
            if tid == org["RootId"]:
                return "root"
            return f"ou:{names[tid]}" if tid in names else f"account:{tid}"

        ous = [OU(ou["Name"], "root" if ou["ParentId"] == org["RootId"] else names[ou["ParentId"]],
                  [a for a, parent in org["Accounts"].items() if parent == ou_id], ou_id)
               for ou_id, ou in org["OUs"].items()]
        attached: dict[str, list[Attached]] = {"scp": [], "rcp": []}
        for p in self._policies():
            compiled = compile_policy(json.loads(p["Content"]), KINDS[p["Type"]],
                                      f"{KINDS[p['Type']].upper()} {p['Name']} ({p['Id']})")
            attached[KINDS[p["Type"]]] += [Attached(target(t), p["Name"], compiled) for t in p["Targets"]]
        full = compile_policy(FULL_ACCESS, "scp", "SCP FullAWSAccess")
        no_allow = compile_policy(_NO_ALLOW, "scp", "no Allow SCP attached")
        for tid in self._targets(org):
            if tid not in org["FullAWSAccessDetached"]:
                attached["scp"].append(Attached(target(tid), "FullAWSAccess", full))
            elif not any(a.policy.has_allow for a in attached["scp"] if a.target == target(tid)):
                attached["scp"].append(Attached(target(tid), "(FullAWSAccess detached; no Allow SCP)", no_allow))
        members = [a for a in org["Accounts"] if a != org["MasterAccountId"]]
        return Organization(org["Id"], org["MasterAccountId"], members, ous, scps=attached["scp"],
                            rcps=attached["rcp"], root_id=org["RootId"])

    # -- writing ---------------------------------------------------------------------------------------------
    def _org_admin(self, action: str) -> None:
        """Organization changes act for the management account: the HSM account's root only (so a principal
        an SCP restricts cannot lift it), then the authorizer like any call."""
        caller = parse_caller(self.caller)
        if not caller.is_root:
            raise AccessDeniedException(f"{self.caller} is not authorized to perform {action}: the local HSM "
                                        "changes its organization only as the account root (drop --as)")

    def _save_org(self, conn, org: dict[str, Any]) -> None:
        org["Revision"] = org.get("Revision", 0) + 1
        payload, mac = self.store.seal_doc("org_state", "organization", org)
        conn.execute("INSERT OR REPLACE INTO org_state(name, doc, mac) VALUES ('organization',?,?)", (payload, mac))

    def _save_policy(self, conn, policy: dict[str, Any]) -> None:
        payload, mac = self.store.seal_doc("org_policies", policy["Id"], policy)
        conn.execute("INSERT OR REPLACE INTO org_policies(policy_id, doc, mac) VALUES (?,?,?)",
                     (policy["Id"], payload, mac))

    @operation("CreateOrganization", source="organizations.amazonaws.com")
    def create_organization(self, *, FeatureSet: str = "ALL", ManagementAccountId: str | None = None) -> dict:
        """CreateOrganization. ManagementAccountId (kmstui's addition) names another account as the management
        account; the HSM's account then joins as a member, so SCPs apply to it."""
        if FeatureSet != "ALL":
            raise InvalidInputException("FeatureSet must be ALL (SCPs and RCPs need all features)")
        mgmt = self.account_id if ManagementAccountId is None else ManagementAccountId
        if not isinstance(mgmt, str) or not ACCOUNT_RE.match(mgmt):
            raise InvalidInputException("ManagementAccountId must be a 12-digit account id")
        self._org_admin("organizations:CreateOrganization")
        with self.store.transaction() as conn:
            if self._org() is not None:
                raise AlreadyInOrganizationException("This account is already a member of an organization")
            root = f"r-{_rand(4)}"
            accounts = {mgmt: root, self.account_id: root}
            org = {"Id": f"o-{_rand(10)}", "RootId": root, "MasterAccountId": mgmt, "Accounts": accounts,
                   "OUs": {}, "FullAWSAccessDetached": [], "Revision": 0}
            self._save_org(conn, org)
        return {"Organization": self._org_out(org)}

    @operation("DescribeOrganization", read_only=True, source="organizations.amazonaws.com")
    def describe_organization(self) -> dict:
        return {"Organization": self._org_out(self._org_required())}

    @operation("ListRoots", read_only=True, source="organizations.amazonaws.com")
    def list_roots(self) -> dict:
        org = self._org_required()
        return {"Roots": [{"Id": org["RootId"], "Name": "Root",
                           "Arn": f"arn:aws:organizations::{org['MasterAccountId']}:root/{org['Id']}/{org['RootId']}",
                           "PolicyTypes": [{"Type": SCP, "Status": "ENABLED"}, {"Type": RCP, "Status": "ENABLED"}]}]}

    @operation("DeleteOrganization", source="organizations.amazonaws.com")
    def delete_organization(self) -> dict:
        """DeleteOrganization: only an organization without member accounts (AWS: "The organization must be
        empty of member accounts"); its OUs and policies go with it."""
        self._org_admin("organizations:DeleteOrganization")
        with self.store.transaction() as conn:
            org = self._org_required()
            members = sorted(a for a in org["Accounts"] if a != org["MasterAccountId"])
            if members:
                raise OrganizationNotEmptyException(
                    f"The organization still has member accounts ({', '.join(members)}); remove them first "
                    "with 'org remove-account-from-organization'")
            gone = [p["Id"] for p in self._policies()]
            conn.execute("DELETE FROM org_policies")
            conn.execute("DELETE FROM org_state")
        for policy_id in gone:
            self.store.forget("org_policies", policy_id)
        self.store.forget("org_state", "organization")
        return {}

    @operation("InviteAccountToOrganization", source="organizations.amazonaws.com")
    def invite_account(self, *, Target: dict) -> dict:
        """InviteAccountToOrganization, accepted at once: the account joins the root."""
        if not isinstance(Target, dict) or Target.get("Type") != "ACCOUNT" or not isinstance(Target.get("Id"), str) \
                or not ACCOUNT_RE.match(Target["Id"]):
            raise InvalidInputException("Target must be Id=ACCOUNT_ID,Type=ACCOUNT (a 12-digit account id)")
        self._org_admin("organizations:InviteAccountToOrganization")
        with self.store.transaction() as conn:
            org = self._org_required()
            if Target["Id"] in org["Accounts"]:
                raise DuplicateAccountException(f"The account {Target['Id']} is already in the organization")
            org["Accounts"][Target["Id"]] = org["RootId"]
            self._save_org(conn, org)
        return {"Handshake": {"Id": f"h-{_rand(10)}", "State": "ACCEPTED", "Action": "INVITE",
                              "Parties": [{"Id": Target["Id"], "Type": "ACCOUNT"}]}}

    @operation("RemoveAccountFromOrganization", source="organizations.amazonaws.com")
    def remove_account(self, *, AccountId: str) -> dict:
        self._org_admin("organizations:RemoveAccountFromOrganization")
        with self.store.transaction() as conn:
            org = self._org_required()
            if AccountId not in org["Accounts"]:
                raise AccountNotFoundException(f"We can't find an account with the AccountId {AccountId}")
            if AccountId == org["MasterAccountId"]:
                raise ConstraintViolationException("You can't remove the management account from its organization "
                                                   "(MASTER_ACCOUNT_MISSING_CONTACT_INFO: delete the organization)")
            del org["Accounts"][AccountId]
            self._drop_target(conn, org, AccountId)
            self._save_org(conn, org)
        return {}

    def _drop_target(self, conn, org: dict[str, Any], tid: str) -> None:
        """Detach every policy from a target that leaves the organization."""
        if tid in org["FullAWSAccessDetached"]:
            org["FullAWSAccessDetached"].remove(tid)
        for p in self._policies():
            if tid in p["Targets"]:
                p["Targets"].remove(tid)
                self._save_policy(conn, p)

    def _parent(self, org: dict[str, Any], parent_id: Any) -> str:
        if parent_id != org["RootId"] and parent_id not in org["OUs"]:
            raise ParentNotFoundException(f"We can't find a root or OU with the ParentId {parent_id}")
        return parent_id

    def _depth(self, org: dict[str, Any], ou_id: str) -> int:
        depth = 0
        while ou_id != org["RootId"]:
            depth, ou_id = depth + 1, org["OUs"][ou_id]["ParentId"]
        return depth

    @operation("CreateOrganizationalUnit", source="organizations.amazonaws.com")
    def create_organizational_unit(self, *, ParentId: str, Name: str) -> dict:
        """CreateOrganizationalUnit. OU names are unique in the whole organization here (the engine and the
        scenario format name OUs by name); AWS requires it only among siblings."""
        name = _text(Name, "Name")
        if name == "root" or ":" in name:
            raise InvalidInputException("an OU name cannot be 'root' or contain ':'")
        self._org_admin("organizations:CreateOrganizationalUnit")
        with self.store.transaction() as conn:
            org = self._org_required()
            parent = self._parent(org, ParentId)
            if any(ou["Name"] == name for ou in org["OUs"].values()):
                raise DuplicateOrganizationalUnitException(f"An OU named {name} already exists")
            if len(org["OUs"]) >= MAX_OUS:
                raise ConstraintViolationException(f"OU_NUMBER_LIMIT_EXCEEDED: at most {MAX_OUS} OUs")
            if self._depth(org, parent) + 1 > MAX_OU_DEPTH:
                raise ConstraintViolationException(f"OU_DEPTH_LIMIT_EXCEEDED: OUs nest at most {MAX_OU_DEPTH} levels")
            ou_id = f"ou-{org['RootId'][2:]}-{_rand(8)}"
            org["OUs"][ou_id] = {"Name": name, "ParentId": parent}
            self._save_org(conn, org)
        return {"OrganizationalUnit": {
            "Id": ou_id, "Name": name,
            "Arn": f"arn:aws:organizations::{org['MasterAccountId']}:ou/{org['Id']}/{ou_id}"}}

    @operation("DeleteOrganizationalUnit", source="organizations.amazonaws.com")
    def delete_organizational_unit(self, *, OrganizationalUnitId: str) -> dict:
        self._org_admin("organizations:DeleteOrganizationalUnit")
        with self.store.transaction() as conn:
            org = self._org_required()
            if OrganizationalUnitId not in org["OUs"]:
                raise OrganizationalUnitNotFoundException(f"We can't find an OU with the id {OrganizationalUnitId}")
            if OrganizationalUnitId in org["Accounts"].values() or \
                    any(ou["ParentId"] == OrganizationalUnitId for ou in org["OUs"].values()):
                raise OrganizationalUnitNotEmptyException("The OU still holds accounts or OUs: move them first")
            del org["OUs"][OrganizationalUnitId]
            self._drop_target(conn, org, OrganizationalUnitId)
            self._save_org(conn, org)
        return {}

    @operation("ListOrganizationalUnitsForParent", read_only=True, source="organizations.amazonaws.com")
    def list_organizational_units_for_parent(self, *, ParentId: str) -> dict:
        org = self._org_required()
        parent = self._parent(org, ParentId)
        return {"OrganizationalUnits": [
            {"Id": ou_id, "Name": ou["Name"],
             "Arn": f"arn:aws:organizations::{org['MasterAccountId']}:ou/{org['Id']}/{ou_id}"}
            for ou_id, ou in org["OUs"].items() if ou["ParentId"] == parent]}

    @operation("MoveAccount", source="organizations.amazonaws.com")
    def move_account(self, *, AccountId: str, SourceParentId: str, DestinationParentId: str) -> dict:
        self._org_admin("organizations:MoveAccount")
        with self.store.transaction() as conn:
            org = self._org_required()
            if AccountId not in org["Accounts"]:
                raise AccountNotFoundException(f"We can't find an account with the AccountId {AccountId}")
            self._parent(org, SourceParentId)
            self._parent(org, DestinationParentId)
            if org["Accounts"][AccountId] != SourceParentId:
                raise AccountNotFoundException(f"The account {AccountId} is not in {SourceParentId}")
            if SourceParentId == DestinationParentId:
                raise DuplicateAccountException(f"The account {AccountId} is already in {DestinationParentId}")
            org["Accounts"][AccountId] = DestinationParentId
            self._save_org(conn, org)
        return {}

    # -- policies --------------------------------------------------------------------------------------------
    @staticmethod
    def _check_content(content: Any, policy_type: str) -> str:
        if not isinstance(content, str):
            raise InvalidInputException("Content must be the policy's JSON text")
        if len(content) > MAX_POLICY_CHARS:
            raise ConstraintViolationException(
                f"POLICY_CONTENT_LIMIT_EXCEEDED: You have exceeded the maximum policy size ({len(content)} characters; "
                f"an SCP or RCP holds at most {MAX_POLICY_CHARS}, white space included)")
        try:
            compile_policy(json.loads(content), KINDS[policy_type], "the policy")
        except json.JSONDecodeError as exc:
            raise MalformedPolicyDocumentException(f"the policy is not JSON: {exc.msg} at line {exc.lineno} "
                                                   f"column {exc.colno}") from None
        except (PolicyError, RecursionError) as exc:
            raise MalformedPolicyDocumentException(f"the policy is malformed: {exc}") from None
        return content

    @operation("CreatePolicy", source="organizations.amazonaws.com")
    def create_org_policy(self, *, Content: str, Description: str = "", Name: str, Type: str) -> dict:
        if Type not in KINDS:
            raise InvalidInputException(f"Type must be {SCP} or {RCP} (the policy types that decide KMS requests)")
        name = _text(Name, "Name")
        if not isinstance(Description, str) or len(Description) > 512:
            raise InvalidInputException("Description must be at most 512 characters")
        content = self._check_content(Content, Type)
        self._org_admin("organizations:CreatePolicy")
        with self.store.transaction() as conn:
            org = self._org_required()
            if name == "FullAWSAccess" or any(p["Name"] == name for p in self._policies()):
                raise DuplicatePolicyException(f"A policy named {name} already exists")
            policy = {"Id": f"p-{_rand(8)}", "Name": name, "Description": Description, "Type": Type,
                      "Content": content, "Targets": []}
            self._save_policy(conn, policy)
            self._save_org(conn, org)
        return {"Policy": {"PolicySummary": self._summary(org, policy), "Content": content}}

    @operation("DescribePolicy", read_only=True, source="organizations.amazonaws.com")
    def describe_org_policy(self, *, PolicyId: str) -> dict:
        org = self._org_required()
        policy = self._policy(PolicyId)
        return {"Policy": {"PolicySummary": self._summary(org, policy), "Content": policy["Content"]}}

    @operation("ListPolicies", read_only=True, source="organizations.amazonaws.com")
    def list_org_policies(self, *, Filter: str) -> dict:
        if Filter not in KINDS:
            raise InvalidInputException(f"Filter must be {SCP} or {RCP}")
        org = self._org_required()
        found = ([self._full_access()] if Filter == SCP else []) + [p for p in self._policies() if p["Type"] == Filter]
        return {"Policies": [self._summary(org, p) for p in found]}

    @operation("ListTargetsForPolicy", read_only=True, source="organizations.amazonaws.com")
    def list_targets_for_policy(self, *, PolicyId: str) -> dict:
        org = self._org_required()
        policy = self._policy(PolicyId)
        out = []
        for tid in policy["Targets"]:
            kind = "ROOT" if tid == org["RootId"] else ("ORGANIZATIONAL_UNIT" if tid in org["OUs"] else "ACCOUNT")
            name = "Root" if kind == "ROOT" else org["OUs"][tid]["Name"] if kind != "ACCOUNT" else tid
            out.append({"TargetId": tid, "Name": name, "Type": kind})
        return {"Targets": out}

    def _target(self, org: dict[str, Any], target_id: Any) -> str:
        if target_id not in self._targets(org):
            raise TargetNotFoundException(f"We can't find a root, OU, or account with the TargetId {target_id}")
        return target_id

    def _scps_at(self, org: dict[str, Any], tid: str, policies: list[dict[str, Any]]) -> int:
        return (tid not in org["FullAWSAccessDetached"]) + sum(
            1 for p in policies if p["Type"] == SCP and tid in p["Targets"])

    @operation("AttachPolicy", source="organizations.amazonaws.com")
    def attach_org_policy(self, *, PolicyId: str, TargetId: str) -> dict:
        self._org_admin("organizations:AttachPolicy")
        with self.store.transaction() as conn:
            org = self._org_required()
            policy = self._policy(PolicyId)
            tid = self._target(org, TargetId)
            if tid in policy["Targets"]:
                raise DuplicatePolicyAttachmentException(f"The policy {PolicyId} is already attached to {tid}")
            policies = self._policies()
            attached = (self._scps_at(org, tid, policies) if policy["Type"] == SCP else
                        sum(1 for p in policies if p["Type"] == RCP and tid in p["Targets"]))
            if attached >= MAX_ATTACHED:
                raise ConstraintViolationException(f"POLICY_NUMBER_LIMIT_EXCEEDED: {tid} already has {MAX_ATTACHED} "
                                                   f"policies of type {policy['Type']} attached")
            if PolicyId == FULL_ACCESS_ID:
                org["FullAWSAccessDetached"].remove(tid)
            else:
                policy["Targets"].append(tid)
                self._save_policy(conn, policy)
            self._save_org(conn, org)
        return {}

    @operation("DetachPolicy", source="organizations.amazonaws.com")
    def detach_org_policy(self, *, PolicyId: str, TargetId: str) -> dict:
        self._org_admin("organizations:DetachPolicy")
        with self.store.transaction() as conn:
            org = self._org_required()
            policy = self._policy(PolicyId)
            tid = self._target(org, TargetId)
            if tid not in policy["Targets"]:
                raise PolicyNotAttachedException(f"The policy {PolicyId} is not attached to {tid}")
            if policy["Type"] == SCP and self._scps_at(org, tid, self._policies()) <= 1:
                raise ConstraintViolationException(
                    "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED: a root, OU or account keeps at least one SCP; "
                    "attach another first")
            if PolicyId == FULL_ACCESS_ID:
                org["FullAWSAccessDetached"].append(tid)
            else:
                policy["Targets"].remove(tid)
                self._save_policy(conn, policy)
            self._save_org(conn, org)
        return {}

    @operation("DeletePolicy", source="organizations.amazonaws.com")
    def delete_org_policy(self, *, PolicyId: str) -> dict:
        self._org_admin("organizations:DeletePolicy")
        with self.store.transaction() as conn:
            org = self._org_required()
            policy = self._policy(PolicyId)
            if policy.get("AwsManaged"):
                raise InvalidInputException("FullAWSAccess is managed by AWS and cannot be deleted")
            if policy["Targets"]:
                raise PolicyInUseException(f"The policy {PolicyId} is attached to {', '.join(policy['Targets'])}: "
                                           "detach it first")
            conn.execute("DELETE FROM org_policies WHERE policy_id=?", (PolicyId,))
            self._save_org(conn, org)
        self.store.forget("org_policies", PolicyId)
        return {}
