"""Start-up cost of one `kmstui envelope` command, side by side with age and an earlier kmstui (run by hand).

Why it matters (issue 13): every `kmstui envelope encrypt|decrypt` starts a Python process, loads kmstui, its
plugins and the local backend, asks the unseal agent for the root key, makes one backend call and exits. On a
1 GiB file that fixed cost was about a fifth of the wall time, and in a pipe (`tar c | kmstui ... | ...`) the
processes on either side wait for it. So this measures the commands on an EMPTY input, where the fixed cost is
all there is:
  kmstui envelope encrypt - < empty      kmstui envelope decrypt - < empty.enc      kmstui --version
  age -r R < empty                       age -d -i KEY < empty.age                  (the peer's fixed cost)
  python -c pass                         (the interpreter's own start-up: the floor for any Python tool)
"kmstui" is what a user runs (the script hands the command to the warm launcher `hsm unseal` started);
"kmstui own-process" the same commands with KMSTUI_WARM=0, run in their own process.
The local HSM is set up as the README does (default KDF cost, unseal agent running). Rounds are interleaved
(rotating order); medians and min-max are reported, with CPU time (user+sys), steadier on a busy machine.

    python benchmarks/bench_startup.py [--rounds 30] [--baseline REV] [--dir DIR]

--baseline REV (repeatable) adds rows "kmstui@REV": the whole kmstui tree (core and plugins) of that git
revision, run by the same interpreter and dependencies (first on PYTHONPATH), e.g. 76c8c03 (before the
start-up work of issue 13).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from peers import REPO, ReadmeHsm, banner, closing, interleaved, median, spread, with_pythonpath


def run(cmd: list[str], env: dict, stdin: Path) -> tuple[float, float]:
    """(wall s, CPU s) of one child reading `stdin`, its output discarded."""
    import time

    with open(stdin, "rb") as inp:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdin=inp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err = proc.stderr.read() if proc.stderr else b""
        proc.stderr.close() if proc.stderr else None
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err.decode(errors='replace').strip()[-1000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def tree_env(spec: str, env: dict, into: Path) -> dict:
    """An environment running kmstui (core and plugins) as it was at git revision `spec`."""
    dest = Path(tempfile.mkdtemp(prefix="kmstui-tree-", dir=into))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", spec, "kmstui", "plugins"], capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"--baseline {spec}: not a git revision of this repository "
                         f"({archive.stderr.decode().strip()})")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return with_pythonpath(with_pythonpath(env, dest / "plugins"), dest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--baseline", metavar="REV", action="append", default=[])
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kmstui-bench-start-", dir=args.dir))
    try:
        with ReadmeHsm(tmp / "home", plugins="envelope", user_dirs=True) as hsm:
            key = hsm.run("key", "create", "--query", "KeyMetadata.KeyId", "--output", "text", setup=True).strip()
            hsm.run("alias", "create", "alias/bench", key, setup=True)
            bench(args, tmp, hsm)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench(args, tmp: Path, hsm: ReadmeHsm) -> None:
    empty = tmp / "empty"
    empty.write_bytes(b"")
    subprocess.run(["age-keygen", "-o", str(tmp / "age.key")], check=True, capture_output=True)
    recipient = [line.split(": ")[1] for line in (tmp / "age.key").read_text().splitlines()
                 if "public key" in line][0]
    with open(empty, "rb") as inp, open(tmp / "empty.age", "wb") as out:
        subprocess.run(["age", "-r", recipient], stdin=inp, stdout=out, check=True)
    kms = hsm.kms
    enc = [*kms, "envelope", "encrypt", "-", "--key-id", "alias/bench"]
    with open(empty, "rb") as inp, open(tmp / "empty.enc", "wb") as out:
        subprocess.run(enc, stdin=inp, stdout=out, env=hsm.env, check=True, stderr=subprocess.DEVNULL)
    dec = [*kms, "envelope", "decrypt", "-"]
    envs = {"kmstui": hsm.env, "kmstui own-process": {**hsm.env, "KMSTUI_WARM": "0"},
            **{f"kmstui@{spec}": tree_env(spec, hsm.env, tmp) for spec in args.baseline}}
    contenders = {}
    for name, env in envs.items():
        # An earlier tree runs as `python -m kmstui`: this install's script may name an entry point it lacks.
        base = kms if "@" not in name else [sys.executable, "-m", "kmstui"]
        contenders[f"{name} envelope encrypt"] = ([*base, *enc[len(kms):]], env, empty)
        contenders[f"{name} envelope decrypt"] = ([*base, *dec[len(kms):]], env, tmp / "empty.enc")
        contenders[f"{name} --version"] = ([*base, "--version"], env, empty)
    contenders["age encrypt"] = (["age", "-r", recipient], hsm.env, empty)
    contenders["age decrypt"] = (["age", "-d", "-i", str(tmp / "age.key")], hsm.env, tmp / "empty.age")
    contenders["python -c pass"] = ([sys.executable, "-c", "pass"], hsm.env, empty)
    for cmd, env, inp in contenders.values():  # warm-up (and a check that each runs)
        run(cmd, env, inp)
    banner(f"Start-up of one command on an empty input ({args.rounds} interleaved rounds; median (min-max))",
           [hsm.describe()])
    results = interleaved(args.rounds, {n: (lambda c=c: run(*c)) for n, c in contenders.items()})
    print(f"\n{'command':<40}{'wall ms':>24}{'CPU ms':>10}")
    med = {}
    for name, rounds in results.items():
        walls = [r[0] * 1000 for r in rounds]
        med[name] = median(walls)
        print(f"{name:<40}{spread(walls, '{:.1f}'):>24}{median([r[1] * 1000 for r in rounds]):10.1f}")
    print("  (CPU counts the process started; a warm command's worker runs under the launcher, so its CPU, ~10 ms "
          "of the\n  work itself, is not in the \"kmstui\" rows' CPU column: compare wall times)")
    print("\n  start-up ratios (wall; >1 = kmstui slower)")
    for verb in ("encrypt", "decrypt"):
        print(f"    kmstui envelope {verb} / age {verb}: {med[f'kmstui envelope {verb}'] / med[f'age {verb}']:.2f}")
        print(f"    kmstui envelope {verb} / kmstui own-process {verb}: "
              f"{med[f'kmstui envelope {verb}'] / med[f'kmstui own-process envelope {verb}']:.2f}")
        for spec in args.baseline:
            print(f"    kmstui envelope {verb} / kmstui@{spec}: "
                  f"{med[f'kmstui envelope {verb}'] / med[f'kmstui@{spec} envelope {verb}']:.2f}")
    closing()


if __name__ == "__main__":
    main()
