"""A successful call's audit line is serialised from parts prepared once per caller and operation
(LocalCore._encoded, issue 13). It must be byte for byte the line the event dict gives (`_event`, the path
failures take), so readers, `audit verify` and CloudTrail-shaped consumers see no difference."""

from __future__ import annotations

import hmac
import json
import uuid
from hashlib import sha256

import pytest

from kmstui import audit as auditlog, callsource
from kmstui.audit import read_events
from kmstui.backends.local.core import CallFacts

SERVER_CALL = CallFacts(identity={"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/app/s\u00e9ance",
                                  "accountId": "111122223333", "accessKeyId": "ASIAEXAMPLE"},
                        source_ip="192.0.2.7", user_agent='aws-cli/2 "quoted" \u2028 \x01',
                        request_id="9c1c3b0e-3a8b-4f0e-8d5a-0d6c2f5f8e11")
PARAMS = [
    {"KeyId": "alias/app", "Plaintext": b"secret", "EncryptionContext": {"k\u00e9y": "v\u2028\"\\", "a": "1"}},
    {"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "KeySpec": "AES_256", "NumberOfBytes": None},
    {"Tags": [{"TagKey": "team", "TagValue": "never logged"}], "Description": "x\ny", "MultiRegion": False},
    {"CiphertextBlob": b"\x00\x01", "GrantTokens": ["token"], "Limit": 5, "ValidTo": 1.5},
    {},
]


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("read_only", [True, False])
@pytest.mark.parametrize("where", ["local", "screen", "server"])
def test_an_encoded_line_is_the_event_dict_serialised(unsealed_hsm, params, read_only, where):
    backend = unsealed_hsm
    key = backend.create_key()["KeyMetadata"]["KeyId"]
    backend._resources = [backend.key_arn(key)] * (2 if params.get("Limit") else 1)

    def both():
        encoded = backend._encoded("Encrypt", params, read_only, "kms.amazonaws.com")
        event = backend._event("Encrypt", params, read_only, "kms.amazonaws.com", None)
        return encoded, event

    if where == "server":
        with backend.acting_as(SERVER_CALL.identity["arn"], SERVER_CALL):
            encoded, event = both()
    elif where == "screen":
        with callsource.source(callsource.SCREEN):
            encoded, event = both()
    else:
        encoded, event = both()
    assert encoded.head + "}" == auditlog.dumps(event)
    assert encoded.has_request_id == ("requestID" in event)
    assert encoded.changed == (not read_only)
    assert "secret" not in encoded.head and "never logged" not in encoded.head


def test_lines_written_from_both_paths_chain_and_verify(unsealed_hsm):
    backend = unsealed_hsm
    key = backend.create_key()["KeyMetadata"]["KeyId"]
    backend.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"app": "\u00e9"})
    with pytest.raises(Exception):
        backend.encrypt(KeyId=key, Plaintext=b"")  # a failure: the event dict's path
    with backend.acting_as("arn:aws:iam::111122223333:root", SERVER_CALL):
        backend.encrypt(KeyId=key, Plaintext=b"x")
    events = list(read_events(backend.audit.path))
    ok, failed, served = events[-3:]
    assert ok["eventName"] == "Encrypt" and ok["requestParameters"]["encryptionContext"] == {"app": "\u00e9"}
    assert "errorCode" in failed and list(ok)[:13] == list(failed)[:13]  # the same fields in the same order
    assert served["requestID"] == SERVER_CALL.request_id and served["userAgent"] == SERVER_CALL.user_agent
    assert list(ok)[-7:] == ["eventTime", "eventID", "requestID", "seq", "prevHash", "hash", "mac"]
    assert len({ok["eventID"], failed["eventID"], served["eventID"], ok["requestID"]}) == 4
    assert backend.verify_audit()["Valid"]


@pytest.mark.parametrize("size", [16, 32, 64, 65, 100])
def test_the_prepared_mac_is_hmac_sha256(size):
    key = bytes(range(size))
    message = sha256(b"line").hexdigest().encode()
    assert auditlog._Mac(key).hex32(message) == hmac.new(key, message, sha256).hexdigest()[:32]


def test_dumps_is_the_json_encoder():
    value = {"a": [1, 2.5, None, True], "b": "\u00e9\u2028\"", "c": b"raw", "d": float("inf")}
    assert auditlog.dumps(value) == json.JSONEncoder(separators=(",", ":"), ensure_ascii=False,
                                                     default=str).encode(value)
    cyclic: list = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match="Circular"):
        auditlog.dumps(cyclic)


def test_event_and_request_ids_are_distinct_random_uuids(unsealed_hsm):
    key = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(150):  # more than one batch of ids
        unsealed_hsm.encrypt(KeyId=key, Plaintext=b"x")
    events = [e for e in read_events(unsealed_hsm.audit.path) if e["eventName"] == "Encrypt"]
    ids = [e["eventID"] for e in events] + [e["requestID"] for e in events]
    assert len(set(ids)) == len(ids) == 300
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


class _Text(str):
    """A str subclass: never taken from the remembered texts (its == and hash are its own)."""


REMEMBERED = [
    {"KeyId": "alias/app", "EncryptionContext": {"app": "a"}},
    {"EncryptionContext": {"app": "a"}, "KeyId": "alias/app"},  # the same values in another order: another text
    {"KeyId": "alias/app", "EncryptionContext": {"app": "b"}},
    {"KeyId": "alias/app", "EncryptionContext": {"app": 1}},  # a number where text was: not remembered
    {"KeyId": "alias/app", "EncryptionContext": {"app": True}},
    {"KeyId": "alias/app", "EncryptionContext": {"app": _Text("a")}},
    {"KeyId": _Text("alias/app"), "EncryptionContext": {}},
    {"KeyId": "alias/app", "NumberOfBytes": 1},
    {"KeyId": "alias/app", "NumberOfBytes": True},
    {"KeyId": "alias/app", "Plaintext": b"secret", "GrantTokens": ["t"]},
    {"KeyId": "alias/app", "Tags": [{"TagKey": "team", "TagValue": "never logged"}]},
    {"Description": "x" * 4000},  # too long to be remembered
    {},
]


def test_remembered_request_parameters_are_what_the_encoder_gives():
    """`request_parameters_json` remembers parameters of text only; whatever the order in which calls come,
    each call's text is exactly `dumps(request_parameters(params))`, also after a context changed in place."""
    auditlog._PARAMETER_TEXTS.clear()  # (other tests in this process remembered their own texts)
    for _ in range(2):  # the second round is answered from memory where it can be
        for params in REMEMBERED + list(reversed(REMEMBERED)):
            assert auditlog.request_parameters_json(params) == auditlog.dumps(auditlog.request_parameters(params))
    context = {"app": "a"}
    params = {"KeyId": "alias/app", "EncryptionContext": context}
    first = auditlog.request_parameters_json(params)
    context["app"] = "changed"
    assert auditlog.request_parameters_json(params) != first
    assert auditlog.request_parameters_json(params) == auditlog.dumps(auditlog.request_parameters(params))
    assert all(len(text) <= auditlog._MAX_REMEMBERED_TEXT for text in auditlog._PARAMETER_TEXTS.values())
    assert not any("never logged" in text or "secret" in text for text in auditlog._PARAMETER_TEXTS.values())
