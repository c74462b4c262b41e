"""Output shapes as the KMS API reference and the AWS CLI v2 print them (issue 12 item 12): ListKeys,
CancelKeyDeletion, KeyMetadata's deletion fields, the key-material id fields, and GenerateDataKey's Plaintext.
Each test quotes the AWS documentation sentence it follows."""

from __future__ import annotations

import base64
import re

import pytest

from kmstui.commands.render import MASK



@pytest.fixture
def keys(unsealed_hsm):
    a = unsealed_hsm.create_key(Description="first")["KeyMetadata"]
    b = unsealed_hsm.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    unsealed_hsm.create_alias(AliasName="alias/one", TargetKeyId=a["KeyId"])
    return a, b


def test_key_list_is_list_keys_shape_and_the_table_keeps_the_metadata(run_kmstui, keys):
    # ListKeys response: "Keys: A list of KMS keys" of KeyListEntry {KeyArn, KeyId}; `aws kms list-keys` "is a
    # paginated operation. Multiple API calls may be issued in order to retrieve the entire data set of
    # results", so the CLI prints the whole list, without Truncated/NextMarker.
    a, b = keys
    listed = run_kmstui.ok("key", "list")
    assert listed == {"Keys": [{"KeyId": a["KeyId"], "KeyArn": a["Arn"]}, {"KeyId": b["KeyId"], "KeyArn": b["Arn"]}]}
    table = run_kmstui("key", "list", "--output", "table").out
    assert "alias/one" in table and "first" in table and "ECC_NIST_P256" in table
    assert max(len(line) for line in table.splitlines()) <= 120
    assert not re.search(r"\d\d:\d\d:\d\d\.\d+", table)  # no microseconds
    described = run_kmstui.ok("key", "list", "--describe")["Keys"]
    assert described[0]["Aliases"] == ["alias/one"] and described[0]["Description"] == "first"
    # The API's one-call form keeps the response as it is: "Truncated: A flag that indicates whether there are
    # more items in the list. When this value is true, the list in this response is truncated. To get more
    # items, pass the value of the NextMarker element in this response to the Marker parameter".
    one = run_kmstui.ok("key", "list", "--limit", "1")
    assert one["Truncated"] is True and len(one["Keys"]) == 1 and one["NextMarker"]
    rest = run_kmstui.ok("key", "list", "--marker", one["NextMarker"])
    assert rest["Truncated"] is False and rest["Keys"] == [{"KeyId": b["KeyId"], "KeyArn": b["Arn"]}]
    assert run_kmstui.ok("key", "list", "--no-paginate")["Truncated"] is False


def test_key_list_filters_still_give_list_keys_shape(run_kmstui, unsealed_hsm, keys):
    a, b = keys
    unsealed_hsm.disable_key(KeyId=b["KeyId"])
    assert run_kmstui.ok("key", "list", "--state", "Disabled") == {"Keys": [{"KeyId": b["KeyId"], "KeyArn": b["Arn"]}]}


def test_cancel_deletion_returns_the_key_arn_only(run_kmstui, unsealed_hsm, keys):
    # CancelKeyDeletion response: "KeyId: The Amazon Resource Name (key ARN) of the KMS key whose deletion is
    # canceled."
    a, _ = keys
    unsealed_hsm.schedule_key_deletion(KeyId=a["KeyId"], PendingWindowInDays=7)
    assert run_kmstui.ok("key", "cancel-deletion", "alias/one") == {"KeyId": a["Arn"]}


def test_pending_deletion_window_is_not_in_key_metadata_of_a_single_region_key(run_kmstui, unsealed_hsm, keys):
    # KeyMetadata.PendingDeletionWindowInDays: "This value is present only when the KeyState of the KMS key is
    # PendingReplicaDeletion." ScheduleKeyDeletion's own response carries PendingWindowInDays.
    a, _ = keys
    scheduled = run_kmstui.ok("key", "schedule-deletion", a["KeyId"], "--days", "9", "--yes")
    assert scheduled["PendingWindowInDays"] == 9
    md = run_kmstui.ok("key", "describe", a["KeyId"])["KeyMetadata"]
    assert md["KeyState"] == "PendingDeletion" and md["DeletionDate"]
    assert "PendingDeletionWindowInDays" not in md


