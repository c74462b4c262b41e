"""Plugin discovery (kmstui.plugins): the entry-point lookup agrees with importlib.metadata, finds a
third-party plugin with its distribution's name and version, stays fail-soft, and start-up registers the
built-in plugins' commands without importing their handler modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata

import pytest

from kmstui.plugins import entry_points

KMSTUI = [sys.executable, "-m", "kmstui"]

# What the built-in plugins' command handlers import; none of it is needed to parse, list or help.
HEAVY_MODULES = ("kmstui_grants.commands", "kmstui_whatif.commands", "kmstui_whatif.matrix",
                 "kmstui_whatif.lintdiff", "kmstui_envelope.handlers", "kmstui_advisor.engine", "kmstui.authz")


@pytest.mark.parametrize("group", ["kmstui", "console_scripts", "pytest11"])
def test_entry_points_agree_with_importlib_metadata(group):
    ours = sorted((ep.name, ep.value, ep.dist_name, ep.dist_version) for ep in entry_points(group))
    theirs = sorted((ep.name, ep.value, ep.dist.metadata["Name"], ep.dist.version)
                    for ep in metadata.entry_points(group=group))
    assert ours == theirs
    if group == "kmstui":
        assert {"envelope", "whatif", "grants", "advisor"} <= {name for name, *_ in ours}


def _third_party(root, *, dist="Acme-KMS_Tools", version="2.3.1", module="acme_kms_plugin", body=None):
    """A plugin installed the way pip lays one out: a module and a *.dist-info folder naming it."""
    info = root / f"{dist.replace('-', '_').lower()}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n\nA plugin.\n")
    (info / "entry_points.txt").write_text(
        "[console_scripts]\nacme = acme:main\n\n# comment\n[kmstui]\nacme = " + module + "\n")
    (root / f"{module}.py").write_text(body if body is not None else (
        "from kmstui.commands.registry import Result\nfrom kmstui.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef register_commands(registry):\n"
        "    registry.command('acme hello', 'say hello', needs_backend=False)(lambda s, a: Result(data='hi'))\n"))
    return root


def _run(args, root, **env):
    return subprocess.run([*KMSTUI, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(root), **env})


def test_a_third_party_plugin_is_found_with_its_distribution(tmp_path):
    root = _third_party(tmp_path / "site")
    proc = _run(["plugins", "--output", "json"], root)
    assert proc.returncode == 0, proc.stderr
    acme = {p["Name"]: p for p in json.loads(proc.stdout)["Plugins"]}["acme"]
    assert acme == {"Name": "acme", "Version": "2.3.1", "Module": "acme_kms_plugin", "Source": "Acme-KMS_Tools"}
    hello = _run(["acme", "hello", "--output", "json"], root)
    assert json.loads(hello.stdout) == "hi"


def test_a_plugin_that_fails_to_import_is_reported_and_skipped(tmp_path):
    root = _third_party(tmp_path / "site", body="raise RuntimeError('broken on purpose')\n")
    proc = _run(["version", "--output", "json"], root)
    assert proc.returncode == 0
    assert "plugin 'acme' failed to load (RuntimeError: broken on purpose); skipped" in proc.stderr
    assert json.loads(proc.stdout)["Version"]


def test_the_first_distribution_of_a_name_on_sys_path_wins(tmp_path, monkeypatch):
    first = _third_party(tmp_path / "a", version="1.0")
    _third_party(tmp_path / "b", version="9.9")
    monkeypatch.setattr(sys, "path", [str(first), str(tmp_path / "b"), *sys.path])
    versions = [ep.dist_version for ep in entry_points("kmstui") if ep.name == "acme"]
    assert versions == ["1.0"]


def test_startup_registers_plugin_commands_without_importing_their_handlers(tmp_path):
    """`kmstui version` and a Session built as the CLI builds it: every plugin command is registered, and
    no handler module (nor kmstui.authz behind them) has been imported."""
    code = (
        "import sys, json\n"
        "from kmstui.cli import main\n"
        "assert main(['version']) == 0\n"
        "from kmstui.session import Session\n"
        "s = Session()\n"
        "names = {c.name for c in s.registry}\n"
        "print(json.dumps({'loaded': sorted(m for m in sys.modules if m.startswith(%r)),\n"
        "                  'commands': sorted(names)}))\n" % (HEAVY_MODULES,)
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "KMSTUI_HOME": str(tmp_path / "home")})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    assert report["loaded"] == []
    for name in ("grant create", "whatif", "policy matrix", "policy diff", "envelope encrypt", "advise"):
        assert name in report["commands"]


def test_a_lazily_registered_plugin_command_runs(run_kmstui, tmp_path):
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*",
         "Resource": "*"}]}))
    r = run_kmstui("policy", "lint", str(policy), "--output", "json")
    assert r.code in (0, 1), r.err
    assert isinstance(json.loads(r.out), dict)
