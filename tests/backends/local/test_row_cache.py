"""Rows answered from memory while the HSM file is unchanged (Store.read_doc, issue 13): a key or alias row
read before is not queried again until something is committed to the file, by this process or any other.
So a change made anywhere (a key disabled, deleted, its policy or grants changed, an alias moved, a row
edited outside kmstui) counts at the very next call, exactly as when every call read the row."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from kmstui.backends.local.backend import LocalBackend
from kmstui.backends.local.store import Store
from kmstui.errors import (AccessDeniedException, DisabledException, KMSInternalException, KMSInvalidStateException,
                           NotFoundException)

ROLE = "arn:aws:iam::111122223333:role/app"
ROOT = "arn:aws:iam::111122223333:root"
DENY_ENCRYPT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "no-encrypt", "Effect": "Deny", "Principal": {"AWS": ROOT}, "Action": "kms:Encrypt", "Resource": "*"}]})


def warm(backend: LocalBackend, key: str, n: int = 5) -> None:
    """Calls that leave the key row in the cache (and prove it is used from there)."""
    for _ in range(n):
        backend.encrypt(KeyId=key, Plaintext=b"warm")
    assert ("keys", key) in backend.store._rows


def other(hsm: LocalBackend) -> LocalBackend:
    """A second backend on the same file: its own SQLite connection and its own audit log descriptor."""
    return LocalBackend(Store.open(hsm.path), hsm._keys)


CHANGES = {
    "disable": (lambda b, key, alias: b.disable_key(KeyId=key), DisabledException),
    "schedule deletion": (lambda b, key, alias: b.schedule_key_deletion(KeyId=key, PendingWindowInDays=7),
                          KMSInvalidStateException),
    "policy": (lambda b, key, alias: b.put_key_policy(KeyId=key, Policy=DENY_ENCRYPT), AccessDeniedException),
    "alias deleted": (lambda b, key, alias: b.delete_alias(AliasName=alias), NotFoundException),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_made_through_another_connection_counts_at_the_next_call(unsealed_hsm, change):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/app", TargetKeyId=key)
    for _ in range(3):
        unsealed_hsm.encrypt(KeyId="alias/app", Plaintext=b"warm")
    warm(unsealed_hsm, key)
    act, error = CHANGES[change]
    second = other(unsealed_hsm)
    try:
        act(second, key, "alias/app")
    finally:
        second.close()
    with pytest.raises(error):
        unsealed_hsm.encrypt(KeyId="alias/app", Plaintext=b"after")


def test_an_alias_moved_by_another_connection_is_followed_at_the_next_call(unsealed_hsm):
    first = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    second_key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/app", TargetKeyId=first)
    for _ in range(3):
        assert unsealed_hsm.encrypt(KeyId="alias/app", Plaintext=b"x")["KeyId"].endswith(first)
    second = other(unsealed_hsm)
    try:
        second.update_alias(AliasName="alias/app", TargetKeyId=second_key)
    finally:
        second.close()
    assert unsealed_hsm.encrypt(KeyId="alias/app", Plaintext=b"x")["KeyId"].endswith(second_key)


def test_a_revoked_grant_stops_working_at_the_next_call(unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    grant = unsealed_hsm.create_grant(KeyId=key, GranteePrincipal=ROLE, Operations=["Encrypt"])["GrantId"]
    unsealed_hsm.set_caller(ROLE)
    warm(unsealed_hsm, key)
    second = other(unsealed_hsm)
    try:
        second.revoke_grant(KeyId=key, GrantId=grant)
    finally:
        second.close()
    with pytest.raises(AccessDeniedException):
        unsealed_hsm.encrypt(KeyId=key, Plaintext=b"after")


CHANGER = r"""
import sys
from kmstui.session import Session
b = Session(load_plugins=False).backend()
what, key = sys.argv[1], sys.argv[2]
if what == "disable":
    b.disable_key(KeyId=key)
elif what == "enable":
    b.enable_key(KeyId=key)
elif what == "revoke":
    b.revoke_grant(KeyId=key, GrantId=sys.argv[3])
