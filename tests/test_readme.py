"""README.md's tour runs exactly as written: every line through bash, in order, as a new user would type it
(with KMSTUI_PASSPHRASE standing in for the typed passphrase and a cheap KDF)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PASSPHRASE = "correct horse battery staple"


def tour_lines() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## A tour\n.*?```sh\n(.*?)```", text, re.S)
    assert block, "README.md lost its '## A tour' sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_tour_runs_as_written(tmp_path, kmstui_home):
    work = tmp_path / "work"
    work.mkdir()
    (work / "samples").symlink_to(REPO / "samples")
    (work / "report.pdf").write_bytes(os.urandom(5000))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kmstui").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m kmstui "$@"\n')
    (bin_dir / "kmstui").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "KMSTUI_PASSPHRASE": PASSPHRASE,
           "KMSTUI_KDF_COST": "8"}
    outputs = {}
    try:
        for line in tour_lines():
            proc = subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=work, env=env, capture_output=True,
                                  text=True, timeout=120)
            assert proc.returncode == 0, f"README line failed ({proc.returncode}): {line}\n{proc.stderr}"
            outputs[line.split("#")[0].strip()] = proc.stdout
    finally:
        subprocess.run(["bash", "-c", "kmstui hsm seal"], cwd=work, env=env, capture_output=True, timeout=60)
    decrypted = [out for cmd, out in outputs.items() if cmd.startswith("kmstui decrypt")]
    assert decrypted == ["hello"], "the decrypt | base64 -d line must print the encrypted text"
    inspected = [cmd.split()[2] for cmd in outputs if cmd.startswith("kmstui inspect")]
    assert inspected and all((work / name).is_file() for name in inspected), "inspect names the file envelope wrote"
