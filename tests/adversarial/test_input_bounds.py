"""Every input has a bound (issue 11 item 7): endless or huge inputs end in one clean line, quickly, with
the process's address space capped (RLIMIT_AS), so an unbounded read would fail the test instead of
slowly eating the machine. The bounds are documented in docs/inputs.md."""

from __future__ import annotations

import os
import resource
import subprocess

import pytest

from tests.conftest import KMSTUI, REPO

LIMIT_MB = 400  # a kmstui process needs well under 100 MiB of address space for these


def kmstui(*args: str, stdin=None, input: bytes | None = None, cwd=None):
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT_MB << 20, LIMIT_MB << 20))
    return subprocess.run([*KMSTUI, *args], stdin=stdin, input=input, capture_output=True, timeout=120,
                          cwd=cwd or str(REPO), preexec_fn=cap, env={**os.environ, "PYTHONPATH": str(REPO)})


def one_line(proc) -> str:
    err = proc.stderr.decode()
    assert "Traceback" not in err and "MemoryError" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_run_dev_zero_is_refused_at_the_script_bound():
    proc = kmstui("run", "/dev/zero")
    assert proc.returncode == 252 and "script /dev/zero is larger than 16 MiB" in one_line(proc)


def test_commands_from_dev_zero_on_stdin_are_refused_at_the_script_bound():
    with open("/dev/zero", "rb") as zero:
        proc = kmstui(stdin=zero)
    assert proc.returncode == 252 and "the script on <stdin> is larger than 16 MiB" in one_line(proc)


def test_one_overlong_line_is_refused_and_the_rest_of_the_script_runs(tmp_path):
    script = tmp_path / "s.kms"
    script.write_text("version --output text\nkey list --description " + "x" * (1 << 20) + "\nversion --output text\n")
    proc = kmstui("run", str(script), "--keep-going")
    assert proc.returncode == 252
    assert f"{script}:2: error: line is longer than 1 MiB" in one_line(proc)
    assert proc.stdout.decode().count("kmstui ") == 2


def test_sign_in_dev_zero_is_refused_before_any_backend(unsealed_hsm):
    key = unsealed_hsm.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    proc = kmstui("sign", "--key-id", key, "--in", "/dev/zero")
    assert proc.returncode == 252 and "--in /dev/zero is larger than 64 MiB" in one_line(proc)


@pytest.mark.parametrize("args, message", [
    (["encrypt", "--key-id", "alias/x", "--plaintext", "fileb:///dev/zero"], "larger than 1 MiB"),
    (["envelope", "encrypt", "README.md", "--raw-key", "/dev/zero"], "--raw-key /dev/zero is larger than 64 KiB"),
    (["whatif", "--key-policy", "/dev/zero", "--principal", "arn:aws:iam::111122223333:root", "--action",
      "kms:Decrypt"], "--key-policy /dev/zero is larger than 64 MiB"),
    (["key", "create", "--policy", "/dev/zero"], "--policy /dev/zero is larger than 1 MiB"),
], ids=["fileb", "raw-key", "whatif-key-policy", "key-create-policy"])
def test_whole_file_inputs_are_bounded(args, message):
    proc = kmstui(*args)
    assert proc.returncode == 252 and message in one_line(proc)


POLICY = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", '
          '"Resource": "*"}]}')


@pytest.mark.parametrize("args, code, message", [
    (["advise", "--answers", "/dev/zero"], 252, "--answers /dev/zero is larger than 64 MiB"),
    (["advise", "facts", "--facts", "/dev/zero"], 252, "--facts /dev/zero is larger than 64 MiB"),
    (["policy", "diff", "--proposed", "{P}", "--key-policy", "{P}", "--requests", "/dev/zero"], 252,
     "--requests /dev/zero: /dev/zero: a line is longer than 64 MiB"),
], ids=["advise-answers", "advise-facts", "policy-diff-requests"])
def test_plugin_file_inputs_are_bounded(tmp_path, args, code, message):
    """Found after issue 11: these files were read whole (read_text, readline) with no bound, so /dev/zero was
    a MemoryError under the address-space cap. They go through the core's bounded reader now."""
    policy = tmp_path / "policy.json"
    policy.write_text(POLICY)
    proc = kmstui(*[str(policy) if a == "{P}" else a for a in args])
    assert proc.returncode == code and message in one_line(proc)


