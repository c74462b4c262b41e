"""`kmstui serve` against a moto server doing the same, side by side in one run (issue 15):

1. Encrypt of 32 bytes from 8 concurrent boto3 client processes for 5 s: requests/s (target >= 3x moto's;
   moto enforces nothing, kmstui enforces policies and grants, verifies SigV4 and audits every call) and the
   server's CPU per request, user+sys from /proc/PID/stat (target <= 0.2x moto's). Both servers do the same
   work: every call picks one of --hot-keys keys (100: an application's keys) at random.
2. One aws CLI `kms encrypt` end to end: within 1.1x of the same call against moto (the CLI's start-up
   dominates; the server must not add to it).
3. Server RSS (VmHWM, the peak) with 10,000 keys and 8 clients encrypting under random keys of all
   10,000 for one more round (its CPU per request is printed too: most calls then meet a key not used
   before, the cold path of key lookup, policy and material): <= 150 MiB.

Set-up as the README: `hsm init` at the default KDF cost and the unseal agent running; the server is
`kmstui serve` in its own process, moto is `moto_server` in its own process (so /proc sees each alone).
Rounds are interleaved (kmstui, moto, moto, kmstui, ...). `--before PYTHON` adds a third contender: `kmstui
serve` run by another interpreter (an install of an earlier kmstui) on the same store, for before/after
figures measured in the same run.

    python benchmarks/bench_serve.py [--seconds 5] [--clients 8] [--rounds 3] [--cli-rounds 7] [--keys 10000]
                                     [--hot-keys 100] [--before PATH/TO/python]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_port(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not start")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# -- the load: N client processes, each a boto3 client encrypting 32 bytes in a loop ------------------------------
def _client(url: str, creds: tuple, key_ids: list, seconds: float, start_at: float, out) -> None:
    import boto3
    from botocore.config import Config

    kms = boto3.client("kms", endpoint_url=url, region_name="us-east-1", aws_access_key_id=creds[0],
                       aws_secret_access_key=creds[1], config=Config(retries={"max_attempts": 1}))
    kms.encrypt(KeyId=key_ids[0], Plaintext=b"w" * 32)  # connection and client warm
    pick = random.Random(os.getpid()).choice
    while time.time() < start_at:
        time.sleep(0.001)
    n, errors, end = 0, 0, start_at + seconds
    while time.time() < end:
        try:
            kms.encrypt(KeyId=pick(key_ids), Plaintext=b"x" * 32)
            n += 1
        except Exception:  # noqa: BLE001 - counted, reported
            errors += 1
    out.put((n, errors))


def load(url: str, creds: tuple, key_ids: list, pid: int, clients: int, seconds: float) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    start_at = time.time() + 3.0  # the clients import boto3 and warm up first
    procs = [ctx.Process(target=_client, args=(url, creds, key_ids, seconds, start_at, queue)) for _ in range(clients)]
    for p in procs:
        p.start()
    while time.time() < start_at:
        time.sleep(0.001)
    cpu0 = cpu_seconds(pid)
    time.sleep(seconds)
    cpu1 = cpu_seconds(pid)
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    n = sum(r[0] for r in results)
    return {"rps": n / seconds, "cpu_ms": (cpu1 - cpu0) * 1000 / max(n, 1), "errors": sum(r[1] for r in results)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cli-rounds", type=int, default=7)
    ap.add_argument("--keys", type=int, default=10000)
    ap.add_argument("--hot-keys", type=int, default=100)
    ap.add_argument("--before", metavar="PYTHON", help="also run `kmstui serve` with this interpreter (an earlier "
                    "kmstui installed in another environment) on the same store")
    args = ap.parse_args()
    peers.banner(f"kmstui serve vs moto server: Encrypt 32 B from {args.clients} boto3 processes x {args.seconds:g} s, "
                 f"aws CLI encrypt end to end, server RSS with {args.keys} keys")
    tmp = Path(tempfile.mkdtemp(prefix="kmstui-bench-serve-"))
    aws = peers.aws_cli()
    with peers.ReadmeHsm(tmp / "home") as hsm:
        print(hsm.describe())
        key_ids, creds = _populate(hsm, args.keys)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "kmstui", "serve", "--port", str(port), "--quiet"],
                                  env=hsm.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=open(tmp / "serve.log", "wb"))
        procs = [server]
        before = None
        if args.before:
            before_port = free_port()
            before = subprocess.Popen([args.before, "-m", "kmstui", "serve", "--port", str(before_port), "--quiet"],
                                      env=hsm.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=open(tmp / "serve-before.log", "wb"))
            procs.append(before)
        moto_port = free_port()
        moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                                env={**peers.clean_env(), **peers.AWS_ENV}, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(moto)
        try:
            wait_port(port, server, "kmstui serve")
            wait_port(moto_port, moto, "moto server")
            url, moto_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{moto_port}"
            hot = key_ids[:max(1, min(args.hot_keys, len(key_ids)))]
            moto_keys = _moto_keys(moto_url, len(hot))
            contenders = {
                "kmstui": lambda: load(url, creds, hot, server.pid, args.clients, args.seconds),
                "moto": lambda: load(moto_url, ("testing", "testing"), moto_keys, moto.pid, args.clients, args.seconds),
            }
            if before is not None:
                wait_port(before_port, before, "kmstui serve (--before)")
                before_url = f"http://127.0.0.1:{before_port}"
                contenders["before"] = lambda: load(before_url, creds, hot, before.pid, args.clients, args.seconds)
            runs = peers.interleaved(args.rounds, contenders)
            every = load(url, creds, key_ids, server.pid, args.clients, args.seconds)
            rss = peak_rss_mib(server.pid)
            f = tmp / "plain"
            f.write_bytes(b"y" * 32)

            def cli(endpoint: str, env: dict, key: str):
                return lambda: peers.timed([str(aws), "--endpoint-url", endpoint, "kms", "encrypt", "--key-id", key,
                                            "--plaintext", f"fileb://{f}"], env)

            cli_env = {**peers.clean_env(), **peers.AWS_ENV}
            kenv = {**cli_env, "AWS_ACCESS_KEY_ID": creds[0], "AWS_SECRET_ACCESS_KEY": creds[1]}
            clis = peers.interleaved(args.cli_rounds, {"kmstui": cli(url, kenv, key_ids[0]),
                                                       "moto": cli(moto_url, cli_env, moto_keys[0])})
        finally:
            for proc in procs:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    k_rps = [r["rps"] for r in runs["kmstui"]]
    m_rps = [r["rps"] for r in runs["moto"]]
    k_cpu = [r["cpu_ms"] for r in runs["kmstui"]]
    m_cpu = [r["cpu_ms"] for r in runs["moto"]]
    errors = {n: sum(r["errors"] for r in runs[n]) for n in runs}
    print(f"\nEncrypt 32 B, {args.clients} boto3 processes, {args.seconds:g} s, each call under one of {len(hot)} keys "
          f"at random, {args.rounds} interleaved rounds (median (min-max)):")
    print(f"  kmstui serve: {peers.spread(k_rps, '{:.0f}')} requests/s, server CPU {peers.spread(k_cpu, '{:.3f}')} "
          f"ms/request, errors {errors['kmstui']}")
    print(f"  moto server : {peers.spread(m_rps, '{:.0f}')} requests/s, server CPU {peers.spread(m_cpu, '{:.3f}')} "
          f"ms/request, errors {errors['moto']}")
    rps_ratio = peers.median(k_rps) / peers.median(m_rps)
    cpu_ratio = peers.median(k_cpu) / peers.median(m_cpu)
    if "before" in runs:
        b_rps, b_cpu = [r["rps"] for r in runs["before"]], [r["cpu_ms"] for r in runs["before"]]
        print(f"  kmstui before: {peers.spread(b_rps, '{:.0f}')} requests/s, server CPU {peers.spread(b_cpu, '{:.3f}')} "
              f"ms/request, errors {errors['before']} ({args.before})")
    print(f"  requests/s ratio kmstui/moto: {rps_ratio:.2f}x (target >= 3x) {'OK' if rps_ratio >= 3 else 'MISSED'}")
    print(f"  server CPU per request kmstui/moto: {cpu_ratio:.2f}x (target <= 0.2x) "
          f"{'OK' if cpu_ratio <= 0.2 else 'MISSED'}")
    if "before" in runs:
        print(f"  server CPU per request kmstui/before: {peers.median(k_cpu) / peers.median(b_cpu):.2f}x, "
              f"before/moto: {peers.median(b_cpu) / peers.median(m_cpu):.2f}x")
    kc, mc = clis["kmstui"], clis["moto"]
    cli_ratio = peers.median(kc) / peers.median(mc)
    print(f"\naws CLI kms encrypt end to end, {args.cli_rounds} interleaved rounds: kmstui {peers.spread(kc)} s, "
          f"moto {peers.spread(mc)} s; ratio {cli_ratio:.2f}x (target <= 1.1x) {'OK' if cli_ratio <= 1.1 else 'MISSED'}")
    print(f"\nkmstui serve, one more round under random keys of all {len(key_ids)}: {every['rps']:.0f} requests/s, "
          f"server CPU {every['cpu_ms']:.3f} ms/request ({every['cpu_ms'] / peers.median(m_cpu):.2f}x moto's above), "
          f"errors {every['errors']}")
    print(f"kmstui serve peak RSS (VmHWM) with {len(key_ids)} keys after the load: {rss:.1f} MiB "
          f"(target <= 150 MiB) {'OK' if rss <= 150 else 'MISSED'}")
    peers.closing()


def _populate(hsm, n: int) -> tuple[list, tuple]:
    """n keys (one commit per 5,000; each create still audited) and a root access key, made in this process
    with the agent's root key (as any kmstui command would)."""
    os.environ["KMSTUI_HOME"] = str(hsm.home)
    from kmstui.session import Session

    session = Session(load_plugins=False)
    backend = session.backend()
    ids: list[str] = []
    for start in range(0, n, 5000):
        with backend.store.transaction():
            for _ in range(min(5000, n - start)):
                ids.append(backend.create_key()["KeyMetadata"]["KeyId"])
    made = backend.create_access_key()["AccessKey"]
    session.close()
    return ids, (made["AccessKeyId"], made["SecretAccessKey"])


def _moto_keys(url: str, n: int) -> list:
    """n keys in the moto server (as many as kmstui's calls pick among), made by 8 threads."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    kms = boto3.client("kms", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: kms.create_key()["KeyMetadata"]["KeyId"], range(n)))


if __name__ == "__main__":
    main()
