"""Start-up of a one-shot command stays lean (issue 13).

Every `kmstui envelope encrypt|decrypt` is a new process: before this work its fixed cost (imports, the
collector walking them, interpreter exit) was about a fifth of the wall time of a 1 GiB encryption, and in a
pipe (`tar c | kmstui envelope encrypt - | ...`) the processes either side wait for it. What a command does
not use is imported where it is used; this test runs the README flow (agent unsealed, no passphrase in the
environment) under `python -X importtime`, which names every module a process imports, and fails when one
of the modules below comes back into a command that does not need it, or when the count grows well past
what it is today (benchmarks/bench_startup.py measures the time itself).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Not needed by an envelope command with the default (unsigned) suite on the local backend, unsealed by the
# agent, with no organization, no config file and no data-key cache.
NOT_FOR_ENVELOPE = [
    "textual", "prompt_toolkit", "boto3", "botocore", "pkcs11", "uvicorn", "keyring",  # other faces/backends
    "kmstui.tui", "kmstui.shell", "kmstui.server", "kmstui_whatif", "kmstui_grants", "kmstui_advisor",
    "subprocess", "socket", "tempfile", "shutil", "tomllib", "traceback", "getpass", "platform", "uuid",  # stdlib
    "random", "difflib", "textwrap", "shlex", "bz2", "lzma",
    "dataclasses",  # building a dataclass costs about 0.25 ms (docs/architecture.md)
    "cryptography.hazmat.primitives.asymmetric", "cryptography.hazmat.primitives.serialization",  # signed suites
    "cryptography.hazmat.primitives.kdf.scrypt",  # a passphrase, not the agent
    "kmstui.authz.lint", "kmstui.authz.org", "kmstui.authz.layers", "kmstui.lines",
    "kmstui_envelope.inspect", "kmstui_envelope.cache", "kmstui_envelope.rawkeys",
]
MAX_MODULES = 240  # 218-222 on 2026-12-06 (278 before issue 13's start-up work)


def _imports(args: list[str], stdin: bytes, env: dict) -> tuple[list[str], bytes]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "kmstui", *args], input=stdin,
                          capture_output=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    names = [line.rsplit("|", 1)[1].strip() for line in proc.stderr.decode().splitlines()
             if line.startswith("import time:") and "|" in line and "cumulative" not in line]
    return names, proc.stdout


@pytest.fixture
def agent_env(unsealed_hsm):
    """The README flow: `hsm unseal` started the agent; the commands run without KMSTUI_PASSPHRASE."""
    key = unsealed_hsm.create_key(Description="start-up")["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/app", TargetKeyId=key)
    unsealed_hsm.close()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "kmstui", "hsm", "unseal", "--ttl", "120"], env=env, check=True,
                   capture_output=True, timeout=60)
    env.pop("KMSTUI_PASSPHRASE")
    env["KMSTUI_PLUGINS"] = "envelope"
    env["KMSTUI_WARM"] = "0"  # the command's own start-up, not the warm launcher's (tests/test_warm.py)
    yield env
    subprocess.run([sys.executable, "-m", "kmstui", "hsm", "seal"], env=env, capture_output=True, timeout=60)


def test_envelope_commands_import_only_what_they_use(agent_env):
    enc, message = _imports(["envelope", "encrypt", "-", "--key-id", "alias/app"], b"secret", agent_env)
    dec, plain = _imports(["envelope", "decrypt", "-"], message, agent_env)
    assert plain == b"secret"  # a real round trip through the agent-unsealed HSM
    for names in (enc, dec):
        loaded = set(names)
        unwanted = sorted(m for m in loaded if m.split(".")[0] in NOT_FOR_ENVELOPE or
                          any(m == p or m.startswith(p + ".") for p in NOT_FOR_ENVELOPE))
        assert not unwanted, f"imported without being used: {unwanted}"
        assert len(loaded) <= MAX_MODULES, f"{len(loaded)} modules imported (limit {MAX_MODULES})"


def test_without_kmstui_home_a_command_imports_neither_platformdirs_nor_tempfile(tmp_path):
    """A user who followed the README has no KMSTUI_HOME: the HSM lives in the XDG data folder under HOME and
    the agent's socket under XDG_RUNTIME_DIR. Finding those folders must not cost platformdirs' tempfile chain
    (kmstui/xdg_dirs.py)."""
    (tmp_path / "run").mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith(("XDG_", "KMSTUI_"))}
    env.update(HOME=str(tmp_path), XDG_RUNTIME_DIR=str(tmp_path / "run"), NO_COLOR="1", KMSTUI_KDF_COST="8")
    setup = {**env, "KMSTUI_PASSPHRASE": "start-up passphrase"}

    def kmstui(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "kmstui", *args], env=setup, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=60)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    kmstui("hsm", "init")
    key = kmstui("key", "create", "--query", "KeyMetadata.KeyId", "--output", "text").strip()
    kmstui("alias", "create", "alias/app", key)
    kmstui("hsm", "unseal", "--ttl", "120")
    try:
        assert (tmp_path / ".local" / "share" / "kmstui" / "hsm.kmstui").is_file()
        names, message = _imports(["envelope", "encrypt", "-", "--key-id", "alias/app"], b"secret",
                                  {**env, "KMSTUI_PLUGINS": "envelope"})
        assert message  # encrypted through the agent, no passphrase in the environment
        assert not [m for m in names if m.split(".")[0] in ("platformdirs", "tempfile", "shutil", "bz2", "lzma")]
    finally:
        kmstui("hsm", "seal")
