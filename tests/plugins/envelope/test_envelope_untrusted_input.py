"""Hostile envelope files and streams (issue 11 items 7, 12, 14): escape sequences in header fields shown,
never obeyed; inspect of FIFOs and <(cat file); a final frame with a wrong sequence number; output to a
reader that goes away; memory bounds on headers and frames."""

from __future__ import annotations

import os
import resource
import subprocess
import threading

import pytest

from envelope_helpers import aes_keyring, encrypt_bytes
from tests.conftest import KMSTUI, REPO

PAYLOAD = "\x1b[2J\x1b[1;1Hkmstui: decrypted 1 file OK\n"  # the crafted provider id


def kmstui(*args, cwd, input=b"", limit_mb: int | None = None, timeout=120):
    """python -m kmstui ARGS; with limit_mb, its address space is capped (RLIMIT_AS) so a big allocation
    fails instead of succeeding quietly."""
    def cap():
        if limit_mb:
            resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([*KMSTUI, *args], cwd=cwd, input=input, capture_output=True, timeout=timeout,
                          preexec_fn=cap, env=env)


@pytest.fixture
def evil(workdir):
    ct = encrypt_bytes(b"secret", [aes_keyring(name="k", namespace=PAYLOAD)], context={PAYLOAD: PAYLOAD})
    (workdir / "evil.enc").write_bytes(ct)
    (workdir / "other.key").write_bytes(bytes(32))
    return workdir


@pytest.mark.parametrize("command", [["envelope", "decrypt", "evil.enc", "--out", "x"], ["envelope", "verify", "evil.enc"]])
def test_crafted_provider_id_in_an_error_is_one_inert_line(evil, command):
    proc = kmstui(*command, "--raw-key", "other.key", cwd=evil)
    err = proc.stderr.decode()
    assert proc.returncode == 254 and "IncorrectKeyException" in err
    assert "\x1b" not in err and err.count("\n") == 1  # one line: no fake "decrypted 1 file OK" line
    assert "\\x1b[2J\\x1b[1;1Hkmstui: decrypted 1 file OK\\n" in err
    assert not (evil / "x").exists()


@pytest.mark.parametrize("fmt", ["text", "table", "yaml", "json"])
def test_inspect_shows_hostile_header_fields_escaped_in_every_format(evil, fmt):
    proc = kmstui("inspect", "evil.enc", "--output", fmt, cwd=evil)
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in out and "kmstui: decrypted 1 file OK\n" not in out
    assert "kmstui: decrypted 1 file OK" in out  # shown, as text


