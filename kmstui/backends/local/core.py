"""Shared machinery of the local backend: identity, key lookup, sealed material, and the `operation`
decorator that writes one audit line per call (success or KMS-named failure) and applies time-based events.

The operation mixins (keys, crypto, rotation, grants, importing) build on `LocalCore`; `backend.py` puts
them together. Only the cryptographic hot path (Encrypt, GenerateDataKey, Decrypt) was tuned: key and alias
rows are answered from memory while nothing was committed to the file (Store.read_doc), unsealed material is
cached, and a successful call's audit line is serialised from prepared parts (`_encoded`).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import os
import re
import sqlite3
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmstui import audit as auditlog, callsource
from kmstui.backends.base import ALL_CAPABILITIES, Backend, BackendInfo
from kmstui.backends.local import auditing
from kmstui.backends.local import keymaterial as km
from kmstui.backends.local import rowsets
from kmstui.backends.local.seal import RootKeys
from kmstui.backends.local.store import Store
from kmstui.errors import (DisabledException, KMSInternalException, KMSInvalidStateException, KmstuiError,
                           NotFoundException, UnsupportedOperationException, ValidationException)

DAY = 86400.0
# Key references (`resolve`) and callers (`set_caller`), compiled by `re` when first used: the usual reference
# (an alias name) and the usual caller (the account root) need none of them.
_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_KEY_ARN = r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key/(.+)$"
_ALIAS_ARN = r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(alias/.+)$"
_CALLER_ARN = r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):(\w[\w-]*)"

ENABLED, DISABLED, PENDING_DELETION, PENDING_IMPORT = "Enabled", "Disabled", "PendingDeletion", "PendingImport"
_KEY_ROW = "SELECT doc, mac FROM keys WHERE key_id=?"


def ts(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc)


def epoch_of(value: Any) -> float:
    """Seconds since the epoch of a datetime, number or ISO 8601 text; without a zone it is UTC (as in AWS)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationException(f"expected a timestamp, got {value!r}") from None
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ValidationException(f"expected a timestamp, got {value!r}")


def operation(event_name: str, *, read_only: bool = False, source: str = "kms.amazonaws.com"):
    """Wrap a KMS operation: one lock per backend, one audit line per call (failures included), KMS errors
    passed through. A call that writes to the store (a change, or a due event applied on the way) writes
    its rows and its audit line in one transaction (Store.hold_commit): both commit together or neither does. A log that lost lines refuses every call
    before it runs (AuditGapError). A SQLite failure outside a write transaction (a read) becomes the
    store's KMS-named error, and parameters the operation does not take become ValidationException;
    anything else unexpected is audited with its type name and raised as it is."""

    def deco(fn: Callable[..., dict]) -> Callable[..., dict]:
        @functools.wraps(fn)
        def wrapper(self: "LocalCore", **params: Any) -> dict:
            with self._lock:
                audit, store = self.audit, self.store
                audit.check()
                self._resources = []
                self._params = params
                try:
                    if params.get("DryRun"):  # KMS's DryRun checks permissions only; a silent real call would lie
                        raise UnsupportedOperationException("DryRun is not supported by local backends; "
                                                            "use 'whatif' to check a permission")
                    if not read_only:  # a change locks the store before the log, as every process does
                        audit.end_lease()
                    with store.hold_commit():  # whatever the call writes commits with its line
                        result = fn(self, **params)
                        recorded = store.in_transaction
                        if recorded:
                            self._record(event_name, params, read_only, source, None)
                except auditlog.AuditGapError:
                    raise
                except KmstuiError as exc:
                    self._record(event_name, params, read_only, source, exc)
                    raise
                except sqlite3.Error as exc:
                    error = _sqlite_error(self, exc)
                    self._record(event_name, params, read_only, source, error)
                    raise error from None
                except TypeError as exc:
                    error = _parameter_error(fn, self, params, event_name)
                    self._record(event_name, params, read_only, source, error or exc)
                    if error is None:
                        raise
                    raise error from None
                except Exception as exc:
                    self._record(event_name, params, read_only, source, exc)
                    raise
                if not recorded:  # the call wrote nothing: its line needs no transaction
                    audit.append(self._encoded(event_name, params, read_only, source))
                return result

        wrapper.audit_name = event_name  # type: ignore[attr-defined]
        wrapper.read_only = read_only  # type: ignore[attr-defined]
        return wrapper

    return deco


