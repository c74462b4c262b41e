"""`policy pull`: read a live account into scenario-ready files, so `whatif`, `policy matrix` and
`policy test` answer for that account offline (docs/policy-pull.md).

KMS (key policies, grants, aliases, tags) is read through the profile's backend, so any backend can be pulled.
IAM (identity policies and permissions boundaries of the principals named with --principal) and
Organizations (the tree, SCPs and RCPs) are read with botocore using the aws profile's credentials and
region, when the profile's backend is `aws`. A call the caller may not make is reported per item and skipped;
the command fails only when nothing could be read. Everything is written into a fresh folder beside --out
that replaces --out in one rename, so an interrupted pull never leaves half a tree.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from kmstui.commands.registry import Result
from kmstui.errors import KMSError, UsageError
from kmstui.visible import visible

WORKERS = 8  # KMS reads per key run in parallel: a pull is bound by round trips, not by the CPU
MAX_PAGES = 10_000  # a service that never stops paging is refused, not followed forever
_ARN = re.compile(r"^arn:(aws[a-z-]*):(iam|sts)::(\d{12}):(user|role|assumed-role)/(.+)$")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class _Skipped(Exception):
    """A read the caller may not make (or the service does not offer): reported, then skipped."""


def _safe(name: str) -> str:
    return _SAFE.sub("_", name).strip("._") or "_"


class _Bar:
    """Items done of a total on one stderr line, only on a terminal (nothing on a pipe). It follows the envelope
    plugin's progress helper: when a face owns the screen (its `observer` is set, as the TUI does) nothing is
    drawn here. Steps come from the worker threads, hence the lock."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.done = total, label, 0
        try:
            from kmstui_envelope import progress
            self.on = progress.observer is None and progress._isatty(sys.stderr)
        except ImportError:  # the envelope plugin is not installed: a plain terminal check
            self.on = sys.stderr.isatty()
        self._last = 0.0
        self._lock = threading.Lock()

    def step(self) -> None:
        with self._lock:
            self.done += 1
            now = time.monotonic()
            if self.on and (now - self._last > 0.1 or self.done == self.total):
                self._last = now
                frac = self.done / self.total if self.total else 1.0
                sys.stderr.write(f"\r{visible(self.label)} [{'#' * int(frac * 24):<24}] {self.done}/{self.total}")
                sys.stderr.flush()

    def finish(self) -> None:
        if self.on:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _error_text(exc: BaseException) -> str:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
    if code:
        return f"{code}: {exc.response['Error'].get('Message', '')}".strip()
    return str(exc) or type(exc).__name__


def _pages(call: Callable, field_name: str, *, marker_in="Marker", marker_out="NextMarker", **kw) -> list:
    out: list = []
    marker = None
    for _ in range(MAX_PAGES):
        page = call(**kw, **({marker_in: marker} if marker else {}))
        out.extend(page.get(field_name, []))
        marker = page.get(marker_out)
        if not marker or page.get("Truncated") is False:
            return out
    raise UsageError(f"the service kept paging {field_name}; giving up")


def _doc(value: Any) -> Any:
    """IAM returns policy documents decoded (botocore) or as URL-encoded JSON text (other clients)."""
    if isinstance(value, str):
        from urllib.parse import unquote
        return json.loads(unquote(value) if value.startswith("%7B") else value)
    return value


# -- KMS ---------------------------------------------------------------------------------------------------
def _pull_key(backend, key_id: str) -> dict:
    meta = backend.describe_key(KeyId=key_id)["KeyMetadata"]
    kid = meta["KeyId"]
    policy = json.loads(backend.get_key_policy(KeyId=kid, PolicyName="default")["Policy"])
    out = {"meta": meta, "policy": policy, "grants": [], "tags": {}, "errors": []}
    for what, call in (("grants", lambda: _pages(backend.list_grants, "Grants", KeyId=kid)),
                       ("tags", lambda: {t["TagKey"]: t["TagValue"]
                                         for t in _pages(backend.list_resource_tags, "Tags", KeyId=kid)})):
        try:
            out[what] = call()
        except Exception as exc:  # noqa: BLE001 - one unreadable part of a key is reported, the rest kept
            out["errors"].append((f"key {kid} {what}", _error_text(exc)))
    return out


