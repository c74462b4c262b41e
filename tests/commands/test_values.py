"""`fileb://`, `file://`, inline blobs and standard input: one rule (kmstui/commands/values.py) for every
command and plugin, following the aws CLI v2.

AWS sources quoted below:
- AWS CLI User Guide, "Loading a parameter from a file": "file://complete/path/to/file ... The first two
  slash '/' characters are part of the specification. If the required path begins with a '/', the result is
  three slash characters".
- AWS Developer Tools Blog, "Best Practices for Local File Parameters": "The value passed to --parameter is
  the contents of the file, read as text" (file://) and for fileb:// "instead of reading the contents of the
  file as text, it is read as binary ... the file's bytes are not decoded as they are read in".
- aws CLI paramfile.get_file: the path after the prefix goes through os.path.expandvars(os.path.expanduser());
  errors read "Unable to load paramfile PATH: ..." and, for undecodable text, "text contents could not be
  decoded.  If this is a binary file, please use the fileb:// prefix instead of the file:// prefix."
- AWS CLI v2 with cli_binary_format = raw-in-base64-out: a blob typed inline is sent as its raw (UTF-8) bytes.
"""

from __future__ import annotations

import base64
import json
import subprocess

import pytest

from kmstui.commands.values import BASE64, BYTES, DOCUMENT, TEXT
from kmstui.errors import UsageError
from tests.conftest import KMSTUI


@pytest.fixture
def key(unsealed_hsm) -> str:
    key_id = unsealed_hsm.create_key(Description="values")["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/app", TargetKeyId=key_id)
    return key_id


def _decrypt(session, blob: bytes, *extra: str) -> bytes:
    return session.execute(["decrypt", "--ciphertext-blob", base64.b64encode(blob).decode(), *extra]).data["Plaintext"]


def test_fileb_encrypts_the_files_raw_bytes_not_the_literal_text(session, key, tmp_path):
    raw = bytes(range(256)) + b"\r\n\x00end"
    (tmp_path / "plain.bin").write_bytes(raw)
    blob = session.execute(["encrypt", "--key-id", "alias/app", "--plaintext", f"fileb://{tmp_path}/plain.bin"]
                           ).data["CiphertextBlob"]
    assert _decrypt(session, blob) == raw  # issue 12: today this decrypts to b"fileb://..."


def test_inline_plaintext_is_its_utf8_bytes_like_raw_in_base64_out(session, key):
    blob = session.execute(["encrypt", "--key-id", "alias/app", "--plaintext", "héllo"]).data["CiphertextBlob"]
    assert _decrypt(session, blob) == "héllo".encode("utf-8")


def test_file_prefix_reads_text_with_universal_newlines(session, key, tmp_path):
    (tmp_path / "p.txt").write_bytes("line1\r\nline2\rend é".encode("utf-8"))
    blob = session.execute(["encrypt", "--key-id", key, "--plaintext", f"file://{tmp_path}/p.txt"]).data["CiphertextBlob"]
    assert _decrypt(session, blob) == "line1\nline2\nend é".encode("utf-8")


def test_file_prefix_on_binary_content_gives_the_aws_cli_error(session, key, tmp_path):
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UsageError) as exc:
        session.execute(["encrypt", "--key-id", key, "--plaintext", f"file://{tmp_path}/bin"])
    assert str(exc.value) == (f"Error parsing parameter '--plaintext': Unable to load paramfile ({tmp_path}/bin), "
                              "text contents could not be decoded.  If this is a binary file, please use the "
                              "fileb:// prefix instead of the file:// prefix.")


def test_missing_file_is_a_usage_error_naming_it_and_nothing_is_encrypted(run_kmstui, key, tmp_path):
    out = tmp_path / "out.bin"
    result = run_kmstui("encrypt", "--key-id", key, "--plaintext", "fileb://nope.bin", "--out", str(out))
    assert result.code == 252 and not result.out and not out.exists()
    assert result.err.strip() == ("kmstui: error: Error parsing parameter '--plaintext': Unable to load paramfile "
                                  "fileb://nope.bin: [Errno 2] No such file or directory: 'nope.bin'")


