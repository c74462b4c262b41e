"""Envelope encryption of one large file, side by side with its peers (run by hand, not in CI).

Targets (issue 13), each direction, file in tmpfs, output to tmpfs, local HSM backend set up as the README
does (default KDF cost, unseal agent running):
  file -> file:      kmstui >= 0.8x `cat in > out`, >= 2x the `age` CLI; peak RSS <= 80 MiB whatever the size;
  stdin -> stdout:   the same through pipes (`cat in | TOOL | cat > out`, what operators do with tar);
  aws-encryption-sdk (Python, default 4 KiB frames, 64 KiB reads) for reference (issue 3: kmstui >= 4x).
Every tool runs as its own process (interpreter start and imports included; kmstui's command is handed to
the warm launcher `hsm unseal` starts, as a user's is, and the "kmstui own-process" rows run it with
KMSTUI_WARM=0, in the command's own process, which also gives kmstui's CPU and RSS); rounds are interleaved
(rotating order); medians and min-max are reported. Wall time and CPU time (user+sys of the child and,
for pipes, of the whole pipeline) are both shown: on a loaded shared machine the CPU figure is the
steadier one. No tool here syncs its output to disk (kmstui does not fsync: like cat and age it leaves
writeback to the kernel), so there is no "with sync" row.

    python benchmarks/bench_envelope.py [--size 1GiB] [--rounds 5] [--frame-size SIZE] [--no-sdk]
                                        [--no-pipes] [--baseline REV_OR_DIR] [--kdf-cost N] [--dir DIR]

--baseline (repeatable) adds rows "kmstui@REV" running an earlier copy of the plugin with today's core: a
folder holding a `kmstui_envelope` package, or a git revision of this repository (e.g. 248ed19, the plugin
before issue 13) to extract.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from peers import (ReadmeHsm, banner, baseline_envs, child, closing, envelope_bench, envelope_options, interleaved,
                   median, spread)

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
TARGETS = {"cat": 0.8, "age": 2.0, "aws-encryption-sdk": 4.0}


def parse_size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.lower().rstrip("ib")
    return int(t[:-1]) * units[t[-1]] if t[-1] in units else int(t)


def run(cmd: list[str], env: dict) -> tuple[float, float, int]:
    """(wall s, cpu s, peak RSS KiB) of one child process (and the children it waited for)."""
    return child(cmd, env)[:3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1GiB", type=parse_size)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frame-size", default=None)
    parser.add_argument("--no-sdk", action="store_true", help="skip the (slow) aws-encryption-sdk rows")
    parser.add_argument("--no-pipes", action="store_true", help="skip the stdin -> stdout rows")
    envelope_options(parser)
    envelope_bench(parser.parse_args(), "kmstui-bench-env-", bench)


def bench(args, tmp: Path, hsm: ReadmeHsm) -> None:
    env = hsm.env
    src = tmp / "in.bin"
    with open(src, "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(args.size >> 20):
            f.write(chunk)
    subprocess.run(["cat", str(src)], stdout=subprocess.DEVNULL, check=True)  # into the page cache
    subprocess.run(["age-keygen", "-o", str(tmp / "age.key")], check=True, capture_output=True)
    recipient = [line.split(": ")[1] for line in (tmp / "age.key").read_text().splitlines() if "public key" in line][0]
    frame = ["--frame-size", args.frame_size] if args.frame_size else []
    (tmp / "sdk.py").write_text(SDK_SCRIPT)
    kms = hsm.kms
    q = shlex.quote
    cold = {**env, "KMSTUI_WARM": "0"}  # the same commands run in their own process (no warm launcher)

    def contender(name: str, enc, dec, tool_env: dict):
        """Encrypt src to NAME.enc (`enc(out)` is the command), decrypt that to NAME.dec (`dec(inp, out)`),
        then remove both, untimed: freeing a large old output is nobody's cost."""
        e, d = tmp / f"{name}.enc", tmp / f"{name}.dec"

        def go():
            times = (run(enc(e), tool_env), run(dec(e, d), tool_env))
            for p in (e, d):
                p.unlink(missing_ok=True)
            return times
        return go

    def sh(template: str):
        return lambda *paths: ["sh", "-c", template.format(*(q(str(p)) for p in paths), src=q(str(src)))]

    k = " ".join(map(q, kms))
    fr = " ".join(map(q, frame))
    kenc = [*kms, "envelope", "encrypt", str(src), "--key-id", "alias/bench", *frame, "--out"]
    kdec = [*kms, "envelope", "decrypt"]
    contenders = {
        "cat": contender("cat", sh("cat {src} > {0}"), sh("cat {0} > {1}"), env),
        "kmstui": contender("k", lambda out: [*kenc, str(out)], lambda inp, out: [*kdec, str(inp), "--out", str(out)],
                            env),
        "kmstui own-process": contender("ko", lambda out: [*kenc, str(out)],
                                        lambda inp, out: [*kdec, str(inp), "--out", str(out)], cold),
        "age": contender("a", lambda out: ["age", "-r", recipient, "-o", str(out), str(src)],
                         lambda inp, out: ["age", "-d", "-i", str(tmp / "age.key"), "-o", str(out), str(inp)], env),
    }
    baselines = baseline_envs(args.baseline, env, tmp)
    for i, (name, benv) in enumerate(baselines.items()):
        contenders[name] = contender(
            f"b{i}", lambda out: [*kenc, str(out)], lambda inp, out: [*kdec, str(inp), "--out", str(out)], benv)
    if not args.no_sdk:
        sdk = [sys.executable, str(tmp / "sdk.py")]
        contenders["aws-encryption-sdk"] = contender("s", lambda out: [*sdk, "encrypt", str(src), str(out)],
                                                     lambda inp, out: [*sdk, "decrypt", str(inp), str(out)], env)
    pipes = {}
    if not args.no_pipes:
        kpipe = (sh(f"cat {{src}} | {k} envelope encrypt - --key-id alias/bench {fr} | cat > {{0}}"),
                 sh(f"cat {{0}} | {k} envelope decrypt - | cat > {{1}}"))
        pipes = {
            "cat | cat | cat": contender("pc", sh("cat {src} | cat | cat > {0}"), sh("cat {0} | cat | cat > {1}"), env),
            "cat | kmstui | cat": contender("pk", *kpipe, env),
            "cat | kmstui own-process | cat": contender("pko", *kpipe, cold),
            "cat | age | cat": contender("pa", sh(f"cat {{src}} | age -r {q(recipient)} | cat > {{0}}"),
                                        sh(f"cat {{0}} | age -d -i {q(str(tmp / 'age.key'))} | cat > {{1}}"), env),
        }
        for i, (name, benv) in enumerate(baselines.items()):
            pipes[f"cat | {name} | cat"] = contender(f"pb{i}", *kpipe, benv)

    # correctness first (and a warm-up of every code path): kmstui's round trip is exact
    run([*kms, "envelope", "encrypt", str(src), "--key-id", "alias/bench", *frame, "--out", str(tmp / "k.enc")], env)
    run([*kms, "envelope", "decrypt", str(tmp / "k.enc"), "--out", str(tmp / "k.dec")], env)
    assert subprocess.run(["cmp", str(src), str(tmp / "k.dec")]).returncode == 0, "kmstui round trip differs"
    (tmp / "k.enc").unlink()
    (tmp / "k.dec").unlink()

    mib = args.size / (1 << 20)
    banner(f"Envelope encrypt/decrypt of one {mib:.0f} MiB file in {args.dir or tempfile.gettempdir()} "
           f"({args.rounds} interleaved rounds; median (min-max))",
           [hsm.describe(), "output: not synced to disk by any tool (kmstui does not fsync)"])
    results = interleaved(args.rounds, {**contenders, **{f"pipe:{n}": fn for n, fn in pipes.items()}})
    report("file -> file", {n: results[n] for n in contenders}, mib, "kmstui")
    if pipes:
        report("stdin -> stdout (pipes; times and CPU include the cat at each end)",
               {n: results[f"pipe:{n}"] for n in pipes}, mib, "cat | kmstui | cat")
    closing()