HEX64 = re.compile(r"[a-f0-9]{64}")


def test_key_material_ids_appear_exactly_where_the_api_reference_lists_them(run_kmstui, unsealed_hsm, keys):
    # KeyMetadata.CurrentKeyMaterialId: "This value is present for symmetric encryption keys with AWS_KMS or
    # EXTERNAL origin." Decrypt/GenerateDataKey KeyMaterialId: "The identifier of the key material used to
    # decrypt the ciphertext" / "to encrypt the data key"; ReEncrypt: SourceKeyMaterialId ("used to originally
    # encrypt the data") and DestinationKeyMaterialId ("used to reencrypt the data"). Encrypt's response lists
    # no key-material id (botocore's model of the current API: Encrypt output = CiphertextBlob, KeyId,
    # EncryptionAlgorithm).
    a, b = keys
    md = run_kmstui.ok("key", "describe", a["KeyId"])["KeyMetadata"]
    current = md["CurrentKeyMaterialId"]
    assert HEX64.fullmatch(current)
    assert "CurrentKeyMaterialId" not in run_kmstui.ok("key", "describe", b["KeyId"])["KeyMetadata"]
    enc = run_kmstui.ok("encrypt", "--key-id", "alias/one", "--plaintext", "hello")
    assert "KeyMaterialId" not in enc
    assert run_kmstui.ok("decrypt", "--ciphertext-blob", enc["CiphertextBlob"])["KeyMaterialId"] == current
    assert run_kmstui.ok("data-key", "generate", "--key-id", "alias/one")["KeyMaterialId"] == current
    assert run_kmstui.ok("data-key", "generate-without-plaintext", "--key-id", "alias/one")["KeyMaterialId"] == current
    unsealed_hsm.rotate_key_on_demand(KeyId=a["KeyId"])
    rotated = run_kmstui.ok("key", "describe", a["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"]
    assert HEX64.fullmatch(rotated) and rotated != current
    # The old blob still names the material that made it; re-encrypting names both.
    assert run_kmstui.ok("decrypt", "--ciphertext-blob", enc["CiphertextBlob"])["KeyMaterialId"] == current
    moved = run_kmstui.ok("re-encrypt", "--ciphertext-blob", enc["CiphertextBlob"], "--destination-key-id", a["KeyId"])
    assert (moved["SourceKeyMaterialId"], moved["DestinationKeyMaterialId"]) == (current, rotated)
    rotations = unsealed_hsm.list_key_rotations(KeyId=a["KeyId"])["Rotations"]
    assert [r["KeyMaterialId"] for r in rotations] == [rotated]
    # Sign/Verify responses list none.
    signed = run_kmstui.ok("sign", "--key-id", b["KeyId"], "--message", "m")
    assert not any("Material" in field for field in signed)


def test_data_key_plaintext_is_printed_as_aws_prints_it_and_masked_in_a_table(run_kmstui, keys):
    # GenerateDataKey response: "Plaintext: The plaintext data key. When you use the HTTP API or the Amazon Web
    # Services CLI, the value is Base64-encoded."
    data = run_kmstui.ok("data-key", "generate", "--key-id", "alias/one", "--key-spec", "AES_128")
    assert len(base64.b64decode(data["Plaintext"])) == 16 and data["CiphertextBlob"]
    text = run_kmstui("data-key", "generate", "--key-id", "alias/one", "--output", "text", "--query", "Plaintext")
    assert len(base64.b64decode(text.out.strip())) == 32
    yaml_out = run_kmstui("data-key", "generate", "--key-id", "alias/one", "--output", "yaml").out
    assert "Plaintext: " in yaml_out and MASK not in yaml_out
    table = run_kmstui("data-key", "generate", "--key-id", "alias/one", "--output", "table").out
    plaintext_row = next(line for line in table.splitlines() if line.startswith("Plaintext"))
    assert MASK in plaintext_row
    shown = run_kmstui("data-key", "generate", "--key-id", "alias/one", "--output", "table", "--show-plaintext").out
    value = next(line for line in shown.splitlines() if line.startswith("Plaintext")).split()[-1]
    assert len(base64.b64decode(value)) == 32
