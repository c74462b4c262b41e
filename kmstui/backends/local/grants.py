"""Grant and IAM-policy storage of the local backend, in the shapes KMS and IAM use.

This module stores and lists; deciding what a grant or an identity policy allows is the authorization
engine's job (kmstui.authz, through `backend.authorizer`), so a what-if scenario and a real call agree.
Grant tokens are opaque: the grant id plus a MAC, so a token cannot be forged or moved to another file.
"""

from __future__ import annotations

import base64
import hmac
import os
import re
from typing import Any

from kmstui.authz.grants import validate_grant_request
from kmstui.authz.local import check_identity_policy
from kmstui.backends.local.core import LocalCore, operation, ts
from kmstui.errors import (InvalidGrantIdException, InvalidGrantTokenException,
                           NotFoundException, ValidationException)

_GRANT_ID = r"^[0-9a-f]{64}$"  # compiled by `re` when first used
_CONSTRAINTS = ("EncryptionContextEquals", "EncryptionContextSubset")


class GrantsMixin(LocalCore):
    # -- tokens -----------------------------------------------------------------------------------
    def _token_for(self, grant_id: str) -> str:
        """Standard base64 (as AWS's tokens look), never starting with '-': a token is typed after
        `--grant-token`, and argparse would take a leading '-' for an option (the URL-safe alphabet did so for
        one token in 64)."""
        tag = self.store.mac("grant-token", grant_id, b"")[:16]
        return base64.b64encode(bytes.fromhex(grant_id) + tag).decode().rstrip("=")

    def grant_id_from_token(self, token: Any) -> str:
        """The grant id a token names; InvalidGrantTokenException if it is not one of this file's tokens."""
        try:
            text = str(token).replace("-", "+").replace("_", "/")  # tokens issued in the URL-safe alphabet
            raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (ValueError, TypeError):
            raw = b""
        if len(raw) != 48:
            raise InvalidGrantTokenException("the grant token is not valid")
        grant_id = raw[:32].hex()
        if not hmac.compare_digest(self.store.mac("grant-token", grant_id, b"")[:16], raw[32:]):
            raise InvalidGrantTokenException("the grant token is not valid")
        return grant_id

    # -- reading ----------------------------------------------------------------------------------
    def _grant_rows(self, where: str, args: tuple) -> list[dict[str, Any]]:
        rows = self.store.conn.execute(f"SELECT grant_id, doc, mac FROM grants WHERE {where} ORDER BY rowid", args)
        return [self.store.open_doc("grants", gid, doc, mac) for gid, doc, mac in rows.fetchall()]

    def grants_for_key(self, key_id: str) -> list[dict[str, Any]]:
        """Verified grants on a key as stored (epoch CreationDate), for the authorization engine."""
        return self._grant_rows("key_id=?", (key_id,))

    def grants_for_grantee(self, key_id: str, principals: list[str],
                           role: tuple[str, str] | None = None) -> list[dict[str, Any]]:
        """Verified grants on a key to any of `principals` (or, with role=(account, name), to that role
        under any path): what the authorization engine needs for one caller, without reading every grant."""
        where = f"key_id=? AND (grantee IN ({','.join('?' * len(principals))})"
        args: list[Any] = [key_id, *principals]
        if role is not None:
            where += " OR grantee LIKE ?"
            args.append(f"arn:%:iam::{role[0]}:role/%{role[1]}")
        return self._grant_rows(where + ")", tuple(args))

    def grant(self, grant_id: str) -> dict[str, Any] | None:
        rows = self._grant_rows("grant_id=?", (grant_id,))
        return rows[0] if rows else None

    def _shape(self, g: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in g.items() if v is not None}
        out["CreationDate"] = ts(g["CreationDate"])
        return out

    # -- operations -------------------------------------------------------------------------------
    @staticmethod
    def _check_grant_request(body: dict[str, Any], key_spec: str | None = None, key_usage: str | None = None) -> None:
        """KMS's CreateGrant validation, from the authorization engine so `whatif` and this call agree."""
        problems = validate_grant_request(body, key_spec, key_usage)
        if problems:
            raise ValidationException("; ".join(problems))

    @operation("CreateGrant")
    def create_grant(self, *, KeyId: str, GranteePrincipal: str, Operations: list, RetiringPrincipal: str | None = None,
                     Constraints: dict | None = None, GrantTokens: list | None = None, Name: str | None = None,
                     DryRun: bool = False) -> dict:
        ops = list(Operations) if isinstance(Operations, (list, tuple)) else Operations
        body = {"GranteePrincipal": GranteePrincipal, "Operations": ops, "RetiringPrincipal": RetiringPrincipal,
                "Constraints": Constraints, "Name": Name}
        self._check_grant_request(body)  # the request alone, before the key is read or the caller authorized
        if Constraints is not None and set(Constraints) - set(_CONSTRAINTS):  # SourceArn needs service grantees
            raise ValidationException(f"Constraints may hold only {' and '.join(_CONSTRAINTS)}")
        with self.store.transaction() as conn:
            doc = self._key(KeyId, "kms:CreateGrant", allow_alias=False)
            self._not_pending_deletion(doc)
            self._check_grant_request(body, doc["KeySpec"], doc["KeyUsage"])  # what this key type supports
            key_arn = self.key_arn(doc["KeyId"])
            if Name:
                for g in self.grants_for_key(doc["KeyId"]):
                    if g.get("Name") == Name and (g["GranteePrincipal"], g.get("RetiringPrincipal"), sorted(g["Operations"]),
                                                  g.get("Constraints")) == (GranteePrincipal, RetiringPrincipal, sorted(ops), Constraints):
                        return {"GrantToken": self._token_for(g["GrantId"]), "GrantId": g["GrantId"]}
            grant_id = os.urandom(32).hex()
            grant = {"KeyId": key_arn, "GrantId": grant_id, "Name": Name or "", "CreationDate": self.clock(),
                     "GranteePrincipal": GranteePrincipal, "RetiringPrincipal": RetiringPrincipal,
                     "IssuingAccount": self.root_arn, "Operations": ops, "Constraints": Constraints}
            payload, mac = self.store.seal_doc("grants", grant_id, grant)
            conn.execute("INSERT INTO grants(grant_id, key_id, grantee, retiree, name, doc, mac) VALUES (?,?,?,?,?,?,?)",
                         (grant_id, doc["KeyId"], GranteePrincipal, RetiringPrincipal, Name, payload, mac))
            self._authz_changed(doc)
        return {"GrantToken": self._token_for(grant_id), "GrantId": grant_id}

    @operation("ListGrants", read_only=True)
    def list_grants(self, *, KeyId: str, GrantId: str | None = None, GranteePrincipal: str | None = None,
                    Limit: int | None = None, Marker: str | None = None) -> dict:
        from kmstui.backends.local.keys import _page

        doc = self._key(KeyId, "kms:ListGrants", allow_alias=False)
        where, args = "key_id=?", [doc["KeyId"]]
        if GrantId is not None:
            where, args = where + " AND grant_id=?", [*args, GrantId]
        if GranteePrincipal is not None:
            where, args = where + " AND grantee=?", [*args, GranteePrincipal]
        total = self.store.conn.execute(f"SELECT count(*) FROM grants WHERE {where}", args).fetchone()[0]
        positions, extra = _page(range(total), Limit, Marker, 100, 50)  # only the page's rows are read and verified
        rows = self.store.conn.execute(f"SELECT grant_id, doc, mac FROM grants WHERE {where} ORDER BY rowid "
                                       "LIMIT ? OFFSET ?", (*args, len(positions), positions[0] if positions else 0))
        page = [self._shape(self.store.open_doc("grants", gid, d, mac)) for gid, d, mac in rows.fetchall()]
        return {"Grants": page, **extra}

    @operation("ListRetirableGrants", read_only=True)
    def list_retirable_grants(self, *, RetiringPrincipal: str, Limit: int | None = None, Marker: str | None = None) -> dict:
        from kmstui.backends.local.keys import _page

        self._authorize("kms:ListRetirableGrants")
        grants = self._grant_rows("retiree=?", (RetiringPrincipal,))
        page, extra = _page([self._shape(g) for g in grants], Limit, Marker, 100, 50)
        return {"Grants": page, **extra}

    def _remove_grant(self, grant_id: str, key_id: str | None, action: str) -> None:
        if not re.match(_GRANT_ID, str(grant_id)):
            raise InvalidGrantIdException(f"grant id {grant_id!r} is not valid (64 hex characters)")
        with self.store.transaction() as conn:
            g = self.grant(grant_id)
            if g is None or (key_id is not None and g["KeyId"] != self.key_arn(key_id)):
                raise NotFoundException(f"grant '{grant_id}' does not exist on this key")
            doc = self._key(g["KeyId"], action, allow_alias=False)
            conn.execute("DELETE FROM grants WHERE grant_id=?", (grant_id,))
            self.store.forget("grants", grant_id)
            self._authz_changed(doc)

    @operation("RetireGrant")
    def retire_grant(self, *, GrantToken: str | None = None, KeyId: str | None = None, GrantId: str | None = None,
                     DryRun: bool = False) -> dict:
        if GrantToken is not None:
            grant_id = self.grant_id_from_token(GrantToken)
            self._remove_grant(grant_id, None, "kms:RetireGrant")
        elif KeyId is not None and GrantId is not None:
            self._remove_grant(GrantId, self.resolve(KeyId, allow_alias=False), "kms:RetireGrant")
        else:
            raise ValidationException("give GrantToken, or KeyId and GrantId")
        return {}

    @operation("RevokeGrant")
    def revoke_grant(self, *, KeyId: str, GrantId: str, DryRun: bool = False) -> dict:
        self._remove_grant(GrantId, self.resolve(KeyId, allow_alias=False), "kms:RevokeGrant")
        return {}

    # -- IAM (identity) policies, kept per principal of this account --------------------------------
    @staticmethod
    def _iam_pk(principal: str, name: str) -> str:
        return f"{principal}\0{name}"

    def _authorize_iam(self, verb: str, principal: str | None) -> None:
        """IAM's permission for the call (iam:PutRolePolicy, iam:ListUserPolicies, ...): the account root,
        or an identity policy allowing it; so `--as` cannot hand itself permissions."""
        kind = "Role" if principal and ":role/" in principal else "User"
        self._authorize(f"iam:{verb.format(kind)}")

    @operation("PutPrincipalPolicy", source="iam.amazonaws.com")
    def put_identity_policy(self, *, PrincipalArn: str, PolicyName: str, PolicyDocument: str) -> dict:
        if not isinstance(PrincipalArn, str) or not PrincipalArn.startswith("arn:"):
            raise ValidationException("PrincipalArn must be an IAM principal ARN")
        if not isinstance(PolicyName, str) or not re.fullmatch(r"[\w+=,.@-]{1,128}", PolicyName):
            raise ValidationException("PolicyName must be 1-128 of letters, digits and +=,.@_-")
        check_identity_policy(PolicyDocument, PrincipalArn, PolicyName, self.iam_policies_for(PrincipalArn))
        self._authorize_iam("Put{}Policy", PrincipalArn)
        with self.store.transaction() as conn:
            payload, mac = self.store.seal_doc("iam_policies", self._iam_pk(PrincipalArn, PolicyName), PolicyDocument)
            conn.execute("INSERT OR REPLACE INTO iam_policies(principal, name, doc, mac) VALUES (?,?,?,?)",
                         (PrincipalArn, PolicyName, payload, mac))
        return {}

    def iam_policies_for(self, principal: str) -> dict[str, str]:
        """{policy name: verified document} for one principal (for the authorization engine)."""
        rows = self.store.conn.execute("SELECT name, doc, mac FROM iam_policies WHERE principal=? ORDER BY name",
                                       (principal,)).fetchall()
        return {name: self.store.open_doc("iam_policies", self._iam_pk(principal, name), doc, mac)
                for name, doc, mac in rows}

    @operation("GetPrincipalPolicy", read_only=True, source="iam.amazonaws.com")
    def get_identity_policy(self, *, PrincipalArn: str, PolicyName: str) -> dict:
        self._authorize_iam("Get{}Policy", PrincipalArn)
        doc = self.iam_policies_for(PrincipalArn).get(PolicyName)
        if doc is None:
            raise NotFoundException(f"no identity policy '{PolicyName}' for {PrincipalArn}")
        return {"PrincipalArn": PrincipalArn, "PolicyName": PolicyName, "PolicyDocument": doc}

    @operation("ListPrincipalPolicies", read_only=True, source="iam.amazonaws.com")
    def list_identity_policies(self, *, PrincipalArn: str | None = None) -> dict:
        self._authorize_iam("List{}Policies", PrincipalArn)
        if PrincipalArn is None:
            rows = self.store.conn.execute("SELECT principal, name FROM iam_policies ORDER BY principal, name")
        else:
            rows = self.store.conn.execute("SELECT principal, name FROM iam_policies WHERE principal=? ORDER BY name",
                                           (PrincipalArn,))
        return {"Policies": [{"PrincipalArn": p, "PolicyName": n} for p, n in rows.fetchall()]}

    @operation("DeletePrincipalPolicy", source="iam.amazonaws.com")
    def delete_identity_policy(self, *, PrincipalArn: str, PolicyName: str) -> dict:
        self._authorize_iam("Delete{}Policy", PrincipalArn)
        with self.store.transaction() as conn:
            cur = conn.execute("DELETE FROM iam_policies WHERE principal=? AND name=?", (PrincipalArn, PolicyName))
            if cur.rowcount == 0:
                raise NotFoundException(f"no identity policy '{PolicyName}' for {PrincipalArn}")
        self.store.forget("iam_policies", self._iam_pk(PrincipalArn, PolicyName))
        return {}
