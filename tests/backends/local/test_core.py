"""The local backend's shared machinery: identity, timestamps, the audited `operation` wrapper, closing."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from kmstui.backends.local import keymaterial
from kmstui.backends.local.backend import LocalBackend
from kmstui.backends.local.core import epoch_of
from kmstui.backends.local.store import Store
from kmstui.errors import DependencyTimeoutException, KMSInternalException, ValidationException


def poke(path, sql, *args):
    conn = sqlite3.connect(str(path))
    conn.execute(sql, args)
    conn.commit()
    conn.close()


def last_event(hsm):
    hsm.audit.flush()
    return json.loads(hsm.audit.path.read_bytes().splitlines()[-1])


def test_missing_identity_is_an_integrity_error_not_a_default_account(unsealed_hsm):
    poke(unsealed_hsm.path, "DELETE FROM meta WHERE name='identity'")
    with pytest.raises(KMSInternalException, match="sealed identity .* is missing"):
        LocalBackend(Store.open(unsealed_hsm.path), unsealed_hsm._keys)


def test_timestamps_without_a_zone_are_utc():
    assert epoch_of("2030-01-01T00:00:00") == datetime(2030, 1, 1, tzinfo=timezone.utc).timestamp()
    assert epoch_of(datetime(2030, 1, 1)) == datetime(2030, 1, 1, tzinfo=timezone.utc).timestamp()
    plus_two = datetime(2030, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    assert epoch_of(plus_two) == epoch_of("2030-01-01T00:00:00Z") == epoch_of(1893456000)
    for bad in ("next tuesday", True, None, [1]):
        with pytest.raises(ValidationException, match="timestamp"):
            epoch_of(bad)


def test_unknown_or_missing_parameters_are_validation_errors_and_audited(unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ValidationException, match="Encrypt: missing a required argument: 'Plaintext'"):
        unsealed_hsm.encrypt(KeyId=key, Plaintxt=b"x")
    event = last_event(unsealed_hsm)
    assert (event["eventName"], event["errorCode"]) == ("Encrypt", "ValidationException")
    with pytest.raises(ValidationException, match="DescribeKey: got an unexpected keyword argument 'KeyID'"):
        unsealed_hsm.describe_key(KeyId=key, KeyID=key)
    with pytest.raises(ValidationException, match="missing a required argument: 'KeyId'"):
        unsealed_hsm.describe_key()


def test_values_sqlite_cannot_bind_are_validation_errors_and_audited(unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ValidationException, match="type"):
        unsealed_hsm.list_grants(KeyId=key, GranteePrincipal=["not", "a", "string"])
    assert last_event(unsealed_hsm)["errorCode"] == "ValidationException"


def test_sqlite_failures_on_reads_are_kms_errors_and_audited(unsealed_hsm):
    unsealed_hsm.list_identity_policies()
    poke(unsealed_hsm.path, "ALTER TABLE iam_policies RENAME TO gone")
    with pytest.raises(KMSInternalException, match="could not read the HSM file"):
        unsealed_hsm.list_identity_policies()
    event = last_event(unsealed_hsm)
    assert (event["eventName"], event["errorCode"]) == ("ListPrincipalPolicies", "KMSInternalException")


def test_a_locked_file_on_read_is_dependency_timeout(unsealed_hsm, monkeypatch):
    def busy(*_a, **_k):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(type(unsealed_hsm), "resolve", lambda self, ref, allow_alias=True: busy())
    with pytest.raises(DependencyTimeoutException, match="locked by another process"):
        unsealed_hsm.describe_key(KeyId="alias/x")
    assert last_event(unsealed_hsm)["errorCode"] == "DependencyTimeoutException"


def test_unexpected_failures_are_audited_and_raised_as_they_are(unsealed_hsm, monkeypatch):
    monkeypatch.setattr(type(unsealed_hsm), "resolve", lambda self, ref, allow_alias=True: {}["boom"])
    with pytest.raises(KeyError):
        unsealed_hsm.describe_key(KeyId="alias/x")
    assert last_event(unsealed_hsm)["errorCode"] == "KeyError"


def test_close_forgets_cached_key_objects(unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    unsealed_hsm.encrypt(KeyId=key, Plaintext=b"x")
    assert keymaterial._aead.cache_info().currsize > 0
    unsealed_hsm.close()
    assert keymaterial._aead.cache_info().currsize == 0
    assert keymaterial.private_key.cache_info().currsize == 0


def test_dry_run_is_refused_rather_than_performed(unsealed_hsm):
    """KMS's DryRun only checks permissions; the local backend must not quietly do the real thing."""
    from kmstui.errors import UnsupportedOperationException

    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(UnsupportedOperationException, match="DryRun"):
        unsealed_hsm.create_grant(KeyId=key, GranteePrincipal="arn:aws:iam::111122223333:role/app",
                                  Operations=["Decrypt"], DryRun=True)
    assert unsealed_hsm.list_grants(KeyId=key)["Grants"] == []
