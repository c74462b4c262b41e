"""Shared by the cold-start benchmarks: the AWS CLI peer (installed into its own venv on first use), a
clean AWS environment pointing nowhere but the given endpoint, and a fresh-process timer."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AWSCLI_VENV = Path(tempfile.gettempdir()) / "kmstui-bench-awscli"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": ""}


def aws_cli() -> Path:
    aws = AWSCLI_VENV / "bin" / "aws"
    if not aws.exists():
        print(f"installing awscli into {AWSCLI_VENV} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(AWSCLI_VENV)], check=True)
        subprocess.run([str(AWSCLI_VENV / "bin" / "pip"), "install", "-q", "awscli"], check=True)
    return aws


def kmstui_cmd() -> list[str]:
    script = Path(sys.executable).parent / "kmstui"
    return [str(script)] if script.exists() else [sys.executable, "-m", "kmstui"]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return elapsed


def start_moto():
    """A moto server on 127.0.0.1 (any free port), quiet; returns (server, url). Call server.stop() after."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def clean_env() -> dict[str, str]:
    """This environment without kmstui or AWS settings, and with bytecode caching on, as after a normal
    install (a developer shell may set PYTHONDONTWRITEBYTECODE)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("KMSTUI_", "AWS_")) and k != "PYTHONDONTWRITEBYTECODE"}
