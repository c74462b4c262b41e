"""kmstui.clientside: the checks the aws CLI makes before sending, derived from botocore's KMS service model,
and the exit-code split they give (252: refused before sending; 254: the service's error)."""

from __future__ import annotations

import pytest

from kmstui import clientside
from kmstui.backends.base import OPERATIONS

botocore = pytest.importorskip("botocore", reason="botocore (the aws extra) is not installed")


@pytest.fixture(scope="module")
def kms_model():
    import botocore.session

    return botocore.session.get_session().get_service_model("kms")


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def _minimums(shape, prefix: str = "", depth: int = 0) -> dict[str, int]:
    """The `min` constraints botocore's ParamValidator enforces (integers: value; strings and lists: length)."""
    out: dict[str, int] = {}
    for name, member in shape.members.items():
        path = prefix + name
        if member.metadata.get("min", 0) > 0 and member.type_name in ("integer", "long", "string", "list"):
            out[path] = member.metadata["min"]
        if member.type_name == "list" and depth < 2:
            inner = member.member
            if inner.type_name == "string" and inner.metadata.get("min", 0) > 0:
                out[path + "[]"] = inner.metadata["min"]
            if inner.type_name == "structure":
                out.update(_minimums(inner, path + "[].", depth + 1))
        if member.type_name == "structure" and depth < 2:
            out.update(_minimums(member, path + ".", depth + 1))
    return out


def test_the_tables_are_the_service_models(kms_model):
    """Every interface operation KMS has is covered, with exactly the model's `required` and `min`."""
    names = [_camel(op) for op in OPERATIONS if _camel(op) in kms_model.operation_names]
    assert sorted(clientside.MINIMUMS) == sorted(names)
    for name in names:
        shape = kms_model.operation_model(name).input_shape
        assert clientside.MINIMUMS[name] == _minimums(shape), name
        assert clientside.REQUIRED.get(name, ()) == tuple(shape.required_members), name


def test_botocore_refuses_exactly_what_clientside_refuses(kms_model):
    """At each minimum and one below it, botocore's own ParamValidator and kmstui agree; above any maximum
    botocore lets the value through (the service decides), and so does kmstui."""
    from botocore.validate import ParamValidator

    validator = ParamValidator()
    cases = [("ScheduleKeyDeletion", {"KeyId": "k", "PendingWindowInDays": n}) for n in (0, 1, 6, 7, 30, 31, 400)]
    cases += [("EnableKeyRotation", {"KeyId": "k", "RotationPeriodInDays": n}) for n in (89, 90, 2560, 2561)]
    cases += [(op, {"KeyId": "k", "NumberOfBytes": n}) for op in ("GenerateDataKey", "GenerateDataKeyWithoutPlaintext")
              for n in (0, 1, 1024, 1025)]
    cases += [("GenerateRandom", {"NumberOfBytes": n}) for n in (0, 1, 1024, 1025)]
    cases += [("GenerateDataKey", {"KeyId": "k", "NumberOfBytes": 16, "KeySpec": "AES_256"})]
    cases += [("ListKeys", {"Limit": n}) for n in (0, 1, 1000, 1001)]
    cases += [("DescribeKey", {"KeyId": ""}), ("DescribeKey", {}), ("CreateAlias", {"AliasName": "a"}),
              ("TagResource", {"KeyId": "k", "Tags": [{"TagKey": "", "TagValue": "v"}]}),
              ("Encrypt", {"KeyId": "k", "Plaintext": b"x", "GrantTokens": [""]}),
              ("CreateGrant", {"KeyId": "k", "Operations": ["Decrypt"], "Constraints": {"SourceArn": "arn:x"}})]
    for operation, params in cases:
        boto = validator.validate(params, kms_model.operation_model(operation).input_shape)
        ours = clientside.problems(operation, params)
        assert bool(ours) == boto.has_errors(), (operation, params, ours, boto.generate_report())


@pytest.mark.parametrize("words, code, error", [
    (("key", "schedule-deletion", "alias/a", "--days", "6", "--yes"), 254, "ValidationException"),
    (("key", "schedule-deletion", "alias/a", "--days", "31", "--yes"), 254, "ValidationException"),
    (("key", "schedule-deletion", "alias/a", "--days", "0", "--yes"), 252, "PendingWindowInDays"),
    (("key", "rotation", "alias/a", "--enable", "--period", "2561"), 254, "ValidationException"),
    (("key", "rotation", "alias/a", "--enable", "--period", "89"), 252, "RotationPeriodInDays"),
    (("data-key", "generate", "--key-id", "alias/a", "--number-of-bytes", "1025"), 254, "ValidationException"),
    (("data-key", "generate", "--key-id", "alias/a", "--number-of-bytes", "0"), 252, "NumberOfBytes"),
    (("data-key", "generate", "--key-id", "alias/a", "--number-of-bytes", "16", "--key-spec", "AES_256"), 254,
     "ValidationException"),
    (("random", "--number-of-bytes", "1025"), 254, "ValidationException"),
    (("random", "--number-of-bytes", "0"), 252, "NumberOfBytes"),
])
def test_exit_class_follows_the_aws_cli(session, words, code, error):
    """Issue 12 item 10: the service's refusals exit 254 with the service's error; only what botocore refuses
    before sending exits 252. Nothing changes either way."""
    from kmstui.errors import KmstuiError

    key = session.execute(["key", "create", "--alias", "alias/a"]).data["KeyMetadata"]["KeyId"]
    with pytest.raises(KmstuiError) as caught:
        session.execute(list(words))
    assert caught.value.exit_code == code and error in f"{caught.value.code}: {caught.value}"
    assert session.backend().describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    assert session.backend().get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False


def test_a_serving_session_leaves_the_answer_to_the_backend(session):
    """`kmstui serve` acts as the service: with client checks off, the backend's own ValidationException."""
    from kmstui.errors import UsageError, ValidationException

    with pytest.raises(UsageError):
        session.backend().generate_random(NumberOfBytes=0)
    session.client_checks = False
    with pytest.raises(ValidationException):
        session.backend().generate_random(NumberOfBytes=0)