# -- IAM and Organizations -----------------------------------------------------------------------------------
def _client(profile, service: str) -> Any:
    """A botocore client for IAM or Organizations with the aws profile's credentials (their endpoints come from
    botocore's own settings, e.g. AWS_ENDPOINT_URL_IAM; the profile's endpoint_url is KMS's)."""
    import botocore.session

    bs = botocore.session.Session(profile=profile.get("aws_profile"))
    region = profile.get("region") or bs.get_config_variable("region") or "us-east-1"
    return bs.create_client(service, region_name=region)


def _iam_policies(iam, kind: str, name: str) -> list[tuple[str, dict]]:
    """(file name, document) of a user's, role's or group's inline and attached managed policies."""
    docs = []
    for pname in _pages(getattr(iam, f"list_{kind}_policies"), "PolicyNames", **{f"{kind.capitalize()}Name": name}):
        got = getattr(iam, f"get_{kind}_policy")(**{f"{kind.capitalize()}Name": name, "PolicyName": pname})
        docs.append((f"{kind}-{name}-inline-{pname}", _doc(got["PolicyDocument"])))
    for att in _pages(getattr(iam, f"list_attached_{kind}_policies"), "AttachedPolicies",
                      **{f"{kind.capitalize()}Name": name}):
        docs.append((f"managed-{att['PolicyName']}", _managed(iam, att["PolicyArn"])))
    return docs


