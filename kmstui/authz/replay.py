"""Recorded requests for policy replay: CloudTrail KMS events (single records, JSON lines, or log files
`{"Records": [...]}`, optionally gzipped), kmstui's own audit log (CloudTrail-shaped JSON lines) and scenario
files, all turned into Requests.

`diff` evaluates each distinct request once under the current and the proposed policy: a decision depends
only on the request, and recorded traffic repeats itself, so a million lines cost a few thousand decisions.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from kmstui.authz.model import Request
from kmstui.authz.requestkeys import KEYS, keep_parameters, request_facts

_SERVICE_RE = re.compile(r"^[a-z0-9-]+\.amazonaws\.com$")
_IP_RE = re.compile(r"^[0-9a-fA-F:.]+$")


_IDENTITY_MEMO: dict[tuple, tuple[str | None, str | None, tuple]] = {}


def _principal(identity: dict) -> tuple[str | None, str | None, tuple]:
    """(principal, caller account, extra context pairs) from a CloudTrail userIdentity (memoized: a log
    repeats the same few identities)."""
    kind = identity.get("type")
    account = identity.get("accountId")
    arn = identity.get("arn")
    session = identity.get("sessionContext")
    key = (kind, account, arn, identity.get("invokedBy"),
           ((session or {}).get("sessionIssuer") or {}).get("arn") if session else None)
    hit = _IDENTITY_MEMO.get(key)
    if hit is not None:
        return hit
    extra: tuple = ()
    if kind == "AWSService":
        hit = (identity.get("invokedBy"), None, ())
    else:
        if kind == "AssumedRole" and key[4]:
            extra = (("aws:PrincipalArn", key[4]),)
        if not arn and account:
            arn = f"arn:aws:iam::{account}:root"
        hit = (arn, account, extra)
    if len(_IDENTITY_MEMO) < 65536:
        _IDENTITY_MEMO[key] = hit
    return hit


def request_from_event(rec: dict[str, Any]) -> Request | None:
    """A Request from one CloudTrail-shaped KMS event, or None when it is not a KMS call on a principal."""
    name = rec.get("eventName")
    if not name or rec.get("eventSource", "kms.amazonaws.com") != "kms.amazonaws.com":
        return None
    if rec.get("eventType") == "AwsServiceEvent":  # KMS acting on its own (rotation, deletion): no caller
        return None
    identity = rec.get("userIdentity") or {}
    principal, account, extra = _principal(identity)
    if not principal:
        return None
    context = dict(extra) if extra else {}
    params = rec.get("requestParameters") or {}
    key_arn = None
    for res in rec.get("resources") or ():
        arn = res.get("ARN") if isinstance(res, dict) else None
        if isinstance(arn, str) and arn.startswith("arn:") and ":key/" in arn:
            key_arn = arn
            break
    if key_arn is None:
        kid = params.get("keyId") or params.get("KeyId") or params.get("sourceKeyId")
        if isinstance(kid, str) and kid.startswith("arn:") and ":key/" in kid:
            key_arn = kid
    invoked = identity.get("invokedBy")
    if invoked and identity.get("type") != "AWSService" and _SERVICE_RE.match(invoked) and rec.get("awsRegion"):
        context["kms:ViaService"] = f"{invoked.split('.')[0]}.{rec['awsRegion']}.amazonaws.com"
    ip = rec.get("sourceIPAddress")
    if ip and not invoked and isinstance(ip, str) and _is_ip(ip):
        context["aws:SourceIp"] = ip
    ec = params.get("encryptionContext") or params.get("EncryptionContext")
    grant_request = None
    if name == "CreateGrant":
        grant_request = {"GranteePrincipal": params.get("granteePrincipal"),
                         "RetiringPrincipal": params.get("retiringPrincipal"),
                         "Operations": params.get("operations") or [],
                         "Constraints": params.get("constraints") or {}}
        grant_request = {k: v for k, v in grant_request.items() if v is not None}
    role_arn = ((identity.get("sessionContext") or {}).get("sessionIssuer") or {}).get("arn") \
        if identity.get("type") == "AssumedRole" else None
    return Request(principal, "kms:" + name, key_arn, account, ec if isinstance(ec, dict) else {}, grant_request,
                   params.get("grantId"), context, [], parameters=keep_parameters(params) or None,
                   principal_role_arn=role_arn if isinstance(role_arn, str) else None)


MAX_EVENT_FILE = 64 << 20  # a CloudTrail file read whole, one JSON document, or one line of JSON lines


def cloudtrail_event(path: str | Path, event_id: str | None = None) -> dict[str, Any]:
    """One CloudTrail record from a file holding a record, a log file ({"Records": [...]}, gzipped or not) or
    JSON lines; with several KMS records, `event_id` picks one. Problems are one-line UsageErrors."""
    from kmstui.errors import UsageError

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--cloudtrail {path}: no such file")
    try:
        with _open_text(p) as fh:
            text = fh.read(MAX_EVENT_FILE + 1)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise UsageError(f"--cloudtrail {path}: cannot read ({exc})") from None
    if len(text) > MAX_EVENT_FILE:
        raise UsageError(f"--cloudtrail {path}: larger than {MAX_EVENT_FILE >> 20} MiB; extract the record first")
    records: list = []
    try:
        data = json.loads(text)
        records = data.get("Records") if isinstance(data, dict) and isinstance(data.get("Records"), list) else \
            (data if isinstance(data, list) else [data])
    except json.JSONDecodeError:
        try:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise UsageError(f"--cloudtrail {path}: not JSON or JSON lines ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise UsageError(f"--cloudtrail {path}: the JSON nests too deeply") from None
    kms = [r for r in records if isinstance(r, dict) and r.get("eventSource") == "kms.amazonaws.com"]
    if event_id is not None:
        kms = [r for r in kms if r.get("eventID") == event_id]
        if not kms:
            raise UsageError(f"--cloudtrail {path}: no KMS record with eventID {event_id}")
    if not kms:
        raise UsageError(f"--cloudtrail {path}: no KMS record (eventSource kms.amazonaws.com) in the file")
    if len(kms) > 1:
        raise UsageError(f"--cloudtrail {path}: {len(kms)} KMS records; pick one with --event-id")
    return kms[0]


_IP_MEMO: dict[str, bool] = {}


def _is_ip(value: str) -> bool:
    hit = _IP_MEMO.get(value)
    if hit is None:
        hit = bool(_IP_RE.match(value)) and any(c.isdigit() for c in value)
        if len(_IP_MEMO) < 65536:
            _IP_MEMO[value] = hit
    return hit


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, "r", encoding="utf-8")


def iter_requests(path: str | Path, *, on_error: Callable[[str], None] | None = None) -> Iterator[Request]:
    """Every request recorded in a file: JSON lines (each an event, a `{"Records": [...]}` log document or a
    scenario), or one JSON document spread over several lines (a list, a log file, a scenario file).
    Entries that are not KMS events with a caller are skipped and reported through on_error."""
    p = Path(path)
    with _open_text(p) as fh:
        def readline() -> str:
            line = fh.readline(MAX_EVENT_FILE + 1)
            if len(line) > MAX_EVENT_FILE:
                raise ValueError(f"{p}: a line is longer than {MAX_EVENT_FILE >> 20} MiB, the bound for one event "
                                 "or log document (see docs/inputs.md)")
            return line

        head = readline()
        while head and not head.strip():
            head = readline()
        try:
            first = json.loads(head) if head else None
        except json.JSONDecodeError:
            fh.seek(0)
            text = fh.read(MAX_EVENT_FILE + 1)
            if len(text) > MAX_EVENT_FILE:
                raise ValueError(f"{p}: a JSON document larger than {MAX_EVENT_FILE >> 20} MiB (see docs/inputs.md); "
                                 "give JSON lines, one event per line, which have no size bound") from None
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{p}: neither JSON lines nor a JSON document ({exc.msg} at line {exc.lineno})") from None
            yield from _from_document(doc, p, on_error)
            return
        if first is None:
            return
        loads = json.loads
        convert = request_from_event
        lineno = 1
        rec: Any = first
        while True:
            if isinstance(rec, dict) and "eventName" in rec:
                req = convert(rec)
                if req is not None:
                    yield req
                elif on_error:
                    on_error(f"{p}:{lineno}: not a KMS event with a caller; skipped")
            elif rec is not None:
                yield from _from_document(rec, p, on_error)
            line = readline()
            if not line:
                return
            lineno += 1
            if not line.strip():
                rec = None
                continue
            try:
                rec = loads(line)
            except json.JSONDecodeError as exc:
                rec = None
                if on_error:
                    on_error(f"{p}:{lineno}: not JSON ({exc.msg}); skipped")


def _from_document(doc: Any, p: Path, on_error) -> Iterator[Request]:
    from kmstui.authz.scenarios import from_dict

    items = doc.get("Records") if isinstance(doc, dict) and "Records" in doc else doc
    items = items if isinstance(items, list) else [items]
    for i, item in enumerate(items):
        if isinstance(item, dict) and "request" in item:
            yield from_dict(item, f"{p}[{i}]", p.parent).request
            continue
        req = request_from_event(item) if isinstance(item, dict) else None
        if req is None:
            if on_error:
                on_error(f"{p}[{i}]: not a KMS event with a caller; skipped")
            continue
        yield req


def request_key(r: Request) -> tuple:
    """A hashable identity of everything a decision depends on."""
    ctx = r.context
    return (r.principal, r.caller_account, r.action, r.key_arn,
            tuple(r.encryption_context.items()) if r.encryption_context else None,
            tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in ctx.items()) if ctx else None,
            r.target_grant_id,
            json.dumps(r.grant_request, sort_keys=True) if r.grant_request is not None else None,
            json.dumps(r.parameters, sort_keys=True, default=str) if r.parameters else None, r.principal_role_arn)


_VAR_KEY = re.compile(r"\$\{([^},]+)")


def projection(policies: Iterable[Any], grants: Any = None) -> Callable[[Request], tuple]:
    """A key function like request_key, but keeping only what the given compiled policies can observe:
    the condition keys their statements (and policy variables) read, the encryption-context values those
    keys name (and the context's key names for kms:EncryptionContextKeys), and the whole context when
    grants (whose constraints see all of it) are involved. Two
    requests with the same projection get the same decision under these policies, so a replay of
    high-cardinality traffic (a context value per object) still evaluates each shape once."""
    keys: set[str] = set()
    for policy in policies:
        for st in policy.statements:
            for c in st.conditions:
                keys.add(c.lkey)
                for v in c.values:
                    if isinstance(v, str) and "${" in v:
                        keys.update(m.strip().lower() for m in _VAR_KEY.findall(v))
            for r in st.resources:
                keys.update(m.strip().lower() for m in _VAR_KEY.findall(r))
    whole_context = bool(grants)  # grant constraints compare the whole context
    ec_key_names = "kms:encryptioncontextkeys" in keys
    ec_names = sorted(k[len("kms:encryptioncontext:"):] for k in keys if k.startswith("kms:encryptioncontext:"))
    given_names = sorted(keys)
    # keys read from the call's parameters or the role behind a session: their derived values count
    derived = frozenset(k for k in keys if k in KEYS or k.startswith(("aws:requesttag/", "aws:resourcetag/"))
                        or k == "aws:principalarn")

    def key(r: Request) -> tuple:
        ec = r.encryption_context
        if whole_context:
            ec_part: Any = tuple(ec.items()) if ec else None
        elif ec and (ec_names or ec_key_names):
            # the first pair whose key matches case-insensitively, as RequestContext picks it
            ec_part = (tuple(next((v for k, v in ec.items() if k.lower() == n), None) for n in ec_names),
                       tuple(ec) if ec_key_names else None)
        else:
            ec_part = None
        ctx = r.context
        if ctx:
            low_ctx = {k.lower(): v for k, v in ctx.items()}
            ctx_part: Any = tuple((lambda v: tuple(v) if isinstance(v, list) else v)(low_ctx.get(n)) for n in given_names)
        else:
            ctx_part = None
        return (r.principal, r.caller_account, r.action, r.key_arn, ec_part, ctx_part, r.target_grant_id,
                json.dumps(r.grant_request, sort_keys=True) if r.grant_request is not None else None,
                request_facts(r, derived) if derived and (r.parameters or r.principal_role_arn) else None)

    return key


def statements_differ(current, proposed) -> Callable[[str], bool]:
    """For compiled key policies: a predicate telling whether the statements that can apply to an action
    differ between the two. Where they do not, no decision for that action can change."""
    memo: dict[str, bool] = {}

    def raw(policy, action: str) -> tuple:
        deny, allow = policy.for_action(action)
        return tuple(json.dumps(s.raw, sort_keys=True) for s in deny + allow)

    same_version = current.version == proposed.version

    def differ(action: str) -> bool:
        hit = memo.get(action)
        if hit is None:
            hit = memo[action] = not same_version or raw(current, action) != raw(proposed, action)
        return hit

    return differ


@dataclass
class Change:
    request: Request
    before: Any  # Decision
    after: Any  # Decision
    count: int  # how many recorded requests had this shape


def diff(requests: Iterable[Request], before: Callable[[Request], Any], after: Callable[[Request], Any], *,
         relevant: Callable[[Request], bool] | None = None,
         both: Callable[[Request], tuple[bool, bool]] | None = None,
         key: Callable[[Request], tuple] = request_key) -> tuple[list[Change], int, int]:
    """Requests whose decision differs between `before` and `after` (functions Request -> Decision).
    `relevant(request)` False means the decision cannot change (see statements_differ), so it is not
    evaluated; `both(request)` -> (allowed before, allowed after) is a fast path (engine.allowed_under),
    after which before/after run only for the requests that change, for their reasons and traces.
    `key` groups requests that must get the same decision (request_key, or a projection()).
    Returns (changes in first-seen order, total requests, distinct request shapes)."""
    seen: dict[tuple, Any] = {}
    changes: list[Change] = []
    total = 0
    key_of = key
    for r in requests:
        total += 1
        k = key_of(r)
        slot = seen.get(k)
        if slot is None:
            if relevant is not None and not relevant(r):
                seen[k] = False
                continue
            if both is not None:
                b_ok, a_ok = both(r)
                if b_ok == a_ok:
                    seen[k] = False
                    continue
            b = before(r)
            a = after(r)
            if b.allowed != a.allowed:
                slot = Change(r, b, a, 1)
                changes.append(slot)
                seen[k] = slot
            else:
                seen[k] = False
        elif slot is not False:
            slot.count += 1
    return changes, total, len(seen)
