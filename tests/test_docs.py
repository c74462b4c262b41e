"""The docs a new user starts from stay true: README.md's tour runs exactly as written, and the layout table
in docs/architecture.md names paths that exist and covers every top-level piece of the core."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PASSPHRASE = "correct horse battery staple"


def tour_lines() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## A tour\n.*?```sh\n(.*?)```", text, re.S)
    assert block, "README.md lost its '## A tour' sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


@pytest.mark.parametrize("start", ["fresh", "tui-created-the-hsm"])
def test_readme_tour_runs_as_written(tmp_path, kmstui_home, start):
    """The tour works whichever way a newcomer starts: on a fresh machine, or after README's first command
    (the TUI) offered to create the HSM and they accepted (issue 12 item 18)."""
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
    if start != "fresh":  # what the TUI's first-run dialog does: the same create_hsm as 'hsm init'
        made = subprocess.run(["bash", "-c", "kmstui hsm init"], cwd=work, env=env, capture_output=True, text=True,
                              timeout=120)
        assert made.returncode == 0, made.stderr
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


def layout_rows() -> list[tuple[str, list[str]]]:
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = text.split("## Who owns what", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:4] for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    return [(piece.strip(), re.findall(r"`([^`]+)`", where + notes)) for piece, where, notes in rows[1:]]


def test_architecture_layout_names_real_paths_and_every_core_module():
    # a row names paths from the repository root, or inside the folder its row is about (`base.py` in backends)
    bases = (REPO, REPO / "kmstui" / "commands", REPO / "kmstui" / "backends")
    named = set()
    for piece, paths in layout_rows():
        for path in paths:
            if not re.fullmatch(r"[\w./*-]+\.(py|md)|[\w./*-]+/", path) or "_themes" in path:
                continue  # not a file or folder name (a flag, a hook, the wheel-only theme folder)
            assert any(list(base.glob(path.rstrip("/"))) for base in bases), \
                f"docs/architecture.md row {piece!r} names {path}, which does not exist"
            named.add(path.rstrip("/"))
    core = {p.name for p in (REPO / "kmstui").iterdir()
            if p.name != "__init__.py" and (p.suffix == ".py" or (p / "__init__.py").exists())}
    missing = sorted(n for n in core if not any(x == f"kmstui/{n}" or x.startswith(f"kmstui/{n}/") for x in named))
    assert not missing, f"docs/architecture.md's layout table does not mention kmstui/{missing}"
