"""Shared fixtures: an isolated KMSTUI_HOME for every test, an unsealed local HSM, a SoftHSM2 token and a
moto server on 127.0.0.1. Real components only; each fixture skips nothing silently."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
KMSTUI = [sys.executable, "-m", "kmstui"]
TEST_PASSPHRASE = "correct horse battery staple"


@pytest.fixture(autouse=True)
def kmstui_home(tmp_path, monkeypatch):
    """Every test gets its own config and state folder, and no ambient kmstui settings."""
    home = tmp_path / "kmstui-home"
    monkeypatch.setenv("KMSTUI_HOME", str(home))
    for var in ("KMSTUI_PROFILE", "KMSTUI_PASSPHRASE", "KMSTUI_AS", "KMSTUI_PLUGINS", "KMSTUI_OUTPUT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    return home


# -- issue 4: AWS KMS on a moto server, a SoftHSM2 token, and profiles pointing at them ---------------------
import dataclasses as _dc  # noqa: E402
import shutil as _shutil  # noqa: E402
import subprocess as _subprocess  # noqa: E402

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
}
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@_dc.dataclass
class MotoServer:
    """A moto server on 127.0.0.1; `env` is what a subprocess needs to reach it with dummy credentials."""

    url: str
    env: dict

    def reset(self) -> None:
        """Wipe every key, alias and grant (moto's own reset endpoint)."""
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10).read()


@pytest.fixture(scope="session")
def moto_server():
    """moto in server mode on 127.0.0.1 (real HTTP), with AWS_ENDPOINT_URL and dummy credentials exported so
    boto3, kmstui's aws backend and subprocesses reach it and never a developer's real account."""
    import logging

    server_mod = pytest.importorskip("moto.server", reason="moto (with flask, flask-cors) is not installed")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    env = {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": url}
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("AWS_PROFILE", raising=False)
        mp.delenv("AWS_ENDPOINT_URL_KMS", raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        yield MotoServer(url, env)
    server.stop()


@_dc.dataclass
class SoftHSMToken:
    """An initialised SoftHSM2 token in a private token directory (SOFTHSM2_CONF is exported)."""

    conf: Path
    label: str
    pin: str
    so_pin: str
    module: str = SOFTHSM_MODULE

    @property
    def env(self) -> dict:
        return {"SOFTHSM2_CONF": str(self.conf), "KMSTUI_PKCS11_PIN": self.pin}

    def init_token(self, label: str, pin: str | None = None) -> None:
        """Initialise another token in the same private directory (the backend finds it by label)."""
        _subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", self.so_pin,
                         "--pin", pin or self.pin], env={**os.environ, "SOFTHSM2_CONF": str(self.conf)},
                        check=True, capture_output=True)


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory):
    """A SoftHSM2 token 'kmstui-test' (PIN 1234) in a private directory; SOFTHSM2_CONF points at it."""
    if _shutil.which("softhsm2-util") is None or not Path(SOFTHSM_MODULE).exists():
        pytest.skip("SoftHSM2 is not installed (apt-get install softhsm2): softhsm2-util or "
                    f"{SOFTHSM_MODULE} missing")
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base}/tokens\nobjectstore.backend = file\n"
                    "log.level = ERROR\nslots.removable = false\n")
    token = SoftHSMToken(conf, "kmstui-test", "1234", "12345678")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(conf))
        token.init_token(token.label)
        yield token


def write_profile(name: str, backend: str, **settings) -> Path:
    """Add or replace `[profiles.NAME]` in $KMSTUI_HOME/config/config.toml, keeping the rest of the file."""
    import tomllib

    import tomli_w

    path = Path(os.environ["KMSTUI_HOME"]) / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data.setdefault("profiles", {})[name] = {"backend": backend, **settings}
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def pkcs11_profile(softhsm_token, kmstui_home, monkeypatch):
    """A profile 'hsm' for the SoftHSM2 token, with the PIN in KMSTUI_PKCS11_PIN; returns its name."""
    write_profile("hsm", "pkcs11", module=softhsm_token.module, token_label=softhsm_token.label)
    monkeypatch.setenv("KMSTUI_PKCS11_PIN", softhsm_token.pin)
    return "hsm"