def test_tilde_and_variables_are_expanded_like_the_aws_cli(session, key, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SECRET_DIR", "sub")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "s.bin").write_bytes(b"\x01\x02")
    blob = session.execute(["encrypt", "--key-id", key, "--plaintext", "fileb://~/$SECRET_DIR/s.bin"]
                           ).data["CiphertextBlob"]
    assert _decrypt(session, blob) == b"\x01\x02"


def test_empty_path_after_the_prefix_is_refused(session, key):
    with pytest.raises(UsageError, match="no path after 'fileb://'"):
        session.execute(["encrypt", "--key-id", key, "--plaintext", "fileb://"])


def test_secret_from_standard_input_never_appears_in_argv(run_kmstui, key, tmp_path):
    secret = "stdin-secret-\u00e9"
    enc = run_kmstui("encrypt", "--key-id", key, "--plaintext", "fileb:///dev/stdin", "--output", "json",
                     input=secret)
    assert enc.code == 0, enc.err
    blob = json.loads(enc.out)["CiphertextBlob"]
    (tmp_path / "ct").write_bytes(base64.b64decode(blob))
    dec = run_kmstui("decrypt", "--ciphertext-blob", f"fileb://{tmp_path}/ct", "--output", "json")
    assert dec.code == 0, dec.err
    assert base64.b64decode(json.loads(dec.out)["Plaintext"]) == secret.encode("utf-8")


def test_ciphertext_signature_and_mac_take_base64_inline_or_raw_with_fileb(session, unsealed_hsm, key, tmp_path):
    blob = session.execute(["encrypt", "--key-id", key, "--plaintext", "x"]).data["CiphertextBlob"]
    (tmp_path / "ct.b64").write_text(base64.b64encode(blob).decode() + "\n")
    (tmp_path / "ct.bin").write_bytes(blob)
    for value in (f"file://{tmp_path}/ct.b64", f"fileb://{tmp_path}/ct.bin"):
        assert session.execute(["decrypt", "--ciphertext-blob", value]).data["Plaintext"] == b"x"

    signer = unsealed_hsm.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    (tmp_path / "msg").write_bytes(b"\x00signed\xff")
    sig = session.execute(["sign", "--key-id", signer, "--message", f"fileb://{tmp_path}/msg"]).data["Signature"]
    (tmp_path / "sig").write_bytes(sig)
    ok = session.execute(["verify", "--key-id", signer, "--message", f"fileb://{tmp_path}/msg",
                          "--signature", f"fileb://{tmp_path}/sig"])
    assert ok.data["SignatureValid"] is True

    mac_key = unsealed_hsm.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    mac = session.execute(["mac", "generate", "--key-id", mac_key, "--message", f"fileb://{tmp_path}/msg"]).data["Mac"]
    (tmp_path / "mac").write_bytes(mac)
    ok = session.execute(["mac", "verify", "--key-id", mac_key, "--message", f"fileb://{tmp_path}/msg",
                          "--mac", f"fileb://{tmp_path}/mac"])
    assert ok.data["MacValid"] is True


def test_documents_and_text_values_read_file_prefixes(session, unsealed_hsm, tmp_path):
    policy = unsealed_hsm.get_key_policy(KeyId=unsealed_hsm.create_key()["KeyMetadata"]["KeyId"],
                                         PolicyName="default")["Policy"]
    (tmp_path / "policy.json").write_text(policy)
    (tmp_path / "desc.txt").write_text("from a file")
    (tmp_path / "tags.json").write_text(json.dumps([{"TagKey": "team", "TagValue": "pay"}]))
    created = session.execute(["key", "create", "--policy", f"file://{tmp_path}/policy.json",
                               "--description", f"file://{tmp_path}/desc.txt", "--tag", f"file://{tmp_path}/tags.json"])
    meta = created.data["KeyMetadata"]
    assert meta["Description"] == "from a file"
    tags = unsealed_hsm.list_resource_tags(KeyId=meta["KeyId"])["Tags"]
    assert tags == [{"TagKey": "team", "TagValue": "pay"}]
    inline = session.execute(["key", "create", "--policy", policy])  # the JSON text itself, as aws takes it
    assert json.loads(unsealed_hsm.get_key_policy(KeyId=inline.data["KeyMetadata"]["KeyId"],
                                                  PolicyName="default")["Policy"]) == json.loads(policy)
    plain_path = session.execute(["key", "create", "--policy", str(tmp_path / "policy.json")])  # kmstui's own form
    assert plain_path.data["KeyMetadata"]["KeyId"]


def test_value_files_are_bounded(session, key):
    with pytest.raises(UsageError, match=r"--plaintext fileb:///dev/zero is larger than 1 MiB"):
        session.execute(["encrypt", "--key-id", key, "--plaintext", "fileb:///dev/zero"])


# Every flag that takes a blob, a secret or a JSON document, in every command (core and plugins), reads its
# value through the shared rule: no command parses its own "fileb://".
EXPECTED_KINDS = {"--plaintext": BYTES, "--message": BYTES, "--ciphertext-blob": BASE64, "--signature": BASE64,
                  "--mac": BASE64, "--grant-token": TEXT, "--context": TEXT, "--description": TEXT}


def test_every_blob_secret_and_document_flag_declares_its_kind(session):
    seen = set()
    for command in session.registry:
        for arg in command.args:
            if arg.name in EXPECTED_KINDS:
                assert arg.kind == EXPECTED_KINDS[arg.name], f"{command.name} {arg.name}"
                seen.add(arg.name)
            if arg.name == "--policy" and command.path == ("key", "create"):
                assert arg.kind == DOCUMENT
            if arg.secret:
                assert arg.kind is not None, f"{command.name} {arg.name} is secret but has no stdin/file form"
    assert seen == set(EXPECTED_KINDS)


def test_help_documents_the_rule_in_one_place(session):
    text = session.execute(["help", "values"]).text
    for phrase in ("fileb://PATH", "file://PATH", "raw-in-base64-out", "fileb:///dev/stdin", "ps"):
        assert phrase in text
    encrypt = session.execute(["help", "encrypt"]).text
    assert "'help values'" in encrypt and "standard input" in encrypt


def test_one_shot_cli_reads_fileb_from_a_relative_path(tmp_path, key):
    (tmp_path / "p.bin").write_bytes(b"\x00\x01")
    proc = subprocess.run([*KMSTUI, "encrypt", "--key-id", key, "--plaintext", "fileb://p.bin", "--output", "json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr  # relative paths are the working directory's, as in the aws CLI
    blob = base64.b64decode(json.loads(proc.stdout)["CiphertextBlob"])
    dec = subprocess.run([*KMSTUI, "decrypt", "--ciphertext-blob", base64.b64encode(blob).decode(), "--output", "json"],
                         capture_output=True, text=True, timeout=120)
    assert base64.b64decode(json.loads(dec.stdout)["Plaintext"]) == b"\x00\x01"


def _nonblocking_pipe_fed(parts: list[bytes], pause: float = 0.2):
    """The read end (a file object) of a pipe in non-blocking mode, as standard input is when another program
    sharing it set O_NONBLOCK, fed `parts` with pauses by a thread; and the thread."""
    import fcntl
    import os
    import threading
    import time

    r, w = os.pipe()
    fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_NONBLOCK)

    def feed():
        for part in parts:
            time.sleep(pause)
            os.write(w, part)
        os.close(w)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return os.fdopen(r, "rb"), thread


def test_a_nonblocking_input_is_read_to_its_end_not_cut_at_the_first_pause():
    """'Nothing yet' (read() returning None) used to be taken for the end of the input: `run -` ran part of a
    script, `fileb:///dev/stdin` took part of a value, and reported success."""
    from kmstui.commands.values import read_stream

    stream, thread = _nonblocking_pipe_fed([b"first ", b"second ", b"third"])
    with stream:
        assert read_stream(stream, 1 << 20, "standard input") == b"first second third"
    thread.join(5)
