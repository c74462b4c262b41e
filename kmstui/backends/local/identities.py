"""IAM users' access keys, IAM roles (their trust policies) and STS session credentials of the local HSM:
the identities `kmstui serve` authenticates requests against, shaped like IAM's and STS's answers.

Access keys belong to IAM users of the HSM's account (or, as AWS allows and advises against, to the
account root). The secret access key is sealed (AES-256-GCM under a root-derived key, bound to the key id)
inside the row's document, and the row carries its MAC like every other row, so the file alone yields no
usable secret. An access key may be issued "as service S on behalf of" its user (`ViaService`): requests
signed with it carry kms:ViaService=S and aws:ViaAWSService=true, as AWS sets them when a service calls KMS
for a principal, so policies that use these keys can be tested honestly.

Roles are reached only through AssumeRole, decided by the role's trust policy (and, where the trust policy
delegates to the account, the caller's identity policies) in the one authorization engine. Session
credentials are not stored: the session token is the session itself (role, session name, expiry, secret,
session policy), sealed under a root-derived key, so it cannot be forged or extended and stops working when
it expires or when the HSM is re-keyed.
"""

from __future__ import annotations

import base64
import json
import os
import re
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kmstui.backends.local.core import LocalCore, operation, ts
from kmstui.errors import (LimitExceededException, MalformedPolicyDocumentException, NotFoundException,
                           PackedPolicyTooLarge, ValidationException)

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# Patterns (matched with re.ASCII), compiled by `re` when first used rather than at every command's start-up.
USER_NAME = r"^[\w+=,.@-]{1,64}\Z"
ROLE_NAME = r"^[\w+=,.@-]{1,64}\Z"
VIA_SERVICE = r"^[a-z0-9][a-z0-9-]*\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\Z"
ACCESS_KEY_ID = r"^(AKIA|ASIA)[A-Z2-7]{16}\Z"
MAX_KEYS_PER_USER = 2  # IAM's quota AccessKeysPerUser
MAX_TRUST_POLICY = 2048  # IAM's default quota for a role trust policy (characters)
DEFAULT_MAX_SESSION = 3600
MAX_SESSION_TOKEN = 8192  # characters: the largest session token `open_session` reads (and AssumeRole issues)


def new_id(prefix: str, length: int = 16) -> str:
    """An IAM-style identifier: AKIA/ASIA access key ids, AIDA user ids, AROA role ids."""
    import secrets  # here: secrets loads random, which an ordinary command's start-up skips

    return prefix + "".join(secrets.choice(_B32) for _ in range(length))


def new_secret() -> str:
    """A 40-character secret access key, from the alphabet AWS uses."""
    return base64.b64encode(os.urandom(30)).decode()


