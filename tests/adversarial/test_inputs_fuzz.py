"""Adversarial campaign for what users and files feed kmstui: command-line arguments, envelope files, and
text that would drive a terminal.

Properties:
- CLI arguments (random bytes that are not UTF-8, control characters, huge numbers, file:// prefixes, empty
  values) on every kind of command: never a traceback, never an internal error (exit 255), an error is one
  line with a usage (252), configuration (253) or KMS-named (254) exit code, and nothing written to the
  terminal carries a raw control character;
- envelope files cut at every byte and with bits flipped: `inspect` reports them without crashing and never
  calls a damaged message complete; `envelope decrypt` refuses them with one line and leaves no output file;
- an escape-sequence corpus in key descriptions, tags, encryption contexts and envelope headers, rendered in
  every output format: shown escaped, JSON still the same value.

CI runs a short form; `pytest --slow tests/adversarial` the long one. Counts are printed with -s.
"""

from __future__ import annotations

import io
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmstui.errors import EXIT_OTHER

pytestmark = pytest.mark.timeout(3600)
COUNTS: dict[str, int] = {}

# Terminal-driving text: CSI clear/move, OSC title/clipboard/hyperlink, C1 CSI, bidi, NUL/BEL/BS/CR, DEL,
# fake lines, bytes that are not UTF-8, and the issue's own payload.
CORPUS = [
    "\x1b[2J\x1b[1;1Hkmstui: decrypted 1 file OK\n",
    "\x1b]0;owned\x07", "\x1b]52;c;aGVsbG8=\x07", "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "\x9b2J\x9b1;1H", "\u202eexe.txt", "a\u2066b\u2069c", "nul\x00bel\x07bs\x08cr\rdel\x7f",
    "line1\nkmstui: error: fake\n", "\x1bP+q\x1b\\", "\x1b[6n", "tab\there", "x\u2028y",
]


def _message(plaintext: bytes, namespace: str = "ns", context: dict | None = None) -> bytes:
    """An envelope message under the raw AES key bytes(range(32)) named `namespace`/k1."""
    from kmstui_envelope.rawkeys import RawAesKeyring
    from kmstui_envelope.materials import encryption_materials
    from kmstui_envelope.stream import encrypt_stream
    from kmstui_envelope.suites import SUITES

    mats = encryption_materials([RawAesKeyring(namespace, "k1", bytes(range(32)))], SUITES[0x0478], context or {})
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), out.write, mats, 4096)
    mats.release()
    return out.getvalue()


def _runner(session):
    from kmstui.runner import Runner

    err = io.StringIO()
    session.stdout = io.BytesIO()
    return Runner(session, stdout_tty=False, stderr=err), err


def _check_outcome(code: int, err: str, out: bytes) -> None:
    assert code != EXIT_OTHER, err
    assert "Traceback" not in err, err
    assert code in (0, 1, 252, 253, 254), (code, err)
    if code:
        assert len(err.strip().splitlines()) <= 1, err
    for text in (err, out.decode("utf-8")):
        assert not any(c in text for c in "\x1b\x9b\x07\x08\x00\r"), text


# -- CLI argument fuzzing -------------------------------------------------------------------------------------
NASTY_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(CORPUS),
    st.binary(max_size=12).map(lambda b: b.decode("utf-8", "surrogateescape")),  # argv bytes that are not UTF-8
    st.integers(min_value=-2**70, max_value=2**70).map(str),
    st.sampled_from(["", "-", "--", "fileb://", "file://", "fileb:///dev/zero", "file:///dev/null", "fileb://nope",
                     "fileb:///dev/stdin", "{", "[", "null", "1e400", "9" * 400, "alias/", "alias/aws/x", "=",
                     "k=v", "arn:aws:kms:us-east-1:111122223333:key/x", "%s%n", "$HOME", "~"]),
)
COMMANDS = [
    ["encrypt", "--key-id", "{key}", "--plaintext", "{v}"],
    ["encrypt", "--key-id", "{key}", "--plaintext", "p", "--context", "{v}"],
    ["encrypt", "--key-id", "{v}", "--plaintext", "p"],
    ["decrypt", "--ciphertext-blob", "{v}"],
    ["key", "create", "--description", "{v}"],
    ["key", "create", "--tag", "{v}"],
    ["key", "create", "--policy", "{v}"],
    ["key", "tag", "{key}", "{v}"],
    ["key", "untag", "{key}", "{v}"],
    ["key", "describe", "{v}"],
    ["key", "update-description", "{key}", "--description", "{v}"],
    ["key", "schedule-deletion", "{key}", "--days", "{v}", "--yes"],
    ["key", "cancel-deletion", "{v}"],
    ["alias", "create", "{v}", "{key}"],
    ["random", "--number-of-bytes", "{v}"],
    ["data-key", "generate", "--key-id", "{key}", "--number-of-bytes", "{v}"],
    ["sign", "--key-id", "{key}", "--message", "{v}"],
    ["mac", "generate", "--key-id", "{key}", "--message", "{v}"],
    ["verify", "--key-id", "{key}", "--message", "m", "--signature", "{v}"],
    ["grant", "create", "--key-id", "{key}", "--grantee-principal", "{v}", "--operations", "Decrypt"],
    ["grant", "create", "--key-id", "{key}", "--grantee-principal", "arn:aws:iam::111122223333:role/r",
     "--operations", "{v}"],
    ["inspect", "{v}"],
    ["envelope", "encrypt", "{v}", "--raw-key", "{v}"],
    ["envelope", "decrypt", "{v}", "--raw-key", "{v}", "--max-edks", "{v}"],
    ["whatif", "--principal", "{v}", "--action", "kms:Decrypt", "--key-id", "{key}"],
    ["policy", "lint", "{v}"],
    ["audit", "show", "--limit", "{v}"],
    ["{v}"],
    ["key", "{v}"],
]