def _managed(iam, arn: str) -> dict:
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return _doc(iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"])


def _pull_principal(iam, arn: str, skipped: list) -> dict:
    m = _ARN.match(arn)
    if not m:
        raise UsageError(f"--principal {visible(arn)}: give an IAM user or role ARN "
                         "(arn:aws:iam::ACCOUNT:role/NAME) or an assumed-role session ARN")
    kind, rest = m.group(4), m.group(5)
    kind, name = ("role", rest.split("/")[0]) if kind == "assumed-role" else (kind, rest.split("/")[-1])
    out: dict = {"arn": arn, "kind": kind, "name": name, "policies": [], "boundary": None, "role_arn": None}

    def attempt(what: str, call: Callable) -> Any:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - AccessDenied and the like: reported per item, skipped
            skipped.append({"Item": f"{arn} {what}", "Error": _error_text(exc)})
            return None

    entity = attempt("Get" + kind.capitalize(), lambda: getattr(iam, f"get_{kind}")(
        **{f"{kind.capitalize()}Name": name})[kind.capitalize()])
    if entity is not None:
        if m.group(4) == "assumed-role":
            out["role_arn"] = entity["Arn"]
        pb = (entity.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        if pb:
            out["boundary"] = attempt(f"permissions boundary {pb}", lambda: _managed(iam, pb))
    out["policies"] += attempt("identity policies", lambda: _iam_policies(iam, kind, name)) or []
    if kind == "user":
        groups = attempt("ListGroupsForUser", lambda: _pages(iam.list_groups_for_user, "Groups", UserName=name)) or []
        for g in groups:
            out["policies"] += attempt(f"group {g['GroupName']} policies",
                                       lambda g=g: _iam_policies(iam, "group", g["GroupName"])) or []
    return out


def _pull_org(org, skipped: list) -> dict | None:
    """The organization in the scenario shape, with its SCPs and RCPs (None when it cannot be read)."""
    try:
        desc = org.describe_organization()["Organization"]
        root = org.list_roots()["Roots"][0]
        accounts = [a["Id"] for a in _pages(org.list_accounts, "Accounts", marker_in="NextToken",
                                            marker_out="NextToken")]
    except Exception as exc:  # noqa: BLE001 - not in an organization, or may not read it
        skipped.append({"Item": "organization (DescribeOrganization, ListRoots, ListAccounts)",
                        "Error": _error_text(exc)})
        return None
    mgmt = desc.get("MasterAccountId") or desc.get("ManagementAccountId")
    ous: list[dict] = []
    names: dict[str, str] = {}
    queue = [(root["Id"], "root", 0)]
    while queue:
        parent_id, parent_name, depth = queue.pop(0)
        if depth > 5:
            break
        for ou in _pages(org.list_organizational_units_for_parent, "OrganizationalUnits", ParentId=parent_id,
                         marker_in="NextToken", marker_out="NextToken"):
            name = ou["Name"] if ou["Name"] not in names.values() and ou["Name"] != "root" and ":" not in ou["Name"] \
                else f"{_safe(ou['Name'])}-{ou['Id']}"
            names[ou["Id"]] = name
            accts = [a["Id"] for a in _pages(org.list_accounts_for_parent, "Accounts", ParentId=ou["Id"],
                                             marker_in="NextToken", marker_out="NextToken")]
            ous.append({"name": name, "parent": parent_name, "accounts": accts, "id": ou["Id"]})
            queue.append((ou["Id"], name, depth + 1))
    organization = {"id": desc["Id"], "management_account": mgmt, "root_id": root["Id"],
                    "member_accounts": sorted(a for a in accounts if a != mgmt), "ous": ous}
    attached: dict[str, list] = {"scps": [], "rcps": []}
    for kind, ptype in (("scps", "SERVICE_CONTROL_POLICY"), ("rcps", "RESOURCE_CONTROL_POLICY")):
        try:
            policies = _pages(org.list_policies, "Policies", Filter=ptype, marker_in="NextToken",
                              marker_out="NextToken")
        except Exception as exc:  # noqa: BLE001 - e.g. the policy type is not enabled, or not allowed
            skipped.append({"Item": f"{kind.upper()[:-1]}s (ListPolicies {ptype})", "Error": _error_text(exc)})
            continue
        for p in policies:
            try:
                content = _doc(org.describe_policy(PolicyId=p["Id"])["Policy"]["Content"])
                targets = _pages(org.list_targets_for_policy, "Targets", PolicyId=p["Id"],
                                 marker_in="NextToken", marker_out="NextToken")
            except Exception as exc:  # noqa: BLE001
                skipped.append({"Item": f"{kind[:-1].upper()} {p['Id']} ({p.get('Name')})", "Error": _error_text(exc)})
                continue
            for t in targets:
                target = ("root" if t["Type"] == "ROOT" else f"ou:{names.get(t['TargetId'], t['TargetId'])}"
                          if t["Type"] == "ORGANIZATIONAL_UNIT" else f"account:{t['TargetId']}")
                attached[kind].append({"target": target, "PolicyName": p["Name"], "Id": p["Id"], "doc": content})
    return {"organization": organization, **attached}


# -- writing -------------------------------------------------------------------------------------------------
def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {visible(str(out))} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(f"--out {visible(str(out))} is not empty; pass --force to replace it")
    if not out.resolve().parent.is_dir():
        raise UsageError(f"--out: folder {visible(str(out.resolve().parent))} does not exist")


def _publish(files: dict[str, Any], out: Path) -> None:
    """Write every file into a fresh folder beside `out`, then swap it in with renames."""
    parent = out.resolve().parent
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.pull-", dir=parent))
    try:
        for rel, data in files.items():
            p = stage / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        old = None
        if out.is_dir():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
            os.replace(out, old / "x")
        os.replace(stage, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def cmd_pull(session, args) -> Result:
    out = Path(args.out)
    _check_out(out, args.force)
    profile = session.profile(session.profile_name)
    backend = session.backend()
    skipped: list[dict] = []
    wanted = [k.strip() for item in (args.keys or []) for k in item.split(",") if k.strip()]
    if not wanted:
        wanted = [k["KeyId"] for k in _pages(backend.list_keys, "Keys")]
    aliases: dict[str, list[str]] = {}
    try:
        for a in _pages(backend.list_aliases, "Aliases"):
            if a.get("TargetKeyId"):
                aliases.setdefault(a["TargetKeyId"], []).append(a["AliasName"])
    except KMSError as exc:
        skipped.append({"Item": "ListAliases", "Error": str(exc)})
    principals = list(args.principal or [])
    bar = _Bar(len(wanted) + len(principals) + 1, "policy pull")
    keys: list[dict] = []

    def one(key_id: str) -> dict | None:
        try:
            return _pull_key(backend, key_id)
        except Exception as exc:  # noqa: BLE001 - NotFound, AccessDenied on one key: reported, skipped
            skipped.append({"Item": f"key {visible(key_id)}", "Error": _error_text(exc)})
            return None
        finally:
            bar.step()

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(WORKERS, len(wanted)))) as pool:
            for got in pool.map(one, wanted):
                if got is not None:
                    for item, err in got.pop("errors"):
                        skipped.append({"Item": item, "Error": err})
                    keys.append(got)
        pulled_principals: list[dict] = []
        org_data = None
        if profile.backend == "aws":
            iam = _client(profile, "iam") if principals else None
            for arn in principals:
                pulled_principals.append(_pull_principal(iam, arn, skipped))
                bar.step()
            org_data = _pull_org(_client(profile, "organizations"), skipped)
        else:
            if principals:
                raise UsageError(f"--principal needs an aws profile (IAM); profile '{profile.name}' uses the "
                                 f"{profile.backend} backend")
            skipped.append({"Item": "organization", "Error": f"the {profile.backend} backend has no Organizations"})
        bar.step()
    finally:
        bar.finish()
    if not keys and not any(p["policies"] or p["boundary"] for p in pulled_principals) and org_data is None:
        raise UsageError("nothing could be read: " + "; ".join(f"{s['Item']}: {s['Error']}" for s in skipped[:5]))
    files, commands = _layout(keys, aliases, pulled_principals, org_data, skipped, out)
    _publish(files, out)
    data = {"Out": str(out), "Keys": len(keys), "Principals": len(pulled_principals),
            "Organization": org_data["organization"]["id"] if org_data else None, "Files": len(files),
            "Skipped": skipped, "NextCommands": commands}
    lines = [f"pulled {len(keys)} key(s), {len(pulled_principals)} principal(s)"
             + (f", organization {org_data['organization']['id']}" if org_data else "") + f" into {out}/"]
    for s in skipped:
        lines.append(f"  skipped {visible(s['Item'])}: {visible(s['Error'])}")
    lines.append("next:")
    lines += [f"  {c}" for c in commands]
    return Result(data=data, text="\n".join(lines))


def _layout(keys, aliases, principals, org_data, skipped, out: Path) -> tuple[dict[str, Any], list[str]]:
    """Every file of the pulled tree (relative path -> JSON) and the follow-up commands to show."""
    files: dict[str, Any] = {}
    layer_fields: dict[str, Any] = {}
    if org_data:
        files["org/organization.json"] = org_data["organization"]
        layer_fields["organization"] = "org/organization.json"
        for kind in ("scps", "rcps"):
            entries = []
            for a in org_data[kind]:
                rel = f"org/{kind}/{_safe(a['Id'])}.json"
                files[rel] = a["doc"]
                entries.append({"target": a["target"], "PolicyName": a["PolicyName"], "PolicyDocument": rel})
            layer_fields[kind] = entries
    if layer_fields:
        files["layers.json"] = layer_fields
    prin_files: dict[str, dict] = {}
    for p in principals:
        pdir = f"principals/{_safe(p['kind'] + '-' + p['name'])}"
        iam = []
        for name, doc in p["policies"]:
            rel = f"{pdir}/identity/{_safe(name)}.json"
            files[rel] = doc
            iam.append(rel)
        own = {k: [{**e, "PolicyDocument": "../../" + e["PolicyDocument"]} for e in v] if k != "organization"
               else "../../" + v for k, v in layer_fields.items()}
        if p["boundary"] is not None:
            files[f"{pdir}/permissions-boundary.json"] = p["boundary"]
            own["permissions_boundary"] = "permissions-boundary.json"
        if own:
            files[f"{pdir}/layers.json"] = own
        prin_files[p["arn"]] = {"dir": pdir, "iam": iam, "layers": f"{pdir}/layers.json" if own else None,
                                "boundary": p["boundary"] is not None, "role_arn": p["role_arn"]}
    for k in keys:
        meta = k["meta"]
        kdir = f"keys/{_safe(meta['KeyId'])}"
        files[f"{kdir}/key-policy.json"] = k["policy"]
        files[f"{kdir}/grants.json"] = {"Grants": k["grants"]}
        files[f"{kdir}/key.json"] = {"KeyMetadata": meta, "Aliases": sorted(aliases.get(meta["KeyId"], [])),
                                     "Tags": k["tags"]}
        for arn, pf in prin_files.items():
            request = {"principal": arn, "action": "kms:Decrypt", "key_arn": meta["Arn"],
                       "key_aliases": sorted(aliases.get(meta["KeyId"], [])), "key_tags": k["tags"],
                       "key_manager": meta.get("KeyManager", "CUSTOMER")}
            if pf["role_arn"]:
                request["principal_role_arn"] = pf["role_arn"]
            sc: dict[str, Any] = {"name": f"{arn} kms:Decrypt on {meta['KeyId']}",
                                  "description": "pulled by `kmstui policy pull`; set request.action and add "
                                                 "\"expected\" to make it a test",
                                  "key_policy": f"../{kdir}/key-policy.json", "grants": f"../{kdir}/grants.json",
                                  "iam_policies": [f"../{r}" for r in pf["iam"]], "request": request}
            for field_name, v in layer_fields.items():
                sc[field_name] = ("../" + v if field_name == "organization" else
                                  [{**e, "PolicyDocument": "../" + e["PolicyDocument"]} for e in v])
            if pf["boundary"]:
                sc["permissions_boundary"] = f"../{pf['dir']}/permissions-boundary.json"
            files[f"scenarios/{_safe(pf['dir'].split('/', 1)[1])}--{_safe(meta['KeyId'])}.scenario.json"] = sc
    files["manifest.json"] = {"Keys": [k["meta"]["Arn"] for k in keys], "Principals": [p["arn"] for p in principals],
                              "Organization": org_data["organization"]["id"] if org_data else None,
                              "Skipped": skipped}
    commands = []
    d = str(out)
    if keys:
        k = keys[0]["meta"]
        kdir = f"{d}/keys/{_safe(k['KeyId'])}"
        base = f"--key-policy {kdir}/key-policy.json --key-arn {k['Arn']} --grants {kdir}/grants.json"
        if principals:
            arn = principals[0]["arn"]
            pf = prin_files[arn]
            iam = "".join(f" --iam-policy {d}/{r}" for r in pf["iam"])
            lay = f" --layers {d}/{pf['layers']}" if pf["layers"] else ""
            commands.append(f"kmstui whatif {base}{iam}{lay} --principal {arn} --action kms:Decrypt")
        lay = f" --layers {d}/layers.json" if layer_fields else ""
        commands.append(f"kmstui policy matrix {base}{lay}"
                        + "".join(f" --principal {p['arn']}" for p in principals))
        if principals:
            commands.append(f"kmstui policy test {d}/scenarios/   (add \"expected\" to the scenarios first)")
    return files, commands