class IdentitiesMixin(LocalCore):
    # -- sealing -----------------------------------------------------------------------------------
    def _identity_aead(self) -> AESGCM:
        aead = getattr(self, "_id_aead", None)
        if aead is None:
            import hmac
            from hashlib import sha256

            aead = self._id_aead = AESGCM(hmac.new(self._keys.mac, b"kmstui/identities-key", sha256).digest())
        return aead

    def _seal_text(self, text: str, aad: str) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._identity_aead().encrypt(nonce, text.encode(), aad.encode())).decode()

    def _open_text(self, blob: str, aad: str) -> str | None:
        try:
            raw = base64.b64decode(blob, validate=True)
            return self._identity_aead().decrypt(raw[:12], raw[12:], aad.encode()).decode()
        except (InvalidTag, ValueError, TypeError):
            return None

    # -- principals --------------------------------------------------------------------------------
    def user_arn(self, user_name: str | None) -> str:
        return self.root_arn if user_name is None else f"arn:aws:iam::{self.account_id}:user/{user_name}"

    def role_arn(self, role_name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{role_name}"

    def _check_user(self, user_name: Any) -> str | None:
        if user_name is None:
            return None
        if not isinstance(user_name, str) or not re.match(USER_NAME, user_name, re.ASCII):
            raise ValidationException("UserName must be 1-64 of letters, digits and +=,.@_-")
        return user_name

    # -- access keys -------------------------------------------------------------------------------
    def _key_rows(self, principal: str | None) -> list[dict[str, Any]]:
        if principal is None:
            rows = self.store.conn.execute("SELECT access_key_id, doc, mac FROM access_keys ORDER BY principal, rowid")
        else:
            rows = self.store.conn.execute("SELECT access_key_id, doc, mac FROM access_keys WHERE principal=? "
                                           "ORDER BY rowid", (principal,))
        return [self.store.open_doc("access_keys", kid, doc, mac) for kid, doc, mac in rows.fetchall()]

    @operation("CreateAccessKey", source="iam.amazonaws.com")
    def create_access_key(self, *, UserName: str | None = None, ViaService: str | None = None) -> dict:
        """IAM CreateAccessKey (plus kmstui's ViaService). The only answer that ever holds the secret."""
        user = self._check_user(UserName)
        if ViaService is not None and (not isinstance(ViaService, str)
                                       or not re.match(VIA_SERVICE, ViaService, re.ASCII)):
            raise ValidationException("ViaService must be a service endpoint name such as s3.us-east-1.amazonaws.com")
        self._authorize("iam:CreateAccessKey")
        principal = self.user_arn(user)
        with self.store.transaction() as conn:
            existing = self._key_rows(principal)
            if len(existing) >= MAX_KEYS_PER_USER:
                raise LimitExceededException(
                    f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER} (delete one with "
                    "'iam delete-access-key' first)")
            user_id = existing[0]["UserId"] if existing else (self.account_id if user is None else new_id("AIDA", 17))
            key_id, secret, now = new_id("AKIA"), new_secret(), self.clock()
            doc = {"AccessKeyId": key_id, "UserName": user, "PrincipalArn": principal, "UserId": user_id,
                   "Status": "Active", "CreateDate": now, "ViaService": ViaService,
                   "Secret": self._seal_text(secret, f"kmstui-access-key\0{key_id}")}
            payload, mac = self.store.seal_doc("access_keys", key_id, doc)
            conn.execute("INSERT INTO access_keys(access_key_id, principal, doc, mac) VALUES (?,?,?,?)",
                         (key_id, principal, payload, mac))
        return {"AccessKey": {**self._key_metadata(doc), "SecretAccessKey": secret}}

    def _key_metadata(self, doc: dict[str, Any]) -> dict[str, Any]:
        out = {"UserName": doc["UserName"] or "root", "AccessKeyId": doc["AccessKeyId"], "Status": doc["Status"],
               "CreateDate": ts(doc["CreateDate"])}
        if doc.get("ViaService"):
            out["ViaService"] = doc["ViaService"]
        return out

    @operation("ListAccessKeys", read_only=True, source="iam.amazonaws.com")
    def list_access_keys(self, *, UserName: str | None = None, AllUsers: bool = False) -> dict:
        """IAM ListAccessKeys: the user's keys (the root's without UserName, as IAM does for root
        credentials); AllUsers lists every key in the file (kmstui's addition for the operator)."""
        user = self._check_user(UserName)
        self._authorize("iam:ListAccessKeys")
        docs = self._key_rows(None if AllUsers and user is None else self.user_arn(user))
        return {"AccessKeyMetadata": [self._key_metadata(d) for d in docs], "IsTruncated": False}

    @operation("DeleteAccessKey", source="iam.amazonaws.com")
    def delete_access_key(self, *, AccessKeyId: str, UserName: str | None = None) -> dict:
        user = self._check_user(UserName)
        if not isinstance(AccessKeyId, str) or not re.match(ACCESS_KEY_ID, AccessKeyId, re.ASCII):
            raise ValidationException("AccessKeyId must be an access key id (AKIA followed by 16 characters)")
        self._authorize("iam:DeleteAccessKey")
        with self.store.transaction() as conn:
            cur = conn.execute("DELETE FROM access_keys WHERE access_key_id=? AND principal=?",
                               (AccessKeyId, self.user_arn(user)))
            if cur.rowcount == 0:
                raise NotFoundException(f"The Access Key with id {AccessKeyId} cannot be found"
                                        + ("" if user else " for the account root (give --user-name)"))
        self.store.forget("access_keys", AccessKeyId)
        return {}

    def access_key(self, access_key_id: str) -> tuple[dict[str, Any], str] | None:
        """(the key's verified document, its secret) for request authentication; None when unknown. Not an
        API operation: `kmstui serve` calls it for every signed request, so it is neither audited nor
        authorized (the request it authenticates is)."""
        with self._lock:
            row = self.store.conn.execute("SELECT doc, mac FROM access_keys WHERE access_key_id=?",
                                          (access_key_id,)).fetchone()
            if row is None:
                return None
            doc = self.store.open_doc("access_keys", access_key_id, row[0], row[1])
        secret = self._open_text(doc["Secret"], f"kmstui-access-key\0{access_key_id}")
        if secret is None:
            from kmstui.errors import KMSInternalException

            raise KMSInternalException(f"integrity check failed for the sealed secret of access key {access_key_id} "
                                       f"in {self.path}: the HSM file was modified outside kmstui")
        return doc, secret

    # -- roles -------------------------------------------------------------------------------------
    def role(self, role_name: str) -> dict[str, Any] | None:
        """A role's verified document (RoleName, RoleId, Arn, trust policy, MaxSessionDuration), or None."""
        with self._lock:
            row = self.store.conn.execute("SELECT doc, mac FROM iam_roles WHERE role_arn=?",
                                          (self.role_arn(role_name),)).fetchone()
            return None if row is None else self.store.open_doc("iam_roles", self.role_arn(role_name), row[0], row[1])

    @staticmethod
    def trust_policy_document(text: str) -> dict[str, Any]:
        """A trust policy as the engine reads it: statements without Resource apply to the role itself."""
        doc = json.loads(text)
        statements = doc.get("Statement")
        statements = statements if isinstance(statements, list) else [statements]
        fixed = [dict(s, Resource="*") if isinstance(s, dict) and "Resource" not in s and "NotResource" not in s
                 else s for s in statements]
        return {**doc, "Statement": fixed}

    @operation("UpdateAssumeRolePolicy", source="iam.amazonaws.com")
    def put_role_trust_policy(self, *, RoleName: str, PolicyDocument: str, MaxSessionDuration: int | None = None) -> dict:
        """Create the role if needed and set its trust policy (IAM's CreateRole / UpdateAssumeRolePolicy)."""
        from kmstui.authz import PolicyError, compile_policy

        if not isinstance(RoleName, str) or not re.match(ROLE_NAME, RoleName, re.ASCII):
            raise ValidationException("RoleName must be 1-64 of letters, digits and +=,.@_-")
        if not isinstance(PolicyDocument, str) or len(PolicyDocument) > MAX_TRUST_POLICY:
            raise MalformedPolicyDocumentException(f"the trust policy must be JSON text of at most {MAX_TRUST_POLICY} "
                                                   "characters")
        if MaxSessionDuration is not None and (not isinstance(MaxSessionDuration, int) or isinstance(MaxSessionDuration, bool)
                                               or not 3600 <= MaxSessionDuration <= 43200):
            raise ValidationException("MaxSessionDuration must be between 3600 and 43200 seconds")
        try:
            compile_policy(self.trust_policy_document(PolicyDocument), "key", "trust-policy")
        except (ValueError, AttributeError, PolicyError) as exc:
            raise MalformedPolicyDocumentException(f"the trust policy is malformed: {exc}") from None
        self._authorize("iam:UpdateAssumeRolePolicy")
        arn = self.role_arn(RoleName)
        with self.store.transaction() as conn:
            old = self.role(RoleName)
            doc = {"RoleName": RoleName, "Arn": arn, "RoleId": old["RoleId"] if old else new_id("AROA", 17),
                   "CreateDate": old["CreateDate"] if old else self.clock(), "AssumeRolePolicyDocument": PolicyDocument,
                   "MaxSessionDuration": MaxSessionDuration or (old or {}).get("MaxSessionDuration", DEFAULT_MAX_SESSION)}
            payload, mac = self.store.seal_doc("iam_roles", arn, doc)
            conn.execute("INSERT OR REPLACE INTO iam_roles(role_arn, doc, mac) VALUES (?,?,?)", (arn, payload, mac))
        return {"Role": self._role_out(doc)}

    @staticmethod
    def _role_out(doc: dict[str, Any]) -> dict[str, Any]:
        return {"RoleName": doc["RoleName"], "RoleId": doc["RoleId"], "Arn": doc["Arn"], "Path": "/",
                "CreateDate": ts(doc["CreateDate"]), "AssumeRolePolicyDocument": doc["AssumeRolePolicyDocument"],
                "MaxSessionDuration": doc["MaxSessionDuration"]}

    @operation("GetRole", read_only=True, source="iam.amazonaws.com")
    def get_role(self, *, RoleName: str) -> dict:
        self._authorize("iam:GetRole")
        doc = self.role(RoleName) if isinstance(RoleName, str) else None
        if doc is None:
            raise NotFoundException(f"The role with name {RoleName} cannot be found.")
        return {"Role": self._role_out(doc)}

    @operation("ListRoles", read_only=True, source="iam.amazonaws.com")
    def list_roles(self) -> dict:
        self._authorize("iam:ListRoles")
        rows = self.store.conn.execute("SELECT role_arn, doc, mac FROM iam_roles ORDER BY role_arn").fetchall()
        return {"Roles": [self._role_out(self.store.open_doc("iam_roles", a, d, m)) for a, d, m in rows],
                "IsTruncated": False}

    @operation("DeleteRole", source="iam.amazonaws.com")
    def delete_role(self, *, RoleName: str) -> dict:
        self._authorize("iam:DeleteRole")
        arn = self.role_arn(str(RoleName))
        with self.store.transaction() as conn:
            if conn.execute("DELETE FROM iam_roles WHERE role_arn=?", (arn,)).rowcount == 0:
                raise NotFoundException(f"The role with name {RoleName} cannot be found.")
        self.store.forget("iam_roles", arn)
        return {}

    # -- STS session credentials --------------------------------------------------------------------
    @operation("AssumeRole", source="sts.amazonaws.com")
    def assume_role(self, *, RoleArn: str, RoleSessionName: str, DurationSeconds: int = 3600,
                    Policy: str | None = None, Tags: list | None = None, SourceIdentity: str | None = None,
                    ExternalId: str | None = None, CallerIsSession: bool = False,
                    CallerSourceIdentity: str | None = None) -> dict:
        """STS AssumeRole for the current caller (checked by kmstui.server.sts first): the role's trust policy
        decides, in the authorization engine; the answer's SessionToken is the sealed session.

        ExternalId is the trust policy's sts:ExternalId. A source identity (SourceIdentity, or the calling
        session's own when chaining roles: "The value that is set persists when a role is used to assume
        another role ... [and] cannot be changed during the role session", IAM User Guide) is sts:SourceIdentity
        and needs sts:SetSourceIdentity; the new session carries it as aws:SourceIdentity."""
        if CallerSourceIdentity is not None and SourceIdentity not in (None, CallerSourceIdentity):
            raise ValidationException(f"SourceIdentity cannot be changed during a role session: this session's "
                                      f"source identity is '{CallerSourceIdentity}'")
        source = CallerSourceIdentity if CallerSourceIdentity is not None else SourceIdentity
        context = {}
        if ExternalId is not None:
            context["sts:ExternalId"] = ExternalId
        if source is not None:
            context["sts:SourceIdentity"] = source
        m = re.match(r"^arn:aws:iam::(\d{12}):role/(?:.*/)?([^/]+)$", str(RoleArn))
        role = self.role(m.group(2)) if m and m.group(1) == self.account_id else None
        if self.authorizer is not None:
            self.authorizer.authorize_assume_role(self, RoleArn, role, bool(Tags), set_source_identity=source is not None,
                                                  context=context)
        if role is None:  # only the account root reaches here without an authorizer: STS still says no
            raise NotFoundException(f"The role {RoleArn} does not exist")
        limit = 3600 if CallerIsSession else int(role["MaxSessionDuration"])
        if DurationSeconds > limit:
            raise ValidationException("The requested DurationSeconds exceeds the 1 hour session limit for roles "
                                      "assumed by role chaining." if CallerIsSession else
                                      "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        now = self.clock()
        session = {"AccessKeyId": new_id("ASIA"), "SecretAccessKey": new_secret(), "RoleArn": role["Arn"],
                   "RoleName": role["RoleName"], "RoleId": role["RoleId"], "RoleSessionName": RoleSessionName,
                   "Issued": now, "Expiration": now + DurationSeconds, "Policy": Policy,
                   "Tags": [{"Key": t["Key"], "Value": t["Value"]} for t in Tags or []],
                   "SourceIdentity": source}
        arn = f"arn:aws:sts::{self.account_id}:assumed-role/{role['RoleName']}/{RoleSessionName}"
        token = self.seal_session(session)
        if len(token) > MAX_SESSION_TOKEN:  # never hand out a token that every later request would refuse
            raise PackedPolicyTooLarge(f"Packed size of session policy and session tags consumes "
                                       f"{len(token) * 100 // MAX_SESSION_TOKEN}% of allotted space; use a smaller "
                                       "policy or fewer, shorter tags")
        out: dict[str, Any] = {
            "Credentials": {"AccessKeyId": session["AccessKeyId"], "SecretAccessKey": session["SecretAccessKey"],
                            "SessionToken": token, "Expiration": session["Expiration"]},
            "AssumedRoleUser": {"AssumedRoleId": f"{role['RoleId']}:{RoleSessionName}", "Arn": arn}}
        if Policy is not None or Tags:
            out["PackedPolicySize"] = max(1, min(100, (len(Policy or "") + 40 * len(Tags or [])) * 100 // 2048))
        if source is not None:
            out["SourceIdentity"] = source
        return out

    @operation("GetSessionToken", source="sts.amazonaws.com")
    def get_session_token(self, *, DurationSeconds: int | None = None) -> dict:
        """STS GetSessionToken for the current caller, an IAM user or the account root calling with a long-term
        access key (kmstui.server.sts refuses session credentials first). "No permissions are required for
        users to perform this operation" and the credentials "have the same permissions as the IAM user" (STS
        API reference): the session acts as the caller itself. Durations: users 900 s to 129,600 s, default
        43,200 s; "Credentials based on account credentials can range from 900 seconds (15 minutes) up to
        3,600 seconds (1 hour), with a default of 1 hour", and "If the duration is longer than one hour, the
        session for Amazon Web Services account owners defaults to one hour"."""
        identity = self._identity or {}
        root = identity.get("type") == "Root"
        if identity.get("type") not in ("Root", "IAMUser") or not str(identity.get("accessKeyId", "")).startswith("AKIA"):
            raise ValidationException("GetSessionToken needs a request signed with the long-term access key of an "
                                      "IAM user or the account root (kmstui serve)")
        seconds = 3600 if root else 43200
        if DurationSeconds is not None:
            seconds = min(int(DurationSeconds), 3600) if root else int(DurationSeconds)
        now = self.clock()
        session = {"Kind": "user", "AccessKeyId": new_id("ASIA"), "SecretAccessKey": new_secret(),
                   "PrincipalArn": self.caller, "UserName": identity.get("userName"),
                   "UserId": identity.get("principalId"), "Issued": now, "Expiration": now + seconds}
        return {"Credentials": {"AccessKeyId": session["AccessKeyId"], "SecretAccessKey": session["SecretAccessKey"],
                                "SessionToken": self.seal_session(session), "Expiration": session["Expiration"]}}

    def seal_session(self, session: dict[str, Any]) -> str:
        """A session token carrying `session` (its secret included), sealed so only this HSM opens it."""
        return self._seal_text(json.dumps(session, separators=(",", ":")), "kmstui-sts-session/1")

    def open_session(self, token: str) -> dict[str, Any] | None:
        """The session a token carries, or None when it is not one of this HSM's tokens."""
        if not isinstance(token, str) or len(token) > MAX_SESSION_TOKEN:
            return None
        text = self._open_text(token, "kmstui-sts-session/1")
        return None if text is None else json.loads(text)