def report(title: str, results: dict[str, list], mib: float, us: str) -> None:
    """The rows, then kmstui's ratios to each peer. kmstui's own row runs as a user's command does, handed to
    the warm launcher, whose worker is not a child of the measured process: its CPU and peak RSS are taken
    from the "own-process" row (the same work in the command's own process, plus its start-up: an upper
    bound), marked with *."""
    own = us.replace("kmstui", "kmstui own-process")
    print(f"\n{title}")
    print(f"{'tool':<32}{'enc s':>20}{'dec s':>20}{'enc CPU s':>11}{'dec CPU s':>11}{'RSS MiB':>9}")
    med, peak = {}, {}
    for name, rounds in results.items():
        enc = [r[0] for r in rounds]
        dec = [r[1] for r in rounds]
        peak[name] = max(x[2] for x in enc + dec) / 1024
        med[name] = [median([x[i] for x in enc]) for i in range(2)] + [median([x[i] for x in dec]) for i in range(2)]
    for name, rounds in results.items():
        star = name == us and own in med
        if star:
            med[name][1], med[name][3], peak[name] = med[own][1], med[own][3], peak[own]
        mark = "*" if star else " "
        print(f"{name:<32}{spread([x[0][0] for x in rounds], '{:.2f}'):>20}"
              f"{spread([x[1][0] for x in rounds], '{:.2f}'):>20}"
              f"{med[name][1]:10.2f}{mark}{med[name][3]:10.2f}{mark}{peak[name]:8.0f}{mark}")
    if own in med:
        print(f"  * {us}: CPU and RSS of the {own} row (its worker runs under the warm launcher)")
    ke, kec, kd, kdc = med[us]
    print(f"\n  throughput ratio of {us} to each peer (>1 = kmstui faster)".ljust(60)
          + f"{'enc wall':>9}{'dec wall':>9}{'enc CPU':>9}{'dec CPU':>9}   target")
    for peer, (pe, pec, pd, pdc) in med.items():
        if peer == us:
            continue
        base = peer.replace("cat | ", "").replace(" | cat", "") if "|" in peer and peer != "cat | cat | cat" else peer
        target = TARGETS.get("cat" if peer == "cat | cat | cat" else base)
        label = f">= {target}" if target else ("(before/after)" if "kmstui@" in peer else "")
        if target:  # judged on the unrounded medians: a printed 0.80 may be 0.797
            below = [d for d, r in (("enc", pe / ke), ("dec", pd / kd)) if r < target]
            label += f"  NOT MET ({', '.join(below)} wall)" if below else "  met (wall)"
        print(f"    vs {peer:<54}{pe / ke:9.2f}{pd / kd:9.2f}{pec / kec:9.2f}{pdc / kdc:9.2f}   {label}")
    print(f"  {us} peak RSS {peak[us]:.0f} MiB (target <= 80)")


if __name__ == "__main__":
    main()
