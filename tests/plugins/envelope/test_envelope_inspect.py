"""`inspect` reports every field issue 3 lists, for complete and for cut messages, and a cut message is a
failed check (exit code 1, one-line message) that scripts can rely on."""

from __future__ import annotations

import os

import pytest

BODY_FIELDS = ("FrameLength", "FrameCount", "PlaintextLength", "SignatureFooter", "Body", "Complete")


@pytest.mark.parametrize("suite", ["0x0478", "0x0578"])
def test_complete_and_truncated_messages(run, workdir, keyfiles, suite):
    (workdir / "a").write_bytes(os.urandom(10000))
    run()("envelope", "encrypt", "a", "--raw-key", keyfiles["aes"], "--frame-size", "4096", "--suite", suite)
    signed = suite == "0x0578"
    res = run()("inspect", "a.enc")
    d = res.data
    assert res.exit_code == 0
    assert all(k in d for k in ("FormatVersion", "AlgorithmSuite", "MessageId", "EncryptionContext",
                                "EncryptedDataKeys", *BODY_FIELDS))
    assert (d["FrameCount"], d["PlaintextLength"], d["SignatureFooter"], d["Complete"]) == (3, 10000, signed, True)
    footer = "signature footer present" if signed else "signature footer none (unsigned suite)"
    assert "plaintext 10000 bytes" in res.text and footer in res.text and "NOT authenticated" in res.text

    (workdir / "cut.enc").write_bytes((workdir / "a.enc").read_bytes()[:5000])
    res = run()("inspect", "cut.enc")
    d = res.data
    assert res.exit_code == 1
    assert all(k in d for k in BODY_FIELDS)
    assert (d["PlaintextLength"], d["SignatureFooter"], d["Complete"]) == (None, False, False)
    assert "truncated" in d["Body"] and "NOT a complete message" in res.text
    assert "plaintext unknown" in res.text and "None" not in res.text
    if signed:
        assert "signature footer MISSING" in res.text
    assert "\n" not in res.message and "cut.enc" in res.message and "not complete" in res.message


def test_trailing_bytes_make_the_message_incomplete(run, workdir, keyfiles):
    (workdir / "a").write_bytes(b"x" * 100)
    run()("envelope", "encrypt", "a", "--raw-key", keyfiles["aes"])
    (workdir / "b.enc").write_bytes((workdir / "a.enc").read_bytes() + b"junk")
    res = run()("inspect", "b.enc")
    assert res.exit_code == 1 and res.data["Complete"] is False and "4 unexpected bytes" in res.data["Body"]
