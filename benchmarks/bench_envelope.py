"""Envelope encryption of one large file, side by side with its peers (run by hand, not in CI).

Targets (issue 3), each direction, file in the page cache, local HSM backend:
  kmstui >= 0.8x `cat in > out`, >= 1.0x the `age` CLI, >= 4x aws-encryption-sdk (Python, default 4 KiB
  frames, 64 KiB reads); peak RSS <= 80 MiB whatever the size.
Every tool runs as its own process (interpreter start and imports included), rounds are interleaved, and
the median is reported. Wall time and CPU time (user+sys of the child) are both shown: on a loaded shared
machine the CPU figure is the steadier one.

    python benchmarks/bench_envelope.py [--size 1GiB] [--rounds 3] [--frame-size SIZE] [--no-sdk]
                                        [--baseline DIR]

--baseline DIR adds a row "kmstui-baseline" running another copy of the plugin (DIR holds a
`kmstui_envelope` package, e.g. a saved earlier version), for before/after figures from one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SDK_SCRIPT = r"""
import sys, aws_encryption_sdk
from aws_encryption_sdk.identifiers import CommitmentPolicy, EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey
mode, src, dst = sys.argv[1:4]
key = RawMasterKey(provider_id="bench", key_id=b"k", wrapping_key=WrappingKey(
    wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING, wrapping_key=b"k" * 32,
    wrapping_key_type=EncryptionKeyType.SYMMETRIC))
client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
with open(src, "rb") as fi, open(dst, "wb") as fo:
    extra = {"frame_length": 4096} if mode == "encrypt" else {}
    with client.stream(mode=mode, source=fi, key_provider=key, **extra) as s:
        while chunk := s.read(65536):
            fo.write(chunk)
