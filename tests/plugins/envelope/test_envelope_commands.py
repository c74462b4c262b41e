"""The envelope commands through a real Session: files, directories, stdin/stdout, safety rules, inspect,
verify and rewrap (raw keys here; backend keys in test_backend_keys.py)."""

from __future__ import annotations

import io
import os
import stat

import pytest

from envelope_helpers import listing
from kmstui.errors import KmstuiError, UsageError
from kmstui_envelope.errors import MessageError, NoUsableKey
from kmstui_envelope.header import read_header


def _files(d, **content):
    for name, data in content.items():
        (d / name).write_bytes(data)


def test_encrypt_then_decrypt_files_with_raw_keys(run, workdir, keyfiles):
    _files(workdir, a=os.urandom(70000), b=b"")
    res = run()("envelope", "encrypt", "a", "b", "--raw-key", keyfiles["aes"], "--raw-key", keyfiles["rsa"],
                "--context", "team=ops", "--out", "enc")
    assert res.data["Summary"] == {"Files": 2, "Bytes": 70000, "BackendCalls": 0}
    assert listing(workdir / "enc") == ["a.enc", "b.enc"]
    res = run()("envelope", "decrypt", "enc", "-r", "--raw-key", keyfiles["rsa"], "--out", "dec",
                "--expect-context", "team=ops")
    assert (workdir / "dec" / "a").read_bytes() == (workdir / "a").read_bytes()
    assert (workdir / "dec" / "b").read_bytes() == b""
    assert stat.S_IMODE(os.stat(workdir / "dec" / "a").st_mode) == 0o600
    assert res.data["Files"][0]["DecryptedWith"].startswith("raw RSA key ns/r1")
    assert "decrypted 2 files" in res.message and "0 backend calls" in res.message


def test_existing_output_is_never_overwritten_without_force(run, workdir, keyfiles):
    _files(workdir, a=b"new secret", **{"a.enc": b"precious"})
    with pytest.raises(UsageError, match="--force"):
        run()("envelope", "encrypt", "a", "--raw-key", keyfiles["aes"])
    assert (workdir / "a.enc").read_bytes() == b"precious"
    run()("envelope", "encrypt", "a", "--raw-key", keyfiles["aes"], "--force")
    with pytest.raises(UsageError, match="exists"):
        run()("envelope", "decrypt", "a.enc", "--raw-key", keyfiles["aes"])
    assert (workdir / "a").read_bytes() == b"new secret"
    assert listing(workdir) == ["a", "a.enc"]


def test_wrong_key_and_wrong_context_fail_cleanly_with_nothing_written(run, workdir, keyfiles, tmp_path):
    _files(workdir, a=b"x" * 5000)
    run()("envelope", "encrypt", "a", "--raw-key", keyfiles["aes"], "--context", "k=v")
    other = tmp_path / "other.key"
    other.write_bytes(bytes(32))
    with pytest.raises(NoUsableKey, match="no allowed key"):
        run()("envelope", "decrypt", "a.enc", "--raw-key", f"{other},name=k1,namespace=ns", "--out", "o")
    with pytest.raises(MessageError, match="expected k=w, found 'v'"):
        run()("envelope", "decrypt", "a.enc", "--raw-key", keyfiles["aes"], "--out", "o", "--expect-context", "k=w")
    assert listing(workdir) == ["a", "a.enc"]


def test_stdin_to_stdout_streaming(run, workdir, keyfiles):
    r = run(stdin=b"piped data" * 1000)
    assert r("envelope", "encrypt", "-", "--raw-key", keyfiles["aes"]).data is None
    ct = r.stdout.getvalue()
    assert ct[:3] == b"\x02\x04\x78"
    r2 = run(stdin=ct)
    res = r2("envelope", "decrypt", "-", "--raw-key", keyfiles["aes"], "--out", "-")
    assert r2.stdout.getvalue() == b"piped data" * 1000
    assert res.data is None and "decrypted 1 file" in res.message


def test_signed_messages_to_stdout_need_buffer_signed(run, workdir, keyfiles):
    _files(workdir, a=b"signed")
    run()("envelope", "encrypt", "a", "--raw-key", keyfiles["aes"], "--suite", "0x0578")
    r = run()
    with pytest.raises(UsageError, match="--buffer-signed"):
        r("envelope", "decrypt", "a.enc", "--raw-key", keyfiles["aes"], "--out", "-")
    assert r.stdout.getvalue() == b""
    r = run()
    r("envelope", "decrypt", "a.enc", "--raw-key", keyfiles["aes"], "--out", "-", "--buffer-signed")
    assert r.stdout.getvalue() == b"signed"