@pytest.fixture
def aws_profile(moto_server, kmstui_home):
    """A profile 'kms' for the moto server (endpoint_url and region set explicitly); returns its name."""
    write_profile("kms", "aws", region="us-east-1", endpoint_url=moto_server.url)
    return "kms"


# -- issue 2 (command shell): run the real entry point in a subprocess -------------------------------------
@_dc.dataclass
class CliRun:
    code: int
    out: str
    err: str

    @property
    def errors(self) -> list[str]:
        """stderr lines that report an error (plugin-load notes from unfinished plugins left out)."""
        return [line for line in self.err.splitlines() if "error" in line and "failed to load" not in line]


@pytest.fixture
def run_kmstui(kmstui_home):
    """`run_kmstui(*args, input=None, env=None)` runs `python -m kmstui ARGS` with stdin from `input`
    (a pipe, so never a TTY) and returns CliRun(code, out, err)."""

    def run(*args: str, input: str | None = None, env: dict | None = None, timeout: float = 120) -> CliRun:
        proc = _subprocess.run([*KMSTUI, *args], input=input if input is not None else "", capture_output=True,
                               text=True, env={**os.environ, **(env or {})}, timeout=timeout, cwd=str(REPO))
        return CliRun(proc.returncode, proc.stdout, proc.stderr)

    def ok(*args: str, **kw) -> Any:
        """`run_kmstui.ok(ARGS)`: run with --output json, require exit 0, and return the parsed stdout (None
        when the command printed nothing)."""
        result = run(*args, "--output", "json", **kw)
        assert result.code == 0, result.err
        return json.loads(result.out) if result.out.strip() else None

    run.ok = ok  # type: ignore[attr-defined]
    return run


# -- local HSM fixtures (kmstui.backends.local) -------------------------------------------------------------
@pytest.fixture
def unsealed_hsm(kmstui_home, monkeypatch):
    """A fresh local HSM file at the default path in this test's KMSTUI_HOME, created with TEST_PASSPHRASE
    (cheap KDF), opened and unsealed. KMSTUI_PASSPHRASE is set so Sessions and subprocesses unseal it too.
    Yields the LocalBackend (``.path`` is the file, ``.audit.path`` its audit log; ``.clock`` can be set)."""
    from kmstui.backends.local.backend import LocalBackend
    from kmstui.backends.local.unseal import create_hsm
    from kmstui.config import Paths

    monkeypatch.setenv("KMSTUI_KDF_COST", "8")
    monkeypatch.setenv("KMSTUI_PASSPHRASE", TEST_PASSPHRASE)
    path = Paths.discover().data_dir / "hsm.kmstui"
    store, keys = create_hsm(path, TEST_PASSPHRASE, account_id="111122223333", region="us-east-1")
    backend = LocalBackend(store, keys)
    yield backend
    backend.close()


@pytest.fixture
def session(unsealed_hsm):
    """A kmstui.session.Session (plugins loaded, not interactive) on the unsealed_hsm file."""
    from kmstui.session import Session

    s = Session()
    yield s
    s.close()


@pytest.fixture
def memory_keyring():
    """An in-memory OS keyring for this test (the container has none: keyring raises NoKeyringError)."""
    import keyring
    from keyring.backend import KeyringBackend
    from keyring.errors import PasswordDeleteError

    class MemoryKeyring(KeyringBackend):
        priority = 1

        def __init__(self):
            super().__init__()
            self.store = {}

        def get_password(self, service, username):
            return self.store.get((service, username))

        def set_password(self, service, username, password):
            self.store[(service, username)] = password

        def delete_password(self, service, username):
            if self.store.pop((service, username), None) is None:
                raise PasswordDeleteError(username)

    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(previous)


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False,
                     help="also run the long campaigns marked 'slow' (adversarial loops, long fuzzing)")