"""


def parse_size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.lower().rstrip("ib")
    return int(t[:-1]) * units[t[-1]] if t[-1] in units else int(t)


def run(cmd: list[str], env: dict, stdout=None) -> tuple[float, float, int]:
    """(wall s, cpu s, peak RSS KiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=stdout or subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.strip()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1GiB", type=parse_size)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frame-size", default=None)
    parser.add_argument("--no-sdk", action="store_true", help="skip the (slow) aws-encryption-sdk rows")
    parser.add_argument("--baseline", metavar="DIR", help="folder holding another kmstui_envelope package to "
                        "measure side by side (row kmstui-baseline)")
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="work folder (default /dev/shm: tmpfs is the page cache with no disk writeback, "
                             "which otherwise dominates and varies; pass --dir /tmp to include a disk)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kmstui-bench-env-", dir=args.dir))
    try:
        bench(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench(args, tmp: Path) -> None:
    env = {**os.environ, "KMSTUI_HOME": str(tmp / "home"), "KMSTUI_PASSPHRASE": "bench passphrase",
           "KMSTUI_KDF_COST": "10", "KMSTUI_PLUGINS": "envelope"}
    py = sys.executable
    kms = [py, "-m", "kmstui"]
    subprocess.run([*kms, "hsm", "init"], env=env, check=True, capture_output=True)
    key = subprocess.run([*kms, "key", "create", "--query", "KeyMetadata.KeyId", "--output", "text"], env=env,
                         check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([*kms, "alias", "create", "alias/bench", key], env=env, check=True, capture_output=True)
    src = tmp / "in.bin"
    with open(src, "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(args.size >> 20):
            f.write(chunk)
    subprocess.run(["cat", str(src)], stdout=subprocess.DEVNULL, check=True)  # into the page cache
    subprocess.run(["age-keygen", "-o", str(tmp / "age.key")], check=True, capture_output=True)
    recipient = [line.split(": ")[1] for line in (tmp / "age.key").read_text().splitlines() if "public key" in line][0]
    frame = ["--frame-size", args.frame_size] if args.frame_size else []
    sdk_script = tmp / "sdk.py"
    sdk_script.write_text(SDK_SCRIPT)

    def rm(*paths):
        for p in paths:
            if Path(p).exists():
                os.unlink(p)

    tools = {
        "cat": (lambda: run(["sh", "-c", f"cat {src} > {tmp / 'cat.out'}"], env),
                lambda: run(["sh", "-c", f"cat {tmp / 'cat.out'} > {tmp / 'cat.back'}"], env)),
        "kmstui": (lambda: run([*kms, "envelope", "encrypt", str(src), "--key-id", "alias/bench", "--out",
                                str(tmp / "k.enc"), *frame], env),
                   lambda: run([*kms, "envelope", "decrypt", str(tmp / "k.enc"), "--out", str(tmp / "k.dec")], env)),
        "age": (lambda: run(["age", "-r", recipient, "-o", str(tmp / "a.age"), str(src)], env),
                lambda: run(["age", "-d", "-i", str(tmp / "age.key"), "-o", str(tmp / "a.dec"), str(tmp / "a.age")], env)),
    }
    if args.baseline:
        benv = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [args.baseline, env.get("PYTHONPATH")]))}
        tools["kmstui-baseline"] = (
            lambda: run([*kms, "envelope", "encrypt", str(src), "--key-id", "alias/bench", "--out",
                         str(tmp / "b.enc"), *frame], benv),
            lambda: run([*kms, "envelope", "decrypt", str(tmp / "b.enc"), "--out", str(tmp / "b.dec")], benv))
    if not args.no_sdk:
        tools["aws-encryption-sdk"] = (lambda: run([py, str(sdk_script), "encrypt", str(src), str(tmp / "s.enc")], env),
                                       lambda: run([py, str(sdk_script), "decrypt", str(tmp / "s.enc"), str(tmp / "s.dec")], env))
    outputs = {"cat": ("cat.out", "cat.back"), "kmstui": ("k.enc", "k.dec"), "age": ("a.age", "a.dec"),
               "kmstui-baseline": ("b.enc", "b.dec"),
               "aws-encryption-sdk": ("s.enc", "s.dec")}
    results: dict[str, dict[str, list]] = {t: {"enc": [], "dec": []} for t in tools}
    for _ in range(args.rounds):
        for name, (enc, dec) in tools.items():
            # every tool writes a new file (freeing an old 1 GiB output is not part of anyone's time)
            rm(*(tmp / o for o in outputs[name]))
            results[name]["enc"].append(enc())
            results[name]["dec"].append(dec())
        rm(*(tmp / o for name in tools for o in outputs[name][1:]))
    assert (tmp / "k.dec").exists() is False
    run([*kms, "envelope", "decrypt", str(tmp / "k.enc"), "--out", str(tmp / "k.dec")], env)
    assert subprocess.run(["cmp", str(src), str(tmp / "k.dec")]).returncode == 0, "kmstui round trip differs"

    mib = args.size / (1 << 20)
    print(f"{mib:.0f} MiB file in {tmp.parent}, {args.rounds} rounds, load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs; medians")
    print(f"{'tool':<20}{'enc s':>8}{'enc MiB/s':>11}{'dec s':>8}{'dec MiB/s':>11}{'enc cpu':>9}{'dec cpu':>9}{'RSS MiB':>9}")
    med = {}
    for name, r in results.items():
        e = [statistics.median(x[i] for x in r["enc"]) for i in range(3)]
        d = [statistics.median(x[i] for x in r["dec"]) for i in range(3)]
        rss = max(x[2] for x in r["enc"] + r["dec"]) / 1024
        med[name] = (e, d, rss)
        print(f"{name:<20}{e[0]:8.2f}{mib / e[0]:11.0f}{d[0]:8.2f}{mib / d[0]:11.0f}{e[1]:9.2f}{d[1]:9.2f}{rss:9.0f}")
    ke, kd, krss = med["kmstui"]
    rows = [(p, t) for p, t in (("cat", 0.8), ("age", 1.0), ("aws-encryption-sdk", 4.0), ("kmstui-baseline", None))
            if p in med]
    for what, i in (("wall", 0), ("CPU, user+sys", 1)):
        print(f"\nkmstui throughput ratio ({what}; >1 = kmstui faster)".ljust(58) + "encrypt  decrypt   target")
        for peer, target in rows:
            pe, pd, _ = med[peer]
            print(f"  vs {peer:<52}{pe[i] / ke[i]:8.2f} {pd[i] / kd[i]:8.2f}   "
                  + (f">= {target}" if target else "(before/after)"))
    print(f"kmstui peak RSS {krss:.0f} MiB (target <= 80); work folder {tmp.parent}")


if __name__ == "__main__":
    main()
