"""Shared fixtures: an isolated KMSTUI_HOME for every test, an unsealed local HSM, a SoftHSM2 token and a
moto server on 127.0.0.1. Real components only; each fixture skips nothing silently."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
