"""Permissions boundaries of the local HSM's IAM users and roles: the managed policy that sets the most a
principal's identity policies can grant. The authorizer asks `boundary_for(caller)` on every call and the
one engine (kmstui/authz) caps the identity-policy answer with it, exactly as `whatif` does with a
scenario's `permissions_boundary`.

AWS's PutUserPermissionsBoundary / PutRolePermissionsBoundary take the ARN of a managed policy; the local
HSM has no managed policies, so the boundary document itself is stored per principal (one row, sealed and
MAC'd like every row, covered by the row-set record). Its size is checked against IAM's managed-policy quota
("Managed policy size cannot exceed 6,144 characters", IAM and AWS STS quotas), white space not counted.
"""

from __future__ import annotations

from typing import Any

from kmstui.authz.model import PolicyError
from kmstui.authz.policy import MAX_MANAGED_POLICY_CHARS, MAX_TEXT, compile_policy, identity_policy_size, load_document
from kmstui.authz.principals import parse_caller
from kmstui.backends.local.core import LocalCore, operation
from kmstui.errors import LimitExceeded, MalformedPolicyDocumentException, NotFoundException, ValidationException


def _boundable(arn: Any) -> str:
    """An ARN that can carry a boundary: an IAM user or role (AWS: "You can use an AWS managed policy or a
    customer managed policy to set the boundary for an IAM entity (user or role)")."""
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise ValidationException("PrincipalArn must be an IAM user or role ARN (arn:aws:iam::ACCOUNT:user/NAME)")
    try:
        kind = parse_caller(arn).kind
    except Exception:  # noqa: BLE001 - any unparsable ARN is the same usage error
        kind = None
    if kind not in ("user", "role"):
        raise ValidationException(f"a permissions boundary is set on an IAM user or role, not on '{arn}'")
    return arn


class BoundariesMixin(LocalCore):
    @operation("PutPermissionsBoundary", source="iam.amazonaws.com")
    def put_permissions_boundary(self, *, PrincipalArn: str, PolicyDocument: str) -> dict:
        """IAM PutUserPermissionsBoundary / PutRolePermissionsBoundary, with the document instead of an ARN."""
        principal = _boundable(PrincipalArn)
        if not isinstance(PolicyDocument, str):
            raise MalformedPolicyDocumentException("PolicyDocument must be JSON text")
        if len(PolicyDocument) > MAX_TEXT or identity_policy_size(PolicyDocument) > MAX_MANAGED_POLICY_CHARS:
            raise LimitExceeded(f"Cannot exceed quota for PolicySize: {MAX_MANAGED_POLICY_CHARS} (a permissions "
                                "boundary is a managed policy; white space is not counted)")
        try:
            compile_policy(load_document(PolicyDocument), "iam", "permissions boundary")
        except PolicyError as exc:
            raise MalformedPolicyDocumentException(f"the permissions boundary is malformed: {exc}") from None
        kind = "Role" if ":role/" in principal else "User"
        self._authorize(f"iam:Put{kind}PermissionsBoundary")
        with self.store.transaction() as conn:
            payload, mac = self.store.seal_doc("iam_boundaries", principal, PolicyDocument)
            conn.execute("INSERT OR REPLACE INTO iam_boundaries(principal, doc, mac) VALUES (?,?,?)",
                         (principal, payload, mac))
        return {}

    def _boundary_of(self, principal: str) -> str | None:
        row = self.store.conn.execute("SELECT doc, mac FROM iam_boundaries WHERE principal=?", (principal,)).fetchone()
        return None if row is None else self.store.open_doc("iam_boundaries", principal, row[0], row[1])

    def boundary_for(self, caller: str) -> str | None:
        """The boundary capping this caller (a role session: its role's), verified; None without one. Read by
        the authorizer before every call; an account root never has one, so the default caller reads nothing."""
        if caller == self.root_arn:
            return None
        try:
            parsed = parse_caller(caller)
        except Exception:  # noqa: BLE001 - the engine itself denies an unparsable caller
            return None
        if parsed.is_root:
            return None
        target = parsed.role_arn if parsed.kind == "session" and parsed.role_arn else caller
        return self._boundary_of(target)

    @operation("GetPermissionsBoundary", read_only=True, source="iam.amazonaws.com")
    def get_permissions_boundary(self, *, PrincipalArn: str) -> dict:
        principal = _boundable(PrincipalArn)
        kind = "Role" if ":role/" in principal else "User"
        self._authorize(f"iam:Get{kind}")
        doc = self._boundary_of(principal)
        if doc is None:
            raise NotFoundException(f"{principal} has no permissions boundary")
        return {"PrincipalArn": principal, "PermissionsBoundary": doc}

    @operation("DeletePermissionsBoundary", source="iam.amazonaws.com")
    def delete_permissions_boundary(self, *, PrincipalArn: str) -> dict:
        principal = _boundable(PrincipalArn)
        kind = "Role" if ":role/" in principal else "User"
        self._authorize(f"iam:Delete{kind}PermissionsBoundary")
        with self.store.transaction() as conn:
            if conn.execute("DELETE FROM iam_boundaries WHERE principal=?", (principal,)).rowcount == 0:
                raise NotFoundException(f"{principal} has no permissions boundary")
        self.store.forget("iam_boundaries", principal)
        return {}