def test_interrupt_leaves_nothing_half_written(run, workdir, keyfiles, monkeypatch):
    _files(workdir, big=os.urandom(3 << 20))
    run()("envelope", "encrypt", "big", "--raw-key", keyfiles["aes"], "--frame-size", "64KiB")
    from kmstui_envelope import body

    real = body.body_aad
    calls = {"n": 0}

    def interrupted(*a):
        calls["n"] += 1
        if calls["n"] == 20:
            raise KeyboardInterrupt
        return real(*a)

    monkeypatch.setattr(body, "body_aad", interrupted)
    for words in (("envelope", "decrypt", "big.enc", "--out", "plain"),
                  ("envelope", "encrypt", "big", "--out", "again.enc", "--frame-size", "64KiB")):
        calls["n"] = 0
        with pytest.raises(KeyboardInterrupt):
            run()(*words, "--raw-key", keyfiles["aes"])
        assert listing(workdir) == ["big", "big.enc"]


def test_legacy_and_edk_limits_on_the_command_line(run, workdir, keyfiles):
    _files(workdir, a=b"x")
    specs = []
    for i in range(12):
        key = workdir.parent / f"k{i}"
        key.write_bytes(os.urandom(16))
        specs += ["--raw-key", f"{key},name=n{i}"]
    run()("envelope", "encrypt", "a", *specs)
    with pytest.raises(MessageError, match="12 encrypted data keys; the limit is 10"):
        run()("envelope", "decrypt", "a.enc", specs[0], specs[1], "--out", "o")
    run()("envelope", "decrypt", "a.enc", specs[-2], specs[-1], "--out", "o", "--max-edks", "12")
    assert (workdir / "o").read_bytes() == b"x"


def test_inspect_needs_no_backend_and_marks_fields_unverified(run, workdir, keyfiles):
    _files(workdir, a=b"y" * 10000, t=b"just text\n")
    run()("envelope", "encrypt", "a", "--raw-key", keyfiles["aes"], "--raw-key", keyfiles["rsa"],
          "--frame-size", "4096", "--context", "purpose=test")
    r = run()
    res = r("inspect", "a.enc")
    d = res.data
    assert d["AlgorithmSuite"] == {"Id": "0x0478", "Name": "AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
                                   "Committing": True, "Signed": False, "Legacy": False}
    assert d["EncryptionContext"] == {"purpose": "test"}
    assert [(e["Kind"], e["KeyName"]) for e in d["EncryptedDataKeys"]] == [("raw AES key", "k1"), ("raw RSA key", "r1")]
    assert (d["FrameLength"], d["FrameCount"], d["PlaintextLength"], d["Body"]) == (4096, 3, 10000, "complete")
    assert d["Authenticated"] is False and "NOT authenticated" in res.text
    assert r.session.open_backends() == {}
    (workdir / "cut.enc").write_bytes((workdir / "a.enc").read_bytes()[:-100])
    assert "truncated" in run()("inspect", "cut.enc").data["Body"]
    res = run()("envelope", "inspect", "t")
    assert res.exit_code == 1 and "not a kmstui/ESDK message: text" in res.text


def test_inspect_recognises_kmstui_ciphertext_blobs(run, workdir):
    import uuid

    from kmstui.backends.local import blob

    kid = str(uuid.uuid4())
    (workdir / "blob").write_bytes(blob.pack_header(kid, 2, bytes(12)) + bytes(40))
    d = run()("inspect", "blob").data
    assert d["Format"].startswith("kmstui ciphertext blob") and d["KeyId"] == kid and d["KeyMaterialVersion"] == 2
    assert d["PlaintextLength"] == 24


def test_verify_checks_commitment_and_header_tag(run, workdir, keyfiles):
    _files(workdir, a=b"z" * 100)
    # RSA-wrapped data keys are not bound to the context, so only the header tag can catch the edit
    run()("envelope", "encrypt", "a", "--raw-key", keyfiles["rsa"], "--context", "c=1")
    res = run()("inspect", "a.enc", "--verify", "--raw-key", keyfiles["rsa"])
    assert res.data["Verified"] is True and res.data["Commitment"] == "matches"
    data = bytearray((workdir / "a.enc").read_bytes())
    i = data.index(b"c\x00\x011") + 3
    data[i] = ord("2")  # edit the context value in the header
    (workdir / "a.enc").write_bytes(bytes(data))
    assert run()("inspect", "a.enc").data["EncryptionContext"] == {"c": "2"}  # unauthenticated view
    with pytest.raises(MessageError, match="header .* does not authenticate"):
        run()("envelope", "verify", "a.enc", "--raw-key", keyfiles["rsa"])