def pytest_configure(config):
    config.addinivalue_line("markers", "packaging: builds and installs the wheel (needs the build backend from the "
                                       "package index); deselect offline with -m 'not packaging'")
    config.addinivalue_line("markers", "slow: a long campaign, run only with --slow (CI keeps the short form)")


def pytest_collection_modifyitems(config, items):
    """Tests marked `slow` are skipped unless --slow is given; `slow_mode` tells a test which length to run."""
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="long campaign: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def slow_mode(request) -> bool:
    """True under --slow: a test with a short CI form and a long form picks its length from this."""
    return bool(request.config.getoption("--slow"))


# -- issue 15: `kmstui serve` on a free port, with a store of its own ---------------------------------------
@_dc.dataclass
class KmstuiServer:
    """A running `kmstui serve` (a subprocess on 127.0.0.1) and the store it owns.

    `root` holds the account root's access key; `admin()` opens the same store in this process (for set-up:
    identity policies, roles, more access keys; SQLite lets both processes share the file); `client()` makes
    a boto3 client for the endpoint; `env(creds)` is what an aws CLI subprocess needs."""

    url: str
    home: Path
    store: Path
    keys: object
    account: str
    region: str
    root: tuple
    proc: object
    stderr: Path

    def admin(self):
        from kmstui.backends.local.backend import open_path

        return open_path(self.store, self.keys)

    def access_key(self, user: str | None = None, **kw) -> tuple:
        backend = self.admin()
        try:
            made = backend.create_access_key(**({"UserName": user} if user else {}), **kw)["AccessKey"]
        finally:
            backend.close()
        return made["AccessKeyId"], made["SecretAccessKey"]

    def client(self, creds: tuple | None = None, service: str = "kms", **kw):
        import boto3
        from botocore.config import Config

        akid, secret, *token = creds or self.root
        return boto3.client(service, endpoint_url=self.url, region_name=self.region, aws_access_key_id=akid,
                            aws_secret_access_key=secret, aws_session_token=token[0] if token else None,
                            config=Config(retries={"max_attempts": 1}), **kw)

    def env(self, creds: tuple | None = None) -> dict:
        akid, secret, *token = creds or self.root
        env = {**os.environ, **AWS_TEST_ENV, "AWS_ACCESS_KEY_ID": akid, "AWS_SECRET_ACCESS_KEY": secret,
               "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region}
        env.pop("AWS_ENDPOINT_URL", None)
        if token:
            env["AWS_SESSION_TOKEN"] = token[0]
        else:
            env.pop("AWS_SESSION_TOKEN", None)
        return env

    def log(self) -> str:
        return self.stderr.read_text(errors="replace")


def start_kmstui_server(base: Path, *extra: str, account: str = "111122223333", region: str = "us-east-1",
                        store=None) -> KmstuiServer:
    """Create a store under `base` (unless `store` = (path, keys) is given), issue a root access key and start
    `kmstui serve --port 0` on it; returns when the server answers."""
    import json
    import socket
    import time

    from kmstui.backends.local.backend import LocalBackend
    from kmstui.backends.local.unseal import create_hsm

    home = base / "server-home"
    env = {**os.environ, "KMSTUI_HOME": str(home), "KMSTUI_PASSPHRASE": TEST_PASSPHRASE, "KMSTUI_KDF_COST": "8",
           "NO_COLOR": "1"}
    for var in ("KMSTUI_PROFILE", "KMSTUI_AS", "KMSTUI_OUTPUT", "AWS_ENDPOINT_URL"):
        env.pop(var, None)
    if store is None:
        path = home / "data" / "hsm.kmstui"
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("KMSTUI_KDF_COST", "8")
            st, keys = create_hsm(path, TEST_PASSPHRASE, account_id=account, region=region)
        backend = LocalBackend(st, keys)
    else:
        path, keys = store
        from kmstui.backends.local.backend import open_path

        backend = open_path(path, keys)
        account, region = backend.account_id, backend.region
        (home / "config").mkdir(parents=True, exist_ok=True)
        (home / "config" / "config.toml").write_text(f'[profiles.local]\nbackend = "local"\npath = "{path}"\n')
    try:
        made = backend.create_access_key()["AccessKey"]
    finally:
        backend.close()
    stderr = base / "server.stderr"
    proc = _subprocess.Popen([*KMSTUI, "serve", "--port", "0", "--quiet", *extra], env=env, cwd=str(REPO),
                             stdin=_subprocess.DEVNULL, stdout=_subprocess.DEVNULL, stderr=open(stderr, "wb"))
    deadline = time.monotonic() + 240  # generous: a loaded 2-core machine running the suite on 2 workers
    state = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kmstui serve exited with {proc.returncode}: {stderr.read_text()}")
        for f in (home / "data" / "serve").glob("server-*.json"):
            try:
                state = json.loads(f.read_text())
            except ValueError:
                continue
        if state:
            try:
                socket.create_connection((state["Host"], state["Port"]), timeout=1).close()
                break
            except OSError:
                pass
        time.sleep(0.05)
    else:
        proc.kill()
        raise RuntimeError(f"kmstui serve did not start: {stderr.read_text()}")
    return KmstuiServer(state["Url"], home, path, keys, account, region,
                        (made["AccessKeyId"], made["SecretAccessKey"]), proc, stderr)


def stop_kmstui_server(server: KmstuiServer) -> int:
    import signal

    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            return server.proc.wait(timeout=30)
        except _subprocess.TimeoutExpired:
            server.proc.kill()
            return server.proc.wait()
    return server.proc.returncode


@pytest.fixture(scope="module")
def kmstui_server(tmp_path_factory):
    """A `kmstui serve` for the tests of one module (its own store, account 111122223333, us-east-1)."""
    pytest.importorskip("uvicorn", reason="kmstui serve needs the 'serve' extra (uvicorn)")
    base = tmp_path_factory.mktemp("kmstui-serve")
    server = start_kmstui_server(base)
    yield server
    stop_kmstui_server(server)


@pytest.fixture
def serve_tools():
    """start_kmstui_server / stop_kmstui_server / write_profile for tests that need their own server or profile
    (test modules cannot import from conftest: several conftest.py files exist)."""
    import types

    return types.SimpleNamespace(start=start_kmstui_server, stop=stop_kmstui_server, write_profile=write_profile)


# -- aws-encryption-cli, in a venv of its own ----------------------------------------------------------------
ESDK_CLI_VENV = Path(__import__("tempfile").gettempdir()) / "kmstui-esdk-cli"


@pytest.fixture(scope="session")
def esdk_cli() -> str:
    """The real `aws-encryption-cli` executable. It pins aws-encryption-sdk 3.x, which clashes with the 4.x of
    kmstui's test extra, so it lives in a venv of its own: KMSTUI_ESDK_CLI names one (.ci/run makes it), else
    it is installed from PyPI into ESDK_CLI_VENV on first use (under a lock: xdist workers share it). Without
    network access the install fails and the tests that need it are skipped, saying so."""
    import fcntl

    given = os.environ.get("KMSTUI_ESDK_CLI")
    if given:
        return given
    exe = ESDK_CLI_VENV / "bin" / "aws-encryption-cli"
    with open(f"{ESDK_CLI_VENV}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not exe.exists():
            try:
                _subprocess.run([sys.executable, "-m", "venv", str(ESDK_CLI_VENV)], check=True, capture_output=True)
                _subprocess.run([str(ESDK_CLI_VENV / "bin" / "pip"), "install", "-q", "aws-encryption-sdk-cli>=4.3,<5"],
                                check=True, capture_output=True, timeout=240)
            except (_subprocess.CalledProcessError, _subprocess.TimeoutExpired) as exc:
                _shutil.rmtree(ESDK_CLI_VENV, ignore_errors=True)
                pytest.skip(f"could not install aws-encryption-sdk-cli into {ESDK_CLI_VENV} ({exc}); "
                            "set KMSTUI_ESDK_CLI to an aws-encryption-cli executable")
    return str(exe)