def test_cli_arguments_never_crash(session, unsealed_hsm, tmp_path, monkeypatch, slow_mode):
    monkeypatch.chdir(tmp_path)
    key = unsealed_hsm.create_key(Description="fuzz")["KeyMetadata"]["KeyId"]
    runner, err = _runner(session)
    tried = 0

    @settings(max_examples=3000 if slow_mode else 200, deadline=None, derandomize=not slow_mode,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.sampled_from(COMMANDS), NASTY_TEXT, st.sampled_from(["json", "table", "text", "yaml"]))
    def one(template, value, fmt):
        nonlocal tried
        words = [w.replace("{key}", key).replace("{v}", value) for w in template] + ["--output", fmt]
        err.seek(0)
        err.truncate()
        session.stdout = io.BytesIO()
        session.stdin = io.BytesIO(b"")
        code = runner.run(words)
        _check_outcome(code, err.getvalue(), session.stdout.getvalue())
        tried += 1

    one()
    COUNTS["cli arguments"] = tried
    print(f"\ncli arguments tried: {tried}")


# -- envelope truncations and bit flips -----------------------------------------------------------------------
@pytest.fixture
def sealed_file(tmp_path):
    ct = _message(os.urandom(9000), context={"purpose": "fuzz"})
    (tmp_path / "k.key").write_bytes(bytes(range(32)))
    return ct


def test_envelope_truncations_and_bit_flips_never_read_as_complete(tmp_path, sealed_file, slow_mode):
    from kmstui.session import Session

    session = Session()
    runner, err = _runner(session)
    ct = sealed_file
    cuts = range(len(ct)) if slow_mode else sorted({*range(0, 300), *range(0, len(ct), 97), len(ct) - 1})
    # --slow: every bit of the header and first frame, and every 5th bit after; CI: every 61st bit.
    flips = sorted({*range(0, 5000 * 8), *range(0, len(ct) * 8, 5)}) if slow_mode else range(0, len(ct) * 8, 61)
    tried = 0
    path = tmp_path / "m.enc"
    for kind, variants in (("cut", ((n, ct[:n]) for n in cuts)),
                           ("flip", ((b, ct[:b // 8] + bytes([ct[b // 8] ^ (1 << (b % 8))]) + ct[b // 8 + 1:])
                                     for b in flips))):
        for where, data in variants:
            path.write_bytes(data)
            session.stdout = io.BytesIO()
            err.seek(0)
            err.truncate()
            code = runner.run(["inspect", str(path), "--output", "json"])
            _check_outcome(code, err.getvalue(), session.stdout.getvalue())
            report = json.loads(session.stdout.getvalue() or b"{}")
            if kind == "cut":
                assert code == 1 and report.get("Complete") is not True, (where, report)
            if kind == "flip" or where % 7 == 0:  # decrypt every flip, and a sample of cuts
                out = tmp_path / "m.out"
                err.seek(0)
                err.truncate()
                code = runner.run(["envelope", "decrypt", str(path), "--raw-key", f"{tmp_path}/k.key,name=k1,"
                                   "namespace=ns", "--out", str(out)])
                _check_outcome(code, err.getvalue(), b"")
                assert code == 254 and not out.exists(), (kind, where, err.getvalue())
                assert not [p for p in os.listdir(tmp_path) if p.startswith(".m.out")]  # no temp left behind
            tried += 1
    session.close()
    COUNTS["envelope cuts and flips"] = tried
    print(f"\nenvelope cuts and bit flips tried: {tried}")


# -- escape-sequence corpus -----------------------------------------------------------------------------------
def test_escape_corpus_is_shown_escaped_in_every_format(session, unsealed_hsm, tmp_path):
    runner, err = _runner(session)
    tried = 0
    for payload in CORPUS:
        key = unsealed_hsm.create_key(Description=payload.replace("\x00", ""),
                                      Tags=[{"TagKey": "t" + payload[:60].replace("\x00", ""), "TagValue": payload}]
                                      )["KeyMetadata"]["KeyId"]
        # a provider id is ASCII (kmstui refuses other namespaces); the context carries every payload
        ct = _message(b"x", namespace="ns" + (payload if payload.isascii() else "x"), context={payload: payload})
        (tmp_path / "e.enc").write_bytes(ct)
        for words in (["key", "describe", key], ["key", "list", "--describe"], ["key", "tags", key],
                      ["inspect", str(tmp_path / "e.enc")], ["encrypt", "--key-id", key, "--plaintext", "p",
                                                             "--context", json.dumps({payload: payload})]):
            for fmt in ("json", "yaml", "text", "table"):
                session.stdout = io.BytesIO()
                err.seek(0)
                err.truncate()
                code = runner.run([*words, "--output", fmt])
                out = session.stdout.getvalue()
                _check_outcome(code, err.getvalue(), out)
                if fmt == "json" and words[:2] == ["key", "describe"]:  # escaped on screen, the same value
                    assert json.loads(out)["KeyMetadata"]["Description"] == payload.replace("\x00", "")
                tried += 1
        (tmp_path / "other.key").write_bytes(bytes(32))
        code = runner.run(["envelope", "decrypt", str(tmp_path / "e.enc"), "--raw-key", str(tmp_path / "other.key"),
                           "--out", str(tmp_path / "o")])
        _check_outcome(code, err.getvalue(), b"")
        tried += 1
    COUNTS["escape corpus renderings"] = tried
    print(f"\nescape corpus renderings tried: {tried}")