def _sqlite_error(backend: "LocalCore", exc: sqlite3.Error) -> KmstuiError:
    if isinstance(exc, (sqlite3.InterfaceError, sqlite3.ProgrammingError)):  # a value SQLite cannot bind
        return ValidationException(f"a parameter has a type the operation cannot use ({exc})")
    return backend.store._failure(exc, writing=False)


def _parameter_error(fn: Callable[..., dict], backend: "LocalCore", params: dict[str, Any],
                     name: str) -> ValidationException | None:
    """ValidationException when the call's keyword arguments do not fit the operation (else None: the
    TypeError came from inside and is a bug, not the caller's mistake). The signature is read here, on
    the error path, not when the operation is defined: every command's start-up defines about 80."""
    try:
        inspect.signature(fn).bind(backend, **params)
    except TypeError as exc:
        return ValidationException(f"{name}: {exc}")
    return None


class CallFacts:
    """What a request arriving over the network carries beyond its KMS parameters (set by `kmstui serve`
    through `LocalCore.acting_as`): the caller's CloudTrail userIdentity, where it came from, the condition
    keys the request sets (aws:SourceIp, aws:SecureTransport, kms:ViaService), the session policies that
    limit an assumed-role session, and the request id the client was given."""

    __slots__ = ("identity", "source_ip", "user_agent", "request_id", "condition_context", "context_key",
                 "session_policies", "session_key")

    def __init__(self, *, identity: dict[str, Any] | None = None, source_ip: str = "local",
                 user_agent: str = "kmstui", request_id: str | None = None,
                 condition_context: dict[str, Any] | None = None, session_policies: list | None = None,
                 session_key: Any = None) -> None:
        self.identity = identity
        self.source_ip, self.user_agent, self.request_id = source_ip, user_agent, request_id
        self.condition_context = condition_context or {}
        self.context_key = tuple(sorted((k, str(v)) for k, v in self.condition_context.items()))
        self.session_policies = session_policies or []
        self.session_key = session_key  # identifies the session policies for the authorizer's memo


_LOCAL_CALL = CallFacts()