def test_rewrap_adds_and_removes_keys_without_touching_the_body(run, workdir, keyfiles):
    _files(workdir, a=os.urandom(50000))
    run()("envelope", "encrypt", "a", "--raw-key", keyfiles["aes"], "--frame-size", "4096")
    before = (workdir / "a.enc").read_bytes()
    res = run()("envelope", "rewrap", "a.enc", "--raw-key", keyfiles["aes"], "--add-raw-key", keyfiles["rsa"])
    assert res.data["Files"][0]["Added"] == 1
    after = (workdir / "a.enc").read_bytes()
    old, new = (read_header(io.BytesIO(b).read) for b in (before, after))
    assert len(new.edks) == 2 and new.message_id == old.message_id
    assert after[len(new.raw):] == before[len(old.raw):]  # body bytes untouched
    run()("envelope", "rewrap", "a.enc", "--raw-key", keyfiles["rsa"], "--remove-key-id", "ns/k1")
    with pytest.raises(NoUsableKey):
        run()("envelope", "decrypt", "a.enc", "--raw-key", keyfiles["aes"], "--out", "x")
    run()("envelope", "decrypt", "a.enc", "--raw-key", keyfiles["rsa"], "--out", "x")
    assert (workdir / "x").read_bytes() == (workdir / "a").read_bytes()
    with pytest.raises(UsageError, match="remove every key"):
        run()("envelope", "rewrap", "a.enc", "--raw-key", keyfiles["rsa"], "--remove-key-id", "r1")


def test_bad_arguments_are_usage_errors(run, workdir, keyfiles):
    _files(workdir, a=b"1")
    (workdir / "d").mkdir()
    with pytest.raises(UsageError, match="wrapping key"):
        run()("envelope", "encrypt", "a")
    with pytest.raises(UsageError, match="--recursive"):
        run()("envelope", "encrypt", "d", "--raw-key", keyfiles["aes"])
    with pytest.raises(UsageError, match="0x0478"):
        run()("envelope", "encrypt", "a", "--raw-key", keyfiles["aes"], "--suite", "0x0078")
    with pytest.raises(UsageError, match="not a size"):
        run()("envelope", "encrypt", "a", "--raw-key", keyfiles["aes"], "--frame-size", "big")
    with pytest.raises(KmstuiError, match="reserved"):
        run()("envelope", "encrypt", "a", "--raw-key", keyfiles["aes"], "--context", "aws-crypto-x=1")
    assert listing(workdir) == ["a", "d"]


def test_progress_observer_sees_progress_and_can_cancel(run, workdir, keyfiles, monkeypatch):
    from kmstui_envelope import progress

    _files(workdir, big=os.urandom(1 << 20))
    seen = []
    monkeypatch.setattr(progress, "observer", lambda label, done, total: seen.append((label, done, total)))
    run()("envelope", "encrypt", "big", "--raw-key", keyfiles["aes"], "--frame-size", "64KiB")
    assert seen[-1] == ("encrypt big", 1 << 20, 1 << 20) and len(seen) == 17

    def cancel(label, done, total):
        if done > 200000:
            raise KeyboardInterrupt

    monkeypatch.setattr(progress, "observer", cancel)
    with pytest.raises(KeyboardInterrupt):
        run()("envelope", "decrypt", "big.enc", "--raw-key", keyfiles["aes"], "--out", "plain")
    assert listing(workdir) == ["big", "big.enc"]


def test_filesystem_errors_are_one_line_errors(run, workdir, keyfiles):
    _files(workdir, a=b"1", b=b"2", blocker=b"")
    with pytest.raises(KmstuiError, match="File exists|Not a directory"):
        run()("envelope", "encrypt", "a", "b", "--out", "blocker/", "--raw-key", keyfiles["aes"])
    with pytest.raises(UsageError, match="encryption context"):
        run()("envelope", "encrypt", "a", "--raw-key", keyfiles["aes"], "--context", "k=" + "v" * 70000)
    assert listing(workdir) == ["a", "b", "blocker"]


def test_small_inputs_are_read_as_their_stat_described_them(tmp_path):
    """Decryption reads a small file whole before parsing it: the bytes its stat announced, to its end if
    it shrank, and not at all (None: read as a stream, so bytes after the message are still seen) if it
    grew in between."""
    from kmstui_envelope.handlers import _read_whole

    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    for stat_size, expected in ((10, b"x" * 10), (12, b"x" * 10), (9, None), (0, None)):
        with open(path, "rb", buffering=0) as f:
            assert _read_whole(f, stat_size) == expected, stat_size
