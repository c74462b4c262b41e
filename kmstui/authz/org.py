"""The layers around a key policy: the organization (SCPs, RCPs), permissions boundaries and session policies.

Pure data, compiled once: an `Organization` knows each account's place (management account, member
accounts, OUs from the root down, accounts of other organizations) and the SCPs and RCPs attached at every
level; `Layers` bundles it with the caller's permissions boundary and session policies, which is what the
engine (kmstui.authz.engine) takes besides the key policy, identity policies and grants. See
kms-authz-organizations.md for the rules and docs/policy-layers.md for the scenario format.

Targets are "root", "ou:NAME" or "account:ID", as in the scenario format. OU and root ids default to
"ou-NAME" and "r-root"; give "id" to an OU (and "root_id" to the organization) when conditions compare
aws:PrincipalOrgPaths / aws:ResourceOrgPaths with real ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from kmstui.authz.model import PolicyError
from kmstui.authz.policy import CompiledPolicy, compile_policy
from kmstui.authz.principals import ACCOUNT_RE

_ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
MAX_OU_DEPTH = 5  # "You can nest OUs up to five levels deep" (AWS Organizations quotas)


class OrganizationError(ValueError):
    """Organization data that cannot describe a real organization; the message names the field."""


@dataclass(frozen=True)
class Attached:
    """An SCP or RCP attached at one target, compiled."""

    target: str
    name: str
    policy: CompiledPolicy


@dataclass
class OU:
    name: str
    parent: str  # "root" or another OU's name
    accounts: list[str] = field(default_factory=list)
    id: str = ""


class Organization:
    """An AWS organization as the engine needs it. Build with `Organization.from_dict` (scenario shape)."""

    def __init__(self, org_id: str, management_account: str, member_accounts: Iterable[str], ous: Iterable[OU],
                 external_accounts: dict[str, str | None] | None = None, scps: Iterable[Attached] = (),
                 rcps: Iterable[Attached] = (), root_id: str = "r-root") -> None:
        self.id = org_id
        self.management_account = management_account
        self.member_accounts = set(member_accounts) - {management_account}
        self.ous = {ou.name: ou for ou in ous}
        self.external_accounts = dict(external_accounts or {})
        self.root_id = root_id
        self.scps: dict[str, list[Attached]] = {}
        self.rcps: dict[str, list[Attached]] = {}
        for a in scps:
            self.scps.setdefault(a.target, []).append(a)
        for a in rcps:
            self.rcps.setdefault(a.target, []).append(a)
        self._ou_of: dict[str, str] = {}
        for ou in self.ous.values():
            for acct in ou.accounts:
                self._ou_of[acct] = ou.name
        self._paths: dict[str, list[str] | None] = {}

    # -- where an account sits -----------------------------------------------------------------------------
    def in_org(self, account: str | None) -> bool:
        return account is not None and (account == self.management_account or account in self.member_accounts)

    def is_member(self, account: str | None) -> bool:
        """A member account (delegated administrators included); the management account is not one."""
        return account is not None and account in self.member_accounts

    def path(self, account: str | None) -> list[str] | None:
        """The targets from the root down to the account: ["root", "ou:A", "ou:B", "account:ID"]; None when
        the account is not in this organization."""
        if not self.in_org(account):
            return None
        hit = self._paths.get(account)  # type: ignore[arg-type]
        if hit is None:
            chain: list[str] = []
            ou = self._ou_of.get(account)  # type: ignore[arg-type]
            while ou is not None:
                chain.append(f"ou:{ou}")
                parent = self.ous[ou].parent
                ou = None if parent == "root" else parent
            hit = ["root", *reversed(chain), f"account:{account}"]
            self._paths[account] = hit  # type: ignore[index]
        return hit

    def org_id_of(self, account: str | None) -> str | None:
        """aws:PrincipalOrgID / aws:ResourceOrgID: this organization's id, another organization's (from
        external_accounts), or None (no organization, or not known)."""
        if account is None:
            return None
        if self.in_org(account):
            return self.id
        return self.external_accounts.get(account)

    def org_paths(self, account: str | None) -> list[str] | None:
        """aws:PrincipalOrgPaths / aws:ResourceOrgPaths: ["o-id/r-root/ou-a/ou-b/"] (the account's parent
        chain, ending with "/"); None outside this organization (another organization's paths are unknown)."""
        path = self.path(account)
        if path is None:
            return None
        ids = [self.id, self.root_id] + [self.ous[t[3:]].id or f"ou-{t[3:]}" for t in path if t.startswith("ou:")]
        return ["/".join(ids) + "/"]

    def attached(self, kind: str, target: str) -> list[Attached]:
        return (self.scps if kind == "scp" else self.rcps).get(target, [])

    # -- building --------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Any, scps: Any = None, rcps: Any = None, where: str = "organization") -> "Organization":
        """From the scenario shape (docs/policy-layers.md); OrganizationError names the wrong field."""
        if not isinstance(d, dict):
            raise OrganizationError(f"{where} must be an object")
        unknown = set(d) - {"id", "management_account", "member_accounts", "ous", "external_accounts", "root_id"}
        if unknown:
            raise OrganizationError(f"{where}: unknown field(s) {sorted(unknown)}")
        org_id = d.get("id")
        if not isinstance(org_id, str) or not _ORG_ID.match(org_id):
            raise OrganizationError(f"{where}.id must be an organization id such as o-a1b2c3d4e5")
        mgmt = d.get("management_account")
        if not isinstance(mgmt, str) or not ACCOUNT_RE.match(mgmt):
            raise OrganizationError(f"{where}.management_account must be a 12-digit account id")
        members = d.get("member_accounts") or []
        if not isinstance(members, list) or not all(isinstance(a, str) and ACCOUNT_RE.match(a) for a in members):
            raise OrganizationError(f"{where}.member_accounts must be a list of 12-digit account ids")
        ous_raw = d.get("ous") or []
        if not isinstance(ous_raw, list):
            raise OrganizationError(f"{where}.ous must be a list of {{name, parent, accounts}}")
        ous: list[OU] = []
        seen_accounts: dict[str, str] = {}
        for i, o in enumerate(ous_raw):
            w = f"{where}.ous[{i}]"
            if not isinstance(o, dict) or set(o) - {"name", "parent", "accounts", "id"}:
                raise OrganizationError(f"{w} must be an object with name, parent, accounts (and optional id)")
            name, parent = o.get("name"), o.get("parent", "root")
            if not isinstance(name, str) or not name or name == "root" or ":" in name:
                raise OrganizationError(f"{w}.name must be a non-empty name (not 'root', no ':')")
            if not isinstance(parent, str) or not parent:
                raise OrganizationError(f"{w}.parent must be 'root' or another OU's name")
            parent = parent[3:] if parent.startswith("ou:") else parent
            accounts = o.get("accounts") or []
            if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
                raise OrganizationError(f"{w}.accounts must be a list of account ids")
            for a in accounts:
                if a != mgmt and a not in members:
                    raise OrganizationError(f"{w}: account {a} is not the management account or a member account")
                if a in seen_accounts:
                    raise OrganizationError(f"{w}: account {a} is already in OU {seen_accounts[a]}")
                seen_accounts[a] = name
            ou_id = o.get("id", "")
            if not isinstance(ou_id, str):
                raise OrganizationError(f"{w}.id must be a string")
            ous.append(OU(name, parent, list(accounts), ou_id))
        names = [ou.name for ou in ous]
        if len(set(names)) != len(names):
            raise OrganizationError(f"{where}.ous: OU names must be unique")
        by_name = {ou.name: ou for ou in ous}
        for ou in ous:  # parents exist, no cycles, at most five levels
            depth, cur, seen = 0, ou, set()
            while cur.parent != "root":
                if cur.parent not in by_name:
                    raise OrganizationError(f"{where}.ous: OU {cur.name}'s parent {cur.parent!r} is not an OU")
                if cur.name in seen:
                    raise OrganizationError(f"{where}.ous: OU {ou.name} is its own ancestor")
                seen.add(cur.name)
                cur = by_name[cur.parent]
                depth += 1
            if depth >= MAX_OU_DEPTH:
                raise OrganizationError(f"{where}.ous: OU {ou.name} is nested more than {MAX_OU_DEPTH} levels deep")
        ext = d.get("external_accounts") or {}
        if not isinstance(ext, dict) or not all(ACCOUNT_RE.match(str(k)) and (v is None or isinstance(v, str))
                                                for k, v in ext.items()):
            raise OrganizationError(f"{where}.external_accounts must map account ids to an organization id or null")
        root_id = d.get("root_id", "r-root")
        if not isinstance(root_id, str):
            raise OrganizationError(f"{where}.root_id must be a string")
        org = cls(org_id, mgmt, members, ous, ext, root_id=root_id)
        targets = {"root"} | {f"ou:{n}" for n in names} | {f"account:{a}" for a in [mgmt, *members]}
        for kind, items in (("scp", scps), ("rcp", rcps)):
            for a in attached_list(items, kind, targets, f"{kind}s"):
                (org.scps if kind == "scp" else org.rcps).setdefault(a.target, []).append(a)
        return org


def attached_list(items: Any, kind: str, targets: set[str] | None, where: str) -> list[Attached]:
    """Compile `[{"target", "PolicyName", "PolicyDocument"}]`; OrganizationError names a bad entry."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise OrganizationError(f"{where} must be a list of {{target, PolicyName, PolicyDocument}}")
    out = []
    for i, item in enumerate(items):
        w = f"{where}[{i}]"
        if not isinstance(item, dict) or set(item) - {"target", "PolicyName", "PolicyDocument"}:
            raise OrganizationError(f"{w} must be an object with target, PolicyName and PolicyDocument")
        target, name, doc = item.get("target"), item.get("PolicyName"), item.get("PolicyDocument")
        if not isinstance(target, str) or (targets is not None and target not in targets):
            raise OrganizationError(f"{w}.target must be 'root', 'ou:NAME' or 'account:ID' of the organization")
        if not isinstance(name, str) or not name:
            raise OrganizationError(f"{w}.PolicyName must be a non-empty string")
        label = f"{kind.upper()} {name} attached to {target}"
        try:
            compiled = compile_policy(doc, kind, label)
        except PolicyError as exc:
            raise OrganizationError(f"{w} ({label}): {exc}") from None
        out.append(Attached(target, name, compiled))
    return out


@dataclass
class Layers:
    """Everything besides the key policy, identity policies and grants that decides a request.

    organization: the Organization (SCPs and RCPs inside) or None (no organization: no SCP or RCP applies).
    boundary: the permissions boundary of the calling IAM user or role (for a role session, the role's).
    session_policies: the session policies of an assumed-role or federated-user session (AssumeRole's inline
      Policy and the documents of its PolicyArns); None when none was passed (no restriction).
    grants_capped: whether a boundary / session policy caps what a grant gives a role's session (AWS
      documents nothing; kmstui caps it, failing closed, and flags the answer as medium confidence).
    """

    organization: Organization | None = None
    boundary: CompiledPolicy | None = None
    session_policies: list[CompiledPolicy] | None = None
    grants_capped: bool = True
    views: dict = field(default_factory=dict, repr=False, compare=False)  # kmstui.authz.layers' per-request cache

    @property
    def empty(self) -> bool:
        return self.organization is None and self.boundary is None and not self.session_policies


def make_layers(organization: Any = None, boundary: Any = None, session_policies: Any = None, *,
                grants_capped: bool = True) -> Layers | None:
    """Layers from loose inputs (policy dicts, JSON text or CompiledPolicy; an Organization); None when there
    is nothing to add, so the engine keeps its fast path."""
    from kmstui.authz.engine import as_compiled

    pb = as_compiled(boundary, "iam", "permissions boundary") if boundary is not None else None
    sps = None
    if session_policies:
        if not isinstance(session_policies, (list, tuple)):
            session_policies = [session_policies]
        sps = [as_compiled(p, "iam", f"session policy{'' if len(session_policies) == 1 else f' [{i}]'}")
               for i, p in enumerate(session_policies)]
    if organization is not None and not isinstance(organization, Organization):
        raise TypeError("organization must be a kmstui.authz.org.Organization (Organization.from_dict builds one)")
    lay = Layers(organization, pb, sps, grants_capped)
    return None if lay.empty else lay