def test_inspect_of_a_fifo_and_process_substitution_reads_the_stream(workdir, keyfiles, run):
    (workdir / "a").write_bytes(os.urandom(70000))
    run()("envelope", "encrypt", "a", "--raw-key", keyfiles["aes"], "--frame-size", "4096")
    fifo = workdir / "pipe"
    os.mkfifo(fifo)
    data = (workdir / "a.enc").read_bytes()

    def feed():
        with open(fifo, "wb") as w:
            w.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    proc = kmstui("inspect", str(fifo), "--output", "json", cwd=workdir)
    writer.join(timeout=30)
    assert proc.returncode == 0, proc.stderr  # today: "truncated inside frame 1", exit 1
    assert b'"Complete": true' in proc.stdout and b'"PlaintextLength": 70000' in proc.stdout
    bash = subprocess.run(["bash", "-c", f"{' '.join(KMSTUI)} inspect <(cat a.enc) --output json"], cwd=workdir,
                          capture_output=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert bash.returncode == 0 and b'"Complete": true' in bash.stdout, bash.stderr


def test_final_frame_with_a_wrong_sequence_number_is_not_complete(workdir, keyfiles, run):
    from kmstui_envelope.body import FINAL_MARK

    (workdir / "a").write_bytes(b"x" * 10000)
    run()("envelope", "encrypt", "a", "--raw-key", keyfiles["aes"], "--frame-size", "4096")
    data = bytearray((workdir / "a.enc").read_bytes())
    at = data.rindex(FINAL_MARK) + 4
    assert int.from_bytes(data[at:at + 4], "big") == 3
    data[at:at + 4] = (7).to_bytes(4, "big")
    (workdir / "bad.enc").write_bytes(bytes(data))
    res = run()("inspect", "bad.enc")
    assert res.exit_code == 1 and res.data["Complete"] is False
    assert res.data["Body"] == "malformed: final frame has sequence number 7, expected 3"


@pytest.mark.parametrize("direction", ["encrypt", "decrypt"])
def test_output_to_a_reader_that_goes_away_is_not_reported_as_success(workdir, keyfiles, run, direction):
    (workdir / "big").write_bytes(os.urandom(3_000_000))
    run()("envelope", "encrypt", "big", "--raw-key", keyfiles["aes"])
    src = "big" if direction == "encrypt" else "big.enc"
    shell = (f"{' '.join(KMSTUI)} envelope {direction} {src} --raw-key {keyfiles['aes']} --out - | head -c5 "
             "> five; echo ${PIPESTATUS[0]} > status")
    proc = subprocess.run(["bash", "-c", shell], cwd=workdir, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert (workdir / "five").read_bytes() and len((workdir / "five").read_bytes()) == 5
    assert (workdir / "status").read_text().strip() == "141"  # as a writer ended by SIGPIPE: not 0
    assert "half-written" not in proc.stderr and f"{direction}ed 1 file" not in proc.stderr
    assert proc.stderr == ""  # quiet, as a CLI is when its reader leaves


def test_frame_size_is_bounded_and_small_inputs_cost_little_memory(workdir, keyfiles):
    (workdir / "three").write_bytes(b"abc")
    big = kmstui("envelope", "encrypt", "three", "--raw-key", keyfiles["aes"], "--out", "-", "--frame-size",
                 "2147483647", cwd=workdir)
    assert big.returncode == 252 and b"--frame-size must be between 1 and 67108864" in big.stderr
    for src, stdin in (("three", b""), ("-", b"abc")):
        proc = kmstui("envelope", "encrypt", src, "--raw-key", keyfiles["aes"], "--out", "-", "--frame-size",
                      "64MiB", cwd=workdir, input=stdin, limit_mb=400)
        assert proc.returncode == 0, proc.stderr
        assert len(proc.stdout) > 3


def _edk_flood(count: int, size: int) -> bytes:
    """A v2 header start declaring `count` data keys of three `size`-byte fields each (what follows is
    generated lazily by the caller)."""
    head = bytes([2]) + (0x0478).to_bytes(2, "big") + os.urandom(32) + (0).to_bytes(2, "big")
    return head + count.to_bytes(2, "big")


def test_inspect_of_a_huge_header_on_stdin_is_bounded(workdir):
    field = (65535).to_bytes(2, "big") + b"A" * 65535
    flood = _edk_flood(65535, 65535) + (field * 3) * 40  # 23 MiB of data-key entries, and it claims 13 GB
    refused = kmstui("inspect", "-", "--output", "json", cwd=workdir, input=flood, limit_mb=400)
    assert refused.returncode == 1 and b"lists 65535 encrypted data keys; the limit is 10" in refused.stdout
    raised = kmstui("inspect", "-", "--max-edks", "65535", "--output", "json", cwd=workdir, input=flood,
                    limit_mb=400)
    assert raised.returncode == 1 and b"header is larger than 4 MiB" in raised.stdout, raised.stderr
    assert b"Traceback" not in raised.stderr


def test_max_edks_is_bounded_by_the_format(workdir, keyfiles, run):
    from kmstui.errors import UsageError

    (workdir / "a").write_bytes(b"x")
    run()("envelope", "encrypt", "a", "--raw-key", keyfiles["aes"])
    for bad in ("0", "70000", "-1"):
        with pytest.raises(UsageError, match="--max-edks must be between 1 and 65535"):
            run()("inspect", "a.enc", "--max-edks", bad)