class LocalCore(Backend):
    kind = "local"
    capabilities = ALL_CAPABILITIES

    def __init__(self, store: Store, keys: RootKeys, *, profile: str = "local",
                 clock: Callable[[], float] | None = None) -> None:
        self.store = store
        self.path = store.path
        self.profile_name = profile
        self._keys = keys
        self._lock = threading.RLock()
        self._material: dict[tuple[str, int], bytes] = {}
        self._seal = AESGCM(keys.material)
        self._resources: list[str] = []
        self._params: dict[str, Any] = {}
        self.call: CallFacts = _LOCAL_CALL
        # _encoded's serialised parts: (identity, call facts, their text, requestID text, per-operation text)
        self._line_parts: tuple = (None, None, ("", ""), "", {})
        self._resource_text: dict[str, str] = {}
        self._key_ids: set[str] = set()  # references seen to be key ids (UUIDs), which resolve to themselves
        self.clock: Callable[[], float] = clock or time.time
        # Authorization hook (kmstui.authz installs one): fn(backend, action, key_doc, params) -> None or raise
        self.authorizer: Callable[..., None] | None = None
        store.set_keys(keys.mac)
        identity = _checked_identity(store)  # checks the sealed schema before anything is attached to it
        store.attach_keys(keys.mac)
        self.account_id: str = identity["AccountId"]
        self.region: str = identity["Region"]
        self.root_arn = f"arn:aws:iam::{self.account_id}:root"
        self._arn_prefix = f"arn:aws:kms:{self.region}:{self.account_id}:"
        self.audit = auditing.open_log(store, keys.audit, clock=lambda: self.clock(),
                                       context={"awsRegion": self.region, "recipientAccountId": self.account_id})
        self.set_caller(None)

    # -- identity ---------------------------------------------------------------------------------
    def set_caller(self, principal_arn: str | None) -> None:
        if principal_arn is not None and not principal_arn.startswith("arn:"):
            raise ValidationException(f"--as needs a principal ARN (arn:aws:iam::ACCOUNT:role/NAME), not {principal_arn!r}")
        self.caller_arn = principal_arn
        if principal_arn is None and len(self.account_id) == 12 and self.account_id.isdecimal():
            # the account root, as _CALLER_ARN reads its ARN (\d is a Unicode decimal digit, as isdecimal)
            self._identity = {"type": "Root", "arn": self.root_arn, "accountId": self.account_id}
            return
        arn = principal_arn or self.root_arn
        m = re.match(_CALLER_ARN, arn)
        account = m.group(1) if m else self.account_id
        kind = {"root": "Root", "user": "IAMUser", "assumed-role": "AssumedRole", "role": "Role",
                "federated-user": "FederatedUser"}.get(m.group(2) if m else "", "Unknown")
        self._identity = {"type": kind, "arn": arn, "accountId": account}

    @property
    def caller(self) -> str:
        return self.caller_arn or self.root_arn

    @contextlib.contextmanager
    def acting_as(self, principal_arn: str, facts: CallFacts):
        """Run the calls inside the block as `principal_arn`, with `facts` (a request from `kmstui serve`):
        the backend lock is held throughout, so concurrent requests never see each other's caller."""
        with self._lock:
            saved = (self.caller_arn, self._identity, self.call)
            self.set_caller(principal_arn)
            if facts.identity is not None:
                self._identity = facts.identity
            self.call = facts
            try:
                yield self
            finally:
                self.caller_arn, self._identity, self.call = saved

    def info(self) -> BackendInfo:
        return BackendInfo("local", self.profile_name, str(self.path), self.account_id, self.region, sealed=False,
                           extra={"audit_log": str(self.audit.path)})

    def key_arn(self, key_id: str) -> str:
        return self._arn_prefix + "key/" + key_id

    def alias_arn(self, name: str) -> str:
        return self._arn_prefix + name

    # -- audit ------------------------------------------------------------------------------------
    def _record(self, name: str, params: dict[str, Any], read_only: bool, source: str, exc: Exception | None) -> None:
        """Write the call's audit line: a success through `_encoded` (its constant parts serialised once), a
        failure from the event dict (`_event`); both give the same bytes for the same event."""
        if exc is None:
            auditing.append(self.store, self.audit, self._encoded(name, params, read_only, source))
        else:
            auditing.append(self.store, self.audit, self._event(name, params, read_only, source, exc))

    def _event(self, name: str, params: dict[str, Any], read_only: bool, source: str,
               exc: Exception | None) -> dict[str, Any]:
        """The CloudTrail-shaped event of a call (the audit line before kmstui's own fields)."""
        event: dict[str, Any] = {
            "eventVersion": "1.08", "userIdentity": self._identity, "eventSource": source, "eventName": name,
            "awsRegion": self.region, "sourceIPAddress": self.call.source_ip, "userAgent": self.call.user_agent,
            "requestParameters": auditlog.request_parameters(params),
            "resources": [{"accountId": self.account_id, "type": "AWS::KMS::Key", "ARN": a} for a in self._resources],
            "readOnly": read_only, "eventType": "AwsApiCall", "recipientAccountId": self.account_id,
            "additionalEventData": {"source": callsource.current()},  # a user's command or a screen read
        }
        if self.call.request_id:
            event["requestID"] = self.call.request_id
        if exc is not None:
            event["errorCode"] = exc.code if isinstance(exc, KmstuiError) else type(exc).__name__
            event["errorMessage"] = str(exc)
            decision = getattr(exc, "decision", None)
            if decision is not None:  # a denial: keep the engine's full trace (`audit show --denied`, whatif)
                event["additionalEventData"] = {"authorizationTrace": decision.trace}
        return event

    def _encoded(self, name: str, params: dict[str, Any], read_only: bool, source: str) -> auditlog.Encoded:
        """`_event(...)` of a successful call, serialised: what stays the same from call to call (the caller,
        the operation, the key's resource entry) is serialised once per caller and request, and only the
        request parameters are serialised per call."""
        cache = self._line_parts
        if cache[0] is not self._identity or cache[1] is not self.call:
            call, dumps = self.call, auditlog.dumps
            who = (f'"userIdentity":{dumps(self._identity)}', f'"awsRegion":{dumps(self.region)},"sourceIPAddress":'
                   f'{dumps(call.source_ip)},"userAgent":{dumps(call.user_agent)},"requestParameters":')
            tail = f',"requestID":{dumps(call.request_id)}' if call.request_id else ""
            cache = self._line_parts = (self._identity, call, who, tail, {})
        parts = cache[4]
        context = (name, source, read_only, callsource.current())
        outer = parts.get(context)
        if outer is None:
            dumps = auditlog.dumps
            outer = parts[context] = (
                f'{{"eventVersion":"1.08",{cache[2][0]},"eventSource":{dumps(source)},"eventName":{dumps(name)},'
                f'{cache[2][1]}',
                f',"readOnly":{dumps(read_only)},"eventType":"AwsApiCall","recipientAccountId":'
                f'{dumps(self.account_id)},"additionalEventData":{dumps({"source": context[3]})}{cache[3]}')
        arns = self._resources
        resources = (self._resource_json(arns[0]) if len(arns) == 1
                     else ",".join([self._resource_json(arn) for arn in arns]))
        return auditlog.Encoded(f'{outer[0]}{auditlog.request_parameters_json(params)},'
                                f'"resources":[{resources}]{outer[1]}', bool(cache[3]), not read_only)

    def _resource_json(self, arn: str) -> str:
        text = self._resource_text.get(arn)
        if text is None:
            if len(self._resource_text) > 4096:
                self._resource_text.clear()
            text = self._resource_text[arn] = auditlog.dumps(
                {"accountId": self.account_id, "type": "AWS::KMS::Key", "ARN": arn})
        return text

    def _record_service(self, name: str, key_id: str, extra: dict[str, Any] | None = None) -> None:
        """A KMS-initiated event (deletion at the end of its window, automatic rotation, material expiry),
        written in the transaction that applies it."""
        auditing.append(self.store, self.audit, {
            "eventVersion": "1.08", "userIdentity": {"accountId": self.account_id, "invokedBy": "kms.amazonaws.com"},
            "eventSource": "kms.amazonaws.com", "eventName": name, "awsRegion": self.region,
            "requestParameters": None, "additionalEventData": {"keyId": self.key_arn(key_id), **(extra or {})},
            "resources": [{"accountId": self.account_id, "type": "AWS::KMS::Key", "ARN": self.key_arn(key_id)}],
            "readOnly": False, "eventType": "AwsServiceEvent", "recipientAccountId": self.account_id,
        })

    def audit_anchor(self) -> auditlog.Anchor | None:
        """The head sealed in the file (None when its row is missing), after anchoring this process's lines."""
        with contextlib.suppress(auditlog.AuditGapError):
            self.audit.flush()
        return auditing.sealed_head(self.store)

    def acknowledge_audit_gap(self, reason: str | None = None) -> dict[str, Any] | None:
        """`audit acknowledge-gap`: record the log's missing lines in the chain (an AcknowledgeAuditGap event
        with what was sealed and where the log ends) and seal the head there; None when nothing is missing."""
        with self._lock:
            event = self.audit.service_event("AcknowledgeAuditGap", {})
            event["userIdentity"] = {"type": "LocalUser", "userName": auditing.local_user()}
            event["eventType"] = "KmstuiHsmCommand"
            event["requestParameters"] = {"reason": reason} if reason else None
            return auditing.acknowledge(self.store, self.audit, event)

    def verify_audit(self) -> dict[str, Any]:
        """Check the whole audit log against its chain, its MACs and the head sealed in this file."""
        with self._lock:
            anchor = self.audit_anchor()
            report = auditlog.verify(self.audit.path, self._keys.audit,
                                     anchor or auditlog.Anchor(0, auditlog.GENESIS))
            if anchor is None and report["Valid"]:
                report.update(Valid=False, BrokenAtLine=report["Lines"] + 1,
                              Problem="the HSM file's sealed audit head is missing (its row was deleted)")
            return report

    def close(self) -> None:
        with self._lock:
            self.audit.close()
            self._material.clear()
            km.forget_cached()  # cached AES and private key objects hold key material
            self.store.close()

    # -- key references ---------------------------------------------------------------------------
    def resolve(self, ref: Any, *, allow_alias: bool = True) -> str:
        """Key id, key ARN, alias name or alias ARN -> key id (NotFoundException when unknown)."""
        if not isinstance(ref, str) or not ref:
            raise ValidationException("KeyId is required (a key id, key ARN, alias name or alias ARN)")
        if allow_alias and ref.startswith("alias/"):  # the usual reference; none of the patterns matches it
            return self._aliased_key(ref)
        if re.match(_UUID, ref):
            if len(self._key_ids) > 4096:
                self._key_ids.clear()
            self._key_ids.add(ref)  # the next `_key` for it skips the pattern
            return ref
        m = re.match(_KEY_ARN, ref)
        if m:
            if (m.group(1), m.group(2)) != (self.region, self.account_id) or not re.match(_UUID, m.group(3)):
                raise NotFoundException(f"key '{ref}' is not in this HSM (account {self.account_id}, region {self.region})")
            return m.group(3)
        name = ref
        m = re.match(_ALIAS_ARN, ref)
        if m:
            if (m.group(1), m.group(2)) != (self.region, self.account_id):
                raise NotFoundException(f"alias '{ref}' is not in this HSM (account {self.account_id}, region {self.region})")
            name = m.group(3)
        if name.startswith("alias/") and allow_alias:
            return self._aliased_key(name)
        if not allow_alias:  # CreateGrant, ListGrants, RetireGrant, RevokeGrant: AWS takes no alias there either
            raise NotFoundException(f"invalid key reference '{ref}': this operation takes a key id or key ARN, "
                                    "not an alias")
        raise NotFoundException(f"invalid key reference '{ref}': give a key id, key ARN, alias/NAME or alias ARN")

    def _aliased_key(self, name: str) -> str:
        """The key id an alias name points at (NotFoundException when there is no such alias)."""
        alias = self.store.read_doc("aliases", name, "SELECT doc, mac FROM aliases WHERE name=?")
        if alias is None:
            raise NotFoundException(f"alias '{name}' does not exist")
        return alias["TargetKeyId"]

    def _load(self, key_id: str) -> dict[str, Any]:
        doc = self.store.read_doc("keys", key_id, _KEY_ROW)
        if doc is None:
            raise NotFoundException(f"key '{self.key_arn(key_id)}' does not exist")
        return doc

    def _key(self, ref: Any, action: str | None = None, *, usable: bool = False, allow_alias: bool = True) -> dict[str, Any]:
        """Load a key's verified metadata, apply any due event, check its state and authorise the caller."""
        key_id = ref if type(ref) is str and ref in self._key_ids else self.resolve(ref, allow_alias=allow_alias)
        doc = self.store.read_doc("keys", key_id, _KEY_ROW)
        if doc is None:
            raise NotFoundException(f"key '{self.key_arn(key_id)}' does not exist")
        due = doc.get("Due")
        if due is not None:
            now = self.clock()
            if due <= now:
                self._apply_events(key_id, now)
                doc = self._load(key_id)
        self._resources.append(self._arn_prefix + "key/" + key_id)
        if self.authorizer is not None and action is not None:
            self.authorizer(self, action, doc, self._params)
        if usable:
            self._check_usable(doc)
        return doc

    def _authorize(self, action: str, doc: dict[str, Any] | None = None) -> None:
        """Authorize an operation on no key (CreateKey, ListKeys, GenerateRandom, ...); keyed ones go
        through `_key`."""
        if self.authorizer is not None:
            self.authorizer(self, action, doc, self._params)

    def _authz_changed(self, doc: dict[str, Any]) -> None:
        """Bump the key's AuthzRev (inside the caller's transaction) after a change to its policy or grants:
        the authorizer's cached inputs for the key are rebuilt, here and in every other process, because
        every call sees the key row as committed (Store.read_doc)."""
        changed = copy.deepcopy(doc)
        changed["AuthzRev"] = int(doc.get("AuthzRev", 0)) + 1
        self._save(changed)

    def _check_usable(self, doc: dict[str, Any]) -> None:
        state = doc["KeyState"]
        if state == ENABLED:
            return
        arn = self.key_arn(doc["KeyId"])
        if state == DISABLED:
            raise DisabledException(f"key '{arn}' is disabled; enable it with 'key enable'")
        if state == PENDING_DELETION:
            raise KMSInvalidStateException(f"key '{arn}' is pending deletion; cancel the deletion to use it")
        raise KMSInvalidStateException(f"key '{arn}' is in state {state} and cannot be used")

    def _save(self, doc: dict[str, Any], *, new: bool = False) -> None:
        """Write a key's metadata (inside a transaction) with its MAC and the due-time index columns.
        A rotation counts as due only while the key is Enabled (KMS does not rotate disabled keys)."""
        rot = doc["Rotation"]
        rotation_due = rot.get("Next") if rot.get("Enabled") and doc["KeyState"] == ENABLED else None
        doc["Due"] = min((t for t in (doc.get("DeletionDate"), rotation_due, doc.get("ValidTo")) if t is not None),
                         default=None)
        payload, mac = self.store.seal_doc("keys", doc["KeyId"], doc)
        values = (doc.get("DeletionDate"), rotation_due, doc.get("ValidTo"), payload, mac, doc["KeyId"])
        if new:
            self.store.conn.execute(
                "INSERT INTO keys(deletion_due, rotation_due, expiry_due, doc, mac, key_id, created) "
                "VALUES (?,?,?,?,?,?,?)", (*values, doc["CreationDate"]))
        else:
            self.store.conn.execute(
                "UPDATE keys SET deletion_due=?, rotation_due=?, expiry_due=?, doc=?, mac=? WHERE key_id=?", values)

    def _mutable(self, ref: Any, action: str) -> dict[str, Any]:
        """A private copy of a key's metadata to change; call inside a transaction, then `_save`."""
        return copy.deepcopy(self._key(ref, action))

    # -- sealed material --------------------------------------------------------------------------
    def _put_material(self, key_id: str, version: int, material: bytes) -> None:
        nonce = os.urandom(12)
        aad = f"kmstui-material\0{key_id}\0{version}".encode()
        sealed = nonce + self._seal.encrypt(nonce, material, aad)
        self.store.conn.execute("INSERT OR REPLACE INTO material(key_id, version, created, sealed) VALUES (?,?,?,?)",
                                (key_id, version, self.clock(), sealed))

    def _get_material(self, key_id: str, version: int) -> bytes | None:
        cached = self._material.get((key_id, version))
        if cached is not None:
            return cached
        row = self.store.conn.execute("SELECT sealed FROM material WHERE key_id=? AND version=?",
                                      (key_id, version)).fetchone()
        if row is None:
            return None
        sealed = bytes(row[0])
        try:
            material = self._seal.decrypt(sealed[:12], sealed[12:], f"kmstui-material\0{key_id}\0{version}".encode())
        except InvalidTag:
            raise KMSInternalException(
                f"integrity check failed for the sealed material of key '{self.key_arn(key_id)}' (version {version}) "
                f"in {self.path}: the HSM file was modified outside kmstui; refusing to use it") from None
        if len(self._material) > 8192:
            self._material.clear()
        self._material[(key_id, version)] = material
        return material

    def _drop_material(self, key_id: str) -> None:
        self.store.conn.execute("DELETE FROM material WHERE key_id=?", (key_id,))
        for k in [k for k in self._material if k[0] == key_id]:
            del self._material[k]

    def _spec(self, doc: dict[str, Any]) -> km.Spec:
        return km.SPECS[doc["KeySpec"]]

    # -- time-based events (overridden by the rotation mixin) -----------------------------------------
    def _apply_events(self, key_id: str, now: float) -> None:
        raise NotImplementedError


def _checked_identity(store: Store) -> dict[str, Any]:
    """The sealed identity (account, region), after the sealed-schema and row-count checks. Every file gets
    both at creation, so a missing one is tampering, never a reason to fall back to a default account. A
    file made before the row-set or schema record existed gets one now (its identity row then says so, so
    deleting the record later is caught)."""
    identity = store.meta_doc("identity")
    if not isinstance(identity, dict) or not identity.get("AccountId") or not identity.get("Region"):
        raise KMSInternalException(
            f"integrity check failed for {store.path}: its sealed identity (account and region) is missing; the "
            "HSM file was modified outside kmstui (restore it from a backup)")
    identity = store.check_sealed_schema(identity)
    if store.meta_raw(rowsets.META_NAME) is None and not identity.get("RowSets"):
        with store.transaction():
            store.reseal_rowsets()
            identity = {**identity, "RowSets": 1}
            store.set_meta_doc("identity", identity)
    store.check_row_counts()
    return identity


audit_path = auditing.audit_path
