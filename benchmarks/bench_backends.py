"""Encrypt (32 bytes, with an encryption context) and GenerateDataKey (AES_256) ops/s for every backend in one
run, side by side with raw python-pkcs11 calls on the same SoftHSM2 token.

Claims checked (issue 4):
- local HSM backend (audit log and policy enforcement on, as shipped) >= 0.5x raw python-pkcs11 on SoftHSM2;
- kmstui's pkcs11 backend >= 0.8x raw python-pkcs11 on the same token (the wrapper is thin).
AWS KMS through moto (HTTP on 127.0.0.1) is printed for reference; it is network-bound.

Run: python benchmarks/bench_backends.py [--seconds 0.5] [--rounds 5] [--no-aws]
Everything lives in a temporary folder (HSM file, SoftHSM2 token, KMSTUI_HOME) removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peers import banner, closing, interleaved, median, spread

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "1234"
PLAINTEXT = b"\x42" * 32
CONTEXT = {"purpose": "bench"}


def measure(contenders: dict[str, object], seconds: float, rounds: int) -> dict[str, list[float]]:
    """ops/s of every round per contender. Rounds are interleaved and rotate (A B C, B C A, ...) so that load
    from elsewhere on the machine hits every contender alike instead of whichever ran last."""

    def one(fn):
        def go():
            n, start = 0, time.perf_counter()
            while True:
                for _ in range(50):
                    fn()
                n += 50
                elapsed = time.perf_counter() - start
                if elapsed >= seconds:
                    return n / elapsed
        return go

    return interleaved(rounds, {name: one(fn) for name, fn in contenders.items()})


def setup_env(tmp: Path) -> None:
    home = tmp / "home"
    os.environ["KMSTUI_HOME"] = str(home)
    os.environ["KMSTUI_PASSPHRASE"] = "bench passphrase, not a secret"
    os.environ["KMSTUI_KDF_COST"] = "8"  # creation speed only; the hot path does not run the KDF
    os.environ["KMSTUI_PKCS11_PIN"] = PIN
    tokens = tmp / "tokens"
    tokens.mkdir()
    conf = tmp / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "bench", "--so-pin", "12345678",
                    "--pin", PIN], check=True, capture_output=True)
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text(
        f'[profiles.hsm]\nbackend = "pkcs11"\nmodule = "{MODULE}"\ntoken_label = "bench"\n')


def local_ops(stack: list) -> dict[str, object]:
    from kmstui.backends.local.unseal import create_hsm
    from kmstui.config import Paths
    from kmstui.session import Session

    path = Paths.discover().data_dir / "hsm.kmstui"
    store, _keys = create_hsm(path, os.environ["KMSTUI_PASSPHRASE"], account_id="111122223333", region="us-east-1")
    store.close()
    session = Session()
    stack.append(session)
    backend = session.backend("local")
    key = backend.create_key()["KeyMetadata"]["KeyId"]
    return {
        "encrypt": lambda: backend.encrypt(KeyId=key, Plaintext=PLAINTEXT, EncryptionContext=CONTEXT),
        "generate_data_key": lambda: backend.generate_data_key(KeyId=key, KeySpec="AES_256",
                                                               EncryptionContext=CONTEXT),
    }


def pkcs11_ops(stack: list) -> tuple[dict[str, object], dict[str, object]]:
    """(kmstui pkcs11 backend, raw python-pkcs11) operations on the same token and the same key."""
    import pkcs11

    from kmstui.backends.local import blob
    from kmstui.session import Session

    session = Session()
    stack.append(session)
    backend = session.backend("hsm")
    key_id = backend.create_key()["KeyMetadata"]["KeyId"]
    kmstui_ops = {
        "encrypt": lambda: backend.encrypt(KeyId=key_id, Plaintext=PLAINTEXT, EncryptionContext=CONTEXT),
        "generate_data_key": lambda: backend.generate_data_key(KeyId=key_id, KeySpec="AES_256",
                                                               EncryptionContext=CONTEXT),
    }
    # Raw: the same token key, mechanism and AAD length, and no kmstui code in between.
    tok_session = backend.session
    key = backend._entry(key_id).secrets[1]
    aad = b"\0" * blob.HEADER_LEN + blob.canonical_context(CONTEXT)
    mech = pkcs11.Mechanism.AES_GCM

    def raw_encrypt():
        key.encrypt(PLAINTEXT, mechanism=mech, mechanism_param=pkcs11.GCMParams(os.urandom(12), aad))

    def raw_data_key():
        data_key = tok_session.generate_random(256)
        key.encrypt(data_key, mechanism=mech, mechanism_param=pkcs11.GCMParams(os.urandom(12), aad))

    return kmstui_ops, {"encrypt": raw_encrypt, "generate_data_key": raw_data_key}


def bench_aws(seconds: float) -> dict[str, float]:
    import logging

    from moto.server import ThreadedMotoServer

    from kmstui.session import Session

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update({"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    session = Session()
    backend = session.backend("aws")
    key = backend.create_key()["KeyMetadata"]["KeyId"]
    out = {
        "encrypt": measure({"aws": lambda: backend.encrypt(KeyId=key, Plaintext=PLAINTEXT,
                                                           EncryptionContext=CONTEXT)}, seconds, 1)["aws"],
        "generate_data_key": measure({"aws": lambda: backend.generate_data_key(
            KeyId=key, KeySpec="AES_256", EncryptionContext=CONTEXT)}, seconds, 1)["aws"],
    }
    session.close()
    server.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-aws", action="store_true")
    args = parser.parse_args()
    if shutil.which("softhsm2-util") is None or not Path(MODULE).exists():
        print("SoftHSM2 is not installed (apt-get install softhsm2)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="kmstui-bench-"))
    stack: list = []
    try:
        setup_env(tmp)
        ops = {"local": local_ops(stack)}
        ops["pkcs11"], ops["raw python-pkcs11"] = pkcs11_ops(stack)
        results: dict[str, dict[str, float]] = {name: {} for name in ops}
        spreads: dict[str, dict[str, str]] = {name: {} for name in ops}
        banner(f"Encrypt 32 B and GenerateDataKey per backend, {args.rounds} interleaved rounds of {args.seconds} s; "
               "median (min-max) ops/s")
        for op in ("encrypt", "generate_data_key"):
            rates = measure({name: o[op] for name, o in ops.items()}, args.seconds, args.rounds)
            for name, values in rates.items():
                results[name][op] = median(values)
                spreads[name][op] = spread(values, "{:,.0f}")
        if not args.no_aws:
            results["aws (moto)"] = bench_aws(args.seconds)
            spreads["aws (moto)"] = {op: f"{v:,.0f}" for op, v in results["aws (moto)"].items()}
    finally:
        for session in stack:
            session.close()
        shutil.rmtree(tmp, ignore_errors=True)
    raw = results["raw python-pkcs11"]
    print(f"{'backend':<20} {'Encrypt 32 B ops/s':>28} {'GenerateDataKey ops/s':>28}   ratios (medians) vs raw "
          "python-pkcs11")
    for name, r in results.items():
        print(f"{name:<20} {spreads[name]['encrypt']:>28} {spreads[name]['generate_data_key']:>28}   "
              f"{r['encrypt'] / raw['encrypt']:.2f}x / {r['generate_data_key'] / raw['generate_data_key']:.2f}x")
    checks = [("local >= 0.5x raw", results["local"], 0.5), ("pkcs11 >= 0.8x raw", results["pkcs11"], 0.8)]
    ok = True
    for label, r, floor in checks:
        for op in ("encrypt", "generate_data_key"):
            ratio = r[op] / raw[op]
            passed = ratio >= floor
            ok &= passed
            print(f"{'PASS' if passed else 'FAIL'}  {label} ({op}): {ratio:.2f}x")
    closing()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