def test_a_json_document_of_requests_is_bounded(tmp_path):
    """A file that is not JSON lines is read as one JSON document: that read is bounded too."""
    from kmstui.authz import replay

    big = tmp_path / "big.json"
    with big.open("w") as fh:  # a first line that is not JSON on its own, then more than the bound
        fh.write("[\n")
        fh.truncate(replay.MAX_EVENT_FILE + 16)
    with pytest.raises(ValueError, match="a JSON document larger than 64 MiB"):
        list(replay.iter_requests(big))


@pytest.mark.parametrize("where", ["config.toml", "themes/zero.toml"])
@pytest.mark.parametrize("what, says", [("/dev/zero", "is a device, not a regular file"),
                                        ("big", "is larger than 1 MiB, kmstui's bound for it")],
                         ids=["device", "big-file"])
def test_settings_files_are_bounded(kmstui_home, where, what, says):
    """config.toml and theme files are kmstui's own, but a link to /dev/zero or a runaway file must still end
    in one line, not a MemoryError (nor a wait: a device or pipe is refused before it is read)."""
    target = kmstui_home / "config" / where
    target.parent.mkdir(parents=True)
    if what == "big":
        with open(target, "wb") as fh:
            fh.truncate((1 << 20) + 1)
    else:
        target.symlink_to(what)
    proc = kmstui("theme", "list")
    assert says in one_line(proc)
    assert proc.returncode == (253 if where == "config.toml" else 0)


def test_whatif_scenario_dev_zero_is_refused():
    proc = kmstui("whatif", "--scenario", "/dev/zero", "--output", "json")
    assert proc.returncode in (1, 252)
    assert "Traceback" not in proc.stderr.decode() and "MemoryError" not in proc.stderr.decode()
    text = proc.stderr.decode() + proc.stdout.decode()
    assert "/dev/zero" in text


def test_bounds_table_in_the_docs_names_every_bound():
    from kmstui.commands.values import MAX_INPUT_BYTES, MAX_VALUE_BYTES
    from kmstui.lines import MAX_LINE_CHARS, MAX_SCRIPT_BYTES

    docs = (REPO / "docs" / "inputs.md").read_text()
    for bound, words in ((MAX_VALUE_BYTES, "1 MiB"), (MAX_INPUT_BYTES, "64 MiB"), (MAX_SCRIPT_BYTES, "16 MiB"),
                         (MAX_LINE_CHARS, "1 MiB")):
        assert words in docs and bound == int(words.split()[0]) << 20


def test_audit_show_limit_is_bounded(session, unsealed_hsm):
    """Found by the argument fuzzer: --limit 9223372036854775808 was an internal OverflowError (exit 255)."""
    from kmstui.errors import UsageError

    for value in ("9223372036854775808", "1000001", "0"):
        with pytest.raises(UsageError, match="--limit must be between 1 and 1000000"):
            session.execute(["audit", "show", "--limit", value])


@pytest.mark.parametrize("words", [
    ["key", "create", "--policy", "a\x00b"], ["inspect", "x\x00"], ["encrypt", "--key-id", "k", "--in", "\x00"],
    ["encrypt", "--key-id", "k", "--plaintext", "fileb://a\x00b"], ["envelope", "encrypt", "\x00", "--raw-key", "k"],
])
def test_nul_in_a_file_name_is_a_usage_error(session, words):
    """Found by the argument fuzzer: a NUL in a path (typed in a script or the REPL) was an internal
    ValueError ("embedded null byte"), exit 255."""
    from kmstui.errors import UsageError

    with pytest.raises(UsageError, match="NUL character"):
        session.execute(words)
