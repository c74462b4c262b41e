"""encrypt, decrypt, re-encrypt, data keys, random, sign/verify and MACs through `python -m kmstui` on a
fresh local HSM: round trips, KMS-named errors and exit codes, --in/--out bytes, and secrets kept quiet."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from kmstui.errors import DisabledException, UsageError



@pytest.fixture
def key(unsealed_hsm) -> str:
    key_id = unsealed_hsm.create_key(Description="crypto tests")["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/app", TargetKeyId=key_id)
    return key_id


@pytest.fixture
def work(tmp_path):
    """An empty folder for this test's files (tmp_path also holds KMSTUI_HOME)."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_encrypt_decrypt_round_trip_prints_base64_like_the_aws_cli(run_kmstui, key):
    enc = run_kmstui.ok("encrypt", "--key-id", "alias/app", "--plaintext", "hello", "--context", "app=web",
             "--encryption-context", "tier=1")
    assert enc["KeyId"].endswith(key) and enc["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = enc["CiphertextBlob"]
    base64.b64decode(blob, validate=True)
    dec = run_kmstui.ok("decrypt", "--ciphertext-blob", blob, "--context", "tier=1", "--context", "app=web")
    assert base64.b64decode(dec["Plaintext"]) == b"hello" and dec["KeyId"].endswith(key)
    query = run_kmstui("decrypt", "--ciphertext-blob", blob, "--context", "app=web", "--context", "tier=1",
                       "--query", "Plaintext", "--output", "text")
    assert base64.b64decode(query.out.strip()) == b"hello"


def test_wrong_context_is_invalid_ciphertext_and_leaves_no_file(run_kmstui, key, work):
    blob = run_kmstui.ok("encrypt", "--key-id", key, "--plaintext", "s3cret", "--context", "app=web")["CiphertextBlob"]
    out = work / "plain.txt"
    for ctx in (["--context", "app=other"], []):
        result = run_kmstui("decrypt", "--ciphertext-blob", blob, *ctx, "--out", str(out))
        assert result.code == 254 and "InvalidCiphertextException" in result.err
        assert "s3cret" not in result.err + result.out
    assert leftovers(work) == []


def test_raw_bytes_in_and_out_and_stdin_stdout(run_kmstui, key, work):
    data = work / "data.bin"
    data.write_bytes(bytes(range(256)) * 4)
    blob, plain = work / "data.kms", work / "data.out"
    enc = run_kmstui("encrypt", "--key-id", "alias/app", "--in", str(data), "--out", str(blob), "--output", "json")
    assert enc.code == 0 and "CiphertextBlob" not in enc.out and "wrote" in enc.err
    assert blob.read_bytes()[:3] == b"KMT"
    run_kmstui.ok("decrypt", "--in", str(blob), "--out", str(plain))
    assert plain.read_bytes() == data.read_bytes()
    assert plain.stat().st_mode & 0o777 == 0o600  # plaintext files are private
    piped = run_kmstui("encrypt", "--key-id", key, "--in", "-", "--output", "json", input="from stdin")
    blob_b64 = json.loads(piped.out)["CiphertextBlob"]
    raw = run_kmstui("decrypt", "--ciphertext-blob", blob_b64, "--out", "-")
    assert raw.code == 0 and raw.out == "from stdin"


def test_out_never_overwrites_without_force(run_kmstui, key, work):
    target = work / "c.kms"
    target.write_bytes(b"keep me")
    refused = run_kmstui("encrypt", "--key-id", key, "--plaintext", "x", "--out", str(target))
    assert refused.code == 252 and "--force" in refused.err
    assert target.read_bytes() == b"keep me"
    assert run_kmstui("encrypt", "--key-id", key, "--plaintext", "x", "--out", str(target), "--force").code == 0
    assert target.read_bytes()[:3] == b"KMT"
    assert leftovers(work) == ["c.kms"]
    missing_dir = run_kmstui("encrypt", "--key-id", key, "--plaintext", "x", "--out", str(work / "no" / "f"))
    assert missing_dir.code == 252 and "does not exist" in missing_dir.err


def test_out_never_replaces_a_device_or_named_pipe_even_with_force(run_kmstui, key, work):
    """Output files are renamed into place; over /dev/null (as root) that used to leave the machine without
    /dev/null. A named pipe stands in for the device: the same file type check refuses both."""
    fifo = work / "fifo"
    os.mkfifo(fifo)
    refused = run_kmstui("encrypt", "--key-id", key, "--plaintext", "x", "--out", str(fifo), "--force")
    assert refused.code == 252 and refused.out == ""
    assert f"--out {fifo} is a named pipe, not a regular file" in refused.err and "use --out -" in refused.err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and leftovers(work) == ["fifo"]
    backup = run_kmstui("hsm", "backup", str(fifo), "--force")
    assert backup.code == 252 and "is a named pipe" in backup.err and "give a regular file's name" in backup.err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and leftovers(work) == ["fifo"]


def test_usage_mistakes_are_one_line_252(run_kmstui, key, work):
    cases = [
        (("encrypt", "--key-id", key, "--plaintext", "x", "--context", "novalue"), "missing '='"),
        (("encrypt", "--key-id", key), "no input"),
        (("encrypt", "--key-id", key, "--plaintext", "x", "--in", "-"), "not both"),
        (("encrypt", "--key-id", key, "--in", str(work / "missing")), "no such file"),
        (("decrypt", "--ciphertext-blob", "not*base64"), "not valid base64"),
        (("decrypt",), "--ciphertext-blob"),
        (("random", "--number-of-bytes", "0"), "valid min value: 1"),  # botocore refuses it before sending
    ]
    for args, words in cases:
        result = run_kmstui(*args)
        assert result.code == 252 and words in result.err, (args, result.err)
        assert "Traceback" not in result.err and len(result.errors) == 1


def test_base64_text_given_as_raw_bytes_gets_a_hint(run_kmstui, key, work):
    encoded = work / "blob.b64"
    encoded.write_text(run_kmstui.ok("encrypt", "--key-id", key, "--plaintext", "x")["CiphertextBlob"])
    result = run_kmstui("decrypt", "--in", str(encoded))
    assert result.code == 254 and "InvalidCiphertextException" in result.err and "base64" in result.err


def test_data_key_out_writes_the_plaintext_to_a_file_and_not_the_output(run_kmstui, key, work):
    plain, enc = work / "dk", work / "dk.enc"
    quiet = run_kmstui("data-key", "generate", "--key-id", key, "--context", "f=1", "--out", str(plain),
                       "--ciphertext-out", str(enc), "--output", "json")
    assert quiet.code == 0
    secret = plain.read_bytes()
    assert len(secret) == 32 and plain.stat().st_mode & 0o777 == 0o600
    assert "Plaintext" not in json.loads(quiet.out)
    assert base64.b64encode(secret).decode() not in quiet.out + quiet.err
    recovered = run_kmstui.ok("decrypt", "--in", str(enc), "--context", "f=1")
    assert base64.b64decode(recovered["Plaintext"]) == secret

    shown = run_kmstui.ok("data-key", "generate", "--key-id", key, "--key-spec", "AES_128", "--show-plaintext")
    assert len(base64.b64decode(shown["Plaintext"])) == 16
    sized = run_kmstui.ok("data-key", "generate", "--key-id", key, "--number-of-bytes", "64", "--show-plaintext")
    assert len(base64.b64decode(sized["Plaintext"])) == 64
    both = run_kmstui("data-key", "generate", "--key-id", key, "--key-spec", "AES_128", "--number-of-bytes", "8")
    assert both.code == 254 and "ValidationException" in both.err  # the service refuses both, not the aws CLI


def test_data_key_without_plaintext(run_kmstui, key, work):
    flag = run_kmstui.ok("data-key", "generate", "--key-id", key, "--without-plaintext")
    assert "Plaintext" not in flag and flag["CiphertextBlob"]
    out = work / "dk.enc"
    result = run_kmstui("data-key", "generate-without-plaintext", "--key-id", "alias/app", "--out", str(out))
    assert result.code == 0
    assert len(base64.b64decode(run_kmstui.ok("decrypt", "--in", str(out))["Plaintext"])) == 32
    contradiction = run_kmstui("data-key", "generate", "--key-id", key, "--without-plaintext", "--show-plaintext")
    assert contradiction.code == 252


def test_re_encrypt_moves_a_blob_to_another_key_and_context(run_kmstui, unsealed_hsm, key, work):
    other = unsealed_hsm.create_key()["KeyMetadata"]["KeyId"]
    src, dst = work / "a.kms", work / "b.kms"
    run_kmstui.ok("encrypt", "--key-id", key, "--plaintext", "moving", "--context", "v=1", "--out", str(src))
    moved = run_kmstui.ok("re-encrypt", "--in", str(src), "--source-context", "v=1", "--destination-key-id", other,
               "--destination-context", "v=2", "--out", str(dst))
    assert moved["KeyId"].endswith(other) and moved["SourceKeyId"].endswith(key)
    result = unsealed_hsm.decrypt(CiphertextBlob=dst.read_bytes(), EncryptionContext={"v": "2"})
    assert result["Plaintext"] == b"moving" and result["KeyId"].endswith(other)
    wrong = run_kmstui("re-encrypt", "--in", str(src), "--destination-key-id", other)
    assert wrong.code == 254 and "InvalidCiphertextException" in wrong.err


def test_random_bytes(run_kmstui, unsealed_hsm, work):
    printed = run_kmstui.ok("random", "--number-of-bytes", "24")
    assert len(base64.b64decode(printed["Plaintext"])) == 24
    out = work / "r.bin"
    assert run_kmstui("random", "--number-of-bytes", "16", "--out", str(out)).code == 0
    assert len(out.read_bytes()) == 16


def test_sign_and_verify_exit_codes(run_kmstui, unsealed_hsm, work):
    signer = unsealed_hsm.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    sig = work / "sig"
    run_kmstui.ok("sign", "--key-id", signer, "--message", "release 1", "--out", str(sig))  # algorithm implied
    good = run_kmstui.ok("verify", "--key-id", signer, "--message", "release 1", "--signature-file", str(sig),
              "--signing-algorithm", "ECDSA_SHA_256")
    assert good["SignatureValid"] is True
    # Verify: "If the signature verification fails, the Verify operation fails with an
    # KMSInvalidSignatureException exception." So: exit 254, nothing on stdout; --check prints and exits 1.
    bad = run_kmstui("verify", "--key-id", signer, "--message", "release 2", "--signature-file", str(sig),
                     "--output", "json")
    assert (bad.code, bad.out) == (254, "") and "KMSInvalidSignatureException" in bad.err
    checked = run_kmstui("verify", "--key-id", signer, "--message", "release 2", "--signature-file", str(sig),
                         "--output", "json", "--check")
    assert checked.code == 1 and json.loads(checked.out)["SignatureValid"] is False
    assert run_kmstui.ok("verify", "--key-id", signer, "--message", "release 1", "--signature-file", str(sig),
              "--check")["SignatureValid"] is True
    b64 = base64.b64encode(sig.read_bytes()).decode()
    assert run_kmstui("verify", "--key-id", signer, "--message", "release 1", "--signature", b64).code == 0

    rsa = unsealed_hsm.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    choose = run_kmstui("sign", "--key-id", rsa, "--message", "m")
    assert choose.code == 252 and "RSASSA_PSS_SHA_256" in choose.err
    symmetric = run_kmstui("sign", "--key-id", "alias/none", "--message", "m", "--signing-algorithm", "ECDSA_SHA_256")
    assert symmetric.code == 254 and "NotFoundException" in symmetric.err


def test_sign_a_large_file_hashes_locally_only_when_asked(run_kmstui, unsealed_hsm, work):
    """Sign: "Messages can be 0-4096 bytes. To sign a larger message, provide a message digest." A longer RAW
    message is refused as KMS refuses it; --hash-locally sends the digest and gives a standard signature."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    signer = unsealed_hsm.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    data = work / "big.bin"
    data.write_bytes(os.urandom(100_000))
    sig = work / "big.sig"
    refused = run_kmstui("sign", "--key-id", signer, "--in", str(data), "--signing-algorithm", "ECDSA_SHA_384",
                         "--out", str(sig))
    assert refused.code == 254 and "ValidationException" in refused.err and "--hash-locally" in refused.err
    assert not sig.exists()
    result = run_kmstui("sign", "--key-id", signer, "--in", str(data), "--signing-algorithm", "ECDSA_SHA_384",
                        "--out", str(sig), "--hash-locally")
    assert result.code == 0, result.err
    der = unsealed_hsm.get_public_key(KeyId=signer)["PublicKey"]
    serialization.load_der_public_key(der).verify(sig.read_bytes(), data.read_bytes(), ec.ECDSA(hashes.SHA384()))
    assert run_kmstui("verify", "--key-id", signer, "--in", str(data), "--signature-file", str(sig),
                      "--hash-locally").code == 0
    unhashed = run_kmstui("verify", "--key-id", signer, "--in", str(data), "--signature-file", str(sig))
    assert unhashed.code == 254 and "ValidationException" in unhashed.err
    exactly = work / "4096.bin"
    exactly.write_bytes(b"x" * 4096)
    assert run_kmstui("sign", "--key-id", signer, "--in", str(exactly), "--out", str(work / "s2")).code == 0


def test_mac_generate_and_verify(run_kmstui, unsealed_hsm, work):
    hmac_key = unsealed_hsm.create_key(KeySpec="HMAC_384", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    mac = run_kmstui.ok("mac", "generate", "--key-id", hmac_key, "--message", "order 42")
    assert mac["MacAlgorithm"] == "HMAC_SHA_384" and len(base64.b64decode(mac["Mac"])) == 48
    assert run_kmstui("mac", "verify", "--key-id", hmac_key, "--message", "order 42", "--mac", mac["Mac"]).code == 0
    # KMSInvalidMacException: "The request was rejected because the HMAC verification failed."
    forged = run_kmstui("mac", "verify", "--key-id", hmac_key, "--message", "order 43", "--mac", mac["Mac"],
                        "--output", "json")
    assert (forged.code, forged.out) == (254, "") and "KMSInvalidMacException" in forged.err
    checked = run_kmstui("mac", "verify", "--key-id", hmac_key, "--message", "order 43", "--mac", mac["Mac"],
                         "--output", "json", "--check")
    assert checked.code == 1 and json.loads(checked.out)["MacValid"] is False


def test_rsa_encryption_needs_the_key_to_decrypt(run_kmstui, unsealed_hsm):
    rsa = unsealed_hsm.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    blob = run_kmstui.ok("encrypt", "--key-id", rsa, "--plaintext", "to rsa",
              "--encryption-algorithm", "RSAES_OAEP_SHA_256")["CiphertextBlob"]
    plain = run_kmstui.ok("decrypt", "--ciphertext-blob", blob, "--key-id", rsa,
               "--encryption-algorithm", "RSAES_OAEP_SHA_256")["Plaintext"]
    assert base64.b64decode(plain) == b"to rsa"


def test_in_process_results_and_errors(session, unsealed_hsm, key):
    """The same commands in-process (the REPL and TUI path): bytes stay bytes, errors are KMS classes."""
    enc = session.execute(["encrypt", "--key-id", "alias/app", "--plaintext", "in process"])
    blob = enc.data["CiphertextBlob"]
    assert isinstance(blob, bytes)
    dec = session.execute(["decrypt", "--ciphertext-blob", base64.b64encode(blob).decode()])
    assert dec.data["Plaintext"] == b"in process"
    json_ctx = session.execute(["encrypt", "--key-id", key, "--plaintext", "j", "--context", '{"a": "1", "b": "2"}'])
    pairs = ["--context", "b=2", "--context", "a=1"]
    again = session.execute(["decrypt", "--ciphertext-blob", base64.b64encode(json_ctx.data["CiphertextBlob"]).decode(), *pairs])
    assert again.data["Plaintext"] == b"j"
    with pytest.raises(UsageError, match="twice"):
        session.execute(["encrypt", "--key-id", key, "--plaintext", "j", "--context", "a=1", "--context", "a=2"])
    session.execute(["key", "disable", key, "--yes"])
    with pytest.raises(DisabledException):
        session.execute(["encrypt", "--key-id", key, "--plaintext", "x"])
    with pytest.raises(UsageError):
        session.execute(["key", "disable", key])  # no confirm callback and no --yes


def test_profile_prefix_reaches_a_second_hsm_and_re_encrypt_crosses_backends(run_kmstui, unsealed_hsm, key, work,
                                                                            kmstui_home):
    config = kmstui_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[profiles.vault]\nbackend = "local"\npath = "vault.kmstui"\n')
    assert run_kmstui("hsm", "init", "--profile", "vault").code == 0
    other = run_kmstui.ok("key", "create", "--alias", "vault:alias/archive")["KeyMetadata"]
    assert run_kmstui("key", "describe", "alias/archive").code == 254  # not in the default HSM
    assert run_kmstui.ok("key", "describe", "vault:alias/archive")["KeyMetadata"]["KeyId"] == other["KeyId"]
    src, dst = work / "a.kms", work / "b.kms"
    run_kmstui.ok("encrypt", "--key-id", "alias/app", "--plaintext", "cross", "--context", "c=1", "--out", str(src))
    moved = run_kmstui.ok("re-encrypt", "--in", str(src), "--source-context", "c=1",
               "--destination-key-id", "vault:alias/archive", "--out", str(dst))
    assert moved["KeyId"] == other["Arn"] and moved["SourceKeyId"].endswith(key)
    back = run_kmstui.ok("decrypt", "--in", str(dst), "--profile", "vault")
    assert base64.b64decode(back["Plaintext"]) == b"cross"


def test_a_failed_verification_names_the_key_by_arn_like_a_valid_one(session, unsealed_hsm):
    sig = unsealed_hsm.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    mac = unsealed_hsm.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    unsealed_hsm.create_alias(AliasName="alias/sig", TargetKeyId=sig["KeyId"])
    unsealed_hsm.create_alias(AliasName="alias/mac", TargetKeyId=mac["KeyId"])
    bad = base64.b64encode(b"\x00" * 32).decode()
    verify = session.execute(["verify", "--key-id", "alias/sig", "--message", "m", "--signature", bad, "--check"])
    assert verify.exit_code == 1 and verify.data == {"KeyId": sig["Arn"], "SignatureValid": False,
                                                      "SigningAlgorithm": "ECDSA_SHA_256"}
    checked = session.execute(["mac", "verify", "--key-id", "alias/mac", "--message", "m", "--mac", bad, "--check"])
    assert checked.exit_code == 1 and checked.data["KeyId"] == mac["Arn"] and checked.data["MacValid"] is False
    from kmstui.errors import KMSInvalidMacException, KMSInvalidSignatureException

    with pytest.raises(KMSInvalidSignatureException):
        session.execute(["verify", "--key-id", "alias/sig", "--message", "m", "--signature", bad])
    with pytest.raises(KMSInvalidMacException):
        session.execute(["mac", "verify", "--key-id", "alias/mac", "--message", "m", "--mac", bad])


def test_bad_base64_points_at_the_raw_bytes_form(session, unsealed_hsm):
    key = unsealed_hsm.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    with pytest.raises(UsageError, match="--signature is not valid base64; give the raw bytes with --signature fileb://"):
        session.execute(["verify", "--key-id", key, "--message", "m", "--signature", "not*base64"])
    with pytest.raises(UsageError, match="--mac is not valid base64; give the raw bytes with --mac fileb://"):
        session.execute(["mac", "verify", "--key-id", key, "--message", "m", "--mac", "not*base64"])


def test_sign_or_mac_with_a_key_of_another_usage_is_invalid_key_usage(session, key):
    from kmstui.errors import InvalidKeyUsageException

    with pytest.raises(InvalidKeyUsageException, match="needs a key with KeyUsage SIGN_VERIFY"):
        session.execute(["sign", "--key-id", "alias/app", "--message", "m"])
    with pytest.raises(InvalidKeyUsageException, match="needs a key with KeyUsage GENERATE_VERIFY_MAC"):
        session.execute(["mac", "generate", "--key-id", "alias/app", "--message", "m"])


def test_a_missing_context_gets_a_hint_but_a_wrong_one_does_not(session, key):
    from kmstui.errors import InvalidCiphertextException

    blob = session.execute(["encrypt", "--key-id", key, "--plaintext", "x", "--context", "a=b"]).data["CiphertextBlob"]
    b64 = base64.b64encode(blob).decode()
    with pytest.raises(InvalidCiphertextException, match="no --context was given"):
        session.execute(["decrypt", "--ciphertext-blob", b64])
    with pytest.raises(InvalidCiphertextException, match="no --source-context was given"):
        session.execute(["re-encrypt", "--ciphertext-blob", b64, "--destination-key-id", key])
    with pytest.raises(InvalidCiphertextException) as wrong:
        session.execute(["decrypt", "--ciphertext-blob", b64, "--context", "a=c"])
    assert "no --context" not in str(wrong.value)


def test_data_key_to_standard_output_does_not_claim_a_file_mode(key, work):
    import io

    from kmstui.session import Session

    s = Session(stdout=io.BytesIO())
    try:
        to_stdout = s.execute(["data-key", "generate", "--key-id", key, "--out", "-"])
        assert len(s.stdout.getvalue()) == 32 and "0600" not in to_stdout.message
        to_file = s.execute(["data-key", "generate", "--key-id", key, "--out", str(work / "dk")])
        assert "file mode 0600" in to_file.message
    finally:
        s.close()


def test_decrypt_of_a_file_that_is_no_kms_blob_names_it_and_does_not_blame_the_context(run_kmstui, key, work):
    pdf = work / "report.pdf"
    pdf.write_bytes(b"%PDF-1.7\n" + os.urandom(200))
    result = run_kmstui("decrypt", "--in", str(pdf))
    assert result.code == 254 and "InvalidCiphertextException" in result.err
    assert "a PDF document" in result.err and "--context" not in result.err
    assert run_kmstui("envelope", "encrypt", str(pdf), "--key-id", key).code == 0
    envelope = run_kmstui("decrypt", "--in", str(pdf) + ".enc")
    assert envelope.code == 254 and "envelope decrypt" in envelope.err and "--context" not in envelope.err
    # A blob of this backend made with a context still gets the hint.
    blob = run_kmstui.ok("encrypt", "--key-id", key, "--plaintext", "x", "--context", "a=b")["CiphertextBlob"]
    missing = run_kmstui("decrypt", "--ciphertext-blob", blob)
    assert missing.code == 254 and "--context" in missing.err


def test_derive_shared_secret_both_sides_get_the_same_secret(run_kmstui, unsealed_hsm, work):
    """Issue 12 item 8: ECC_NIST_P256 with KEY_AGREEMENT, and DeriveSharedSecret with AWS's shapes. Each side
    derives with its own private key and the other's public key (GetPublicKey's DER), and gets the same secret."""
    for name in ("alice", "bob"):
        created = run_kmstui.ok("key", "create", "--key-spec", "ECC_NIST_P256", "--key-usage", "KEY_AGREEMENT",
                     "--alias", f"alias/{name}")
        assert created["KeyMetadata"]["KeyAgreementAlgorithms"] == ["ECDH"]
        assert run_kmstui("key", "public-key", f"alias/{name}", "--format", "DER", "--out", str(work / name)).code == 0
    alice = run_kmstui.ok("derive-shared-secret", "--key-id", "alias/alice", "--public-key", f"fileb://{work / 'bob'}")
    assert set(alice) == {"KeyId", "SharedSecret", "KeyAgreementAlgorithm", "KeyOrigin"}
    assert (alice["KeyAgreementAlgorithm"], alice["KeyOrigin"]) == ("ECDH", "AWS_KMS")
    bob_b64 = base64.b64encode((work / "alice").read_bytes()).decode()
    out = work / "secret.bin"
    written = run_kmstui("derive-shared-secret", "--key-id", "alias/bob", "--public-key", bob_b64, "--out", str(out))
    assert written.code == 0 and out.read_bytes() == base64.b64decode(alice["SharedSecret"])
    assert out.stat().st_mode & 0o777 == 0o600  # a secret, written as one
    signer = run_kmstui.ok("key", "create", "--key-spec", "ECC_NIST_P256", "--key-usage", "SIGN_VERIFY")
    wrong = run_kmstui("derive-shared-secret", "--key-id", signer["KeyMetadata"]["KeyId"], "--public-key", bob_b64)
    assert wrong.code == 254 and "InvalidKeyUsageException" in wrong.err and not wrong.out