b.close()
"""


def change_in_another_process(*args: str) -> None:
    subprocess.run([sys.executable, "-c", CHANGER, *args], check=True, timeout=120)


def test_changes_made_by_another_process_count_at_the_next_call(unsealed_hsm):
    """The brief's case: a key disabled and enabled again, and a grant revoked, by another process while
    this one keeps calling: each change counts at this process's next call."""
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    grant = unsealed_hsm.create_grant(KeyId=key, GranteePrincipal=ROLE, Operations=["Encrypt"])["GrantId"]
    warm(unsealed_hsm, key)
    change_in_another_process("disable", key)
    with pytest.raises(DisabledException):
        unsealed_hsm.encrypt(KeyId=key, Plaintext=b"x")
    change_in_another_process("enable", key)
    warm(unsealed_hsm, key)
    unsealed_hsm.set_caller(ROLE)
    warm(unsealed_hsm, key)
    change_in_another_process("revoke", key, grant)
    with pytest.raises(AccessDeniedException):
        unsealed_hsm.encrypt(KeyId=key, Plaintext=b"x")
    unsealed_hsm.set_caller(None)
    assert unsealed_hsm.verify_audit()["Valid"]


def test_a_row_edited_outside_kmstui_is_refused_at_the_next_call(unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    warm(unsealed_hsm, key)
    conn = sqlite3.connect(str(unsealed_hsm.path))
    doc = json.loads(conn.execute("SELECT doc FROM keys WHERE key_id=?", (key,)).fetchone()[0])
    doc["Description"] = "edited"
    conn.execute("UPDATE keys SET doc=? WHERE key_id=?", (json.dumps(doc).encode(), key))
    conn.commit()
    conn.close()
    with pytest.raises(KMSInternalException, match="integrity check failed"):
        unsealed_hsm.encrypt(KeyId=key, Plaintext=b"x")


def test_a_rolled_back_change_of_this_process_is_not_remembered(unsealed_hsm):
    """Inside a transaction rows are read from SQLite (this connection sees its own uncommitted rows); after a
    rollback the committed row is what the next call uses."""
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    warm(unsealed_hsm, key)
    store = unsealed_hsm.store
    with pytest.raises(RuntimeError):
        with store.transaction():
            doc = dict(unsealed_hsm._load(key), KeyState="Disabled")
            unsealed_hsm._save(doc)
            assert store.change_token() is None
            assert unsealed_hsm._load(key)["KeyState"] == "Disabled"
            raise RuntimeError("roll back")
    assert unsealed_hsm._load(key)["KeyState"] == "Enabled"
    unsealed_hsm.encrypt(KeyId=key, Plaintext=b"x")


def test_the_change_token_moves_with_every_commit_from_any_connection(unsealed_hsm):
    store = unsealed_hsm.store
    unsealed_hsm.create_key()
    before = store.change_token()
    assert before is not None and store.change_token() == before  # nothing committed: the same token
    unsealed_hsm.create_key()  # this connection commits
    mine = store.change_token()
    assert mine not in (None, before)
    conn = sqlite3.connect(str(unsealed_hsm.path))  # another connection commits (a row nobody reads) ...
    conn.execute("INSERT INTO meta(name, value) VALUES ('scratch', x'00')")
    conn.commit()
    theirs = store.change_token()
    assert theirs not in (None, mine)
    conn.execute("DELETE FROM meta WHERE name='scratch'")  # ... and takes it away again
    conn.commit()
    conn.close()
    assert store.change_token() not in (None, mine, theirs)


def test_an_scp_attached_by_another_connection_counts_at_the_next_call(unsealed_hsm):
    """The organization the authorizer uses is kept while the file's change token is unchanged, so an SCP
    attached elsewhere denies this process's very next call (not up to 50 ms later)."""
    unsealed_hsm.create_organization(ManagementAccountId="999999999999")  # the HSM account is a member
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    warm(unsealed_hsm, key)
    deny = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:Encrypt",
                                                               "Resource": "*"}]})
    second = other(unsealed_hsm)
    try:
        policy = second.create_org_policy(Name="NoEncrypt", Type="SERVICE_CONTROL_POLICY", Content=deny)
        second.attach_org_policy(PolicyId=policy["Policy"]["PolicySummary"]["Id"], TargetId="111122223333")
    finally:
        second.close()
    with pytest.raises(AccessDeniedException, match="NoEncrypt"):
        unsealed_hsm.encrypt(KeyId=key, Plaintext=b"after")
