"""Shared by the benchmarks: how to report (the machine, the load average with a warning when it exceeds
the cores, medians with min-max of interleaved rounds), the README set-up of a local HSM (default KDF cost,
unseal agent running), an earlier copy of a plugin as a before/after baseline, a child-process timer
(wall, CPU, peak RSS), the envelope benchmarks' common options and set-up, and for the cold-start
benchmarks the AWS CLI peer (installed into its own venv on first use), a clean AWS environment pointing
nowhere but the given endpoint, and a fresh-process timer."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

REPO = Path(__file__).resolve().parent.parent

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


def child(cmd: list[str], env: dict, *, capture: bool = False) -> tuple[float, float, int, str]:
    """Run one child process: (wall s, CPU s = user + system of it and the children it waited for, peak
    RSS KiB, its standard output when `capture`). A failure ends the benchmark with the child's error."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                stdout=out if capture else subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)[:300]} failed ({code}): {err.read().decode().strip()[-2000:]}")
        out.seek(0)
        return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, out.read().decode() if capture else ""


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


# -- reporting ---------------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line: cores, CPU model, OS, Python."""
    return (f"{os.cpu_count()} cores, {cpu_model()}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def load_line(when: str = "") -> str:
    """The 1/5/15-minute load averages, with a warning when the 1-minute one exceeds the cores: the
    ratios below are then as much the other load's as kmstui's (CPU-time figures suffer least)."""
    one, five, fifteen = os.getloadavg()
    cores = os.cpu_count() or 1
    text = f"load average{(' ' + when) if when else ''} {one:.2f} {five:.2f} {fifteen:.2f} on {cores} cores"
    if one > cores:
        text += (f"\nWARNING: load average {one:.1f} exceeds the {cores} cores: wall-clock figures are "
                 "unreliable; rerun on a quiet machine")
    return text


def banner(title: str, notes: Iterable[str] = ()) -> None:
    """Print what is measured, on what machine, under what load (call first; call `closing()` last)."""
    print(title)
    print(f"machine: {machine()}")
    for note in notes:
        print(note)
    print(load_line("at start"))


def closing() -> None:
    print(load_line("at end"))


def spread(values: list[float], fmt: str = "{:.3g}") -> str:
    """median (min-max) of one contender's rounds."""
    if not values:
        return "-"
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def median(values: list[float]) -> float:
    return statistics.median(values)


def interleaved(rounds: int, contenders: dict[str, Callable[[], object]]) -> dict[str, list]:
    """Run every contender once per round, A B C / B C A / C A B ...: load from elsewhere on the machine
    (and any order effect) hits all of them alike. Returns each contender's results in round order."""
    names = list(contenders)
    results: dict[str, list] = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            results[name].append(contenders[name]())
    return results


# -- baselines ---------------------------------------------------------------------------------------------
def baseline_dir(spec: str, package: str = "kmstui_envelope", into: Path | None = None) -> Path:
    """A folder holding `package` as it was: `spec` is either such a folder, or a git revision of this
    repository (e.g. 248ed19), whose plugins/<package> is extracted into a temporary folder. Put the
    result first on PYTHONPATH to run the old plugin with today's core."""
    folder = Path(spec)
    if (folder / package).is_dir():
        return folder
    dest = Path(tempfile.mkdtemp(prefix="kmstui-baseline-", dir=into))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", spec, f"plugins/{package}"],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        shutil.rmtree(dest, ignore_errors=True)
        raise SystemExit(f"--baseline {spec}: neither a folder holding {package}/ nor a git revision "
                         f"({archive.stderr.decode().strip()})")
    subprocess.run(["tar", "-x", "-C", str(dest), "--strip-components=1"], input=archive.stdout, check=True)
    return dest


def baseline_envs(specs: list[str], env: dict[str, str], into: Path) -> dict[str, dict[str, str]]:
    """{"kmstui@SPEC": env running that earlier plugin} for each --baseline, in the order given."""
    return {f"kmstui@{spec}": with_pythonpath(env, baseline_dir(spec, into=into)) for spec in specs}


def with_pythonpath(env: dict[str, str], folder: Path) -> dict[str, str]:
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH")]))}


# -- the README set-up of the local HSM ----------------------------------------------------------------------
class ReadmeHsm:
    """`hsm init` and `hsm unseal` in a throwaway KMSTUI_HOME, as the README tour does: the default KDF cost
    (unless `kdf_cost` is given, which `describe()` then says loudly) and the unseal agent running, so the
    measured commands carry no passphrase and pay no KDF. Use as a context manager: the agent is told to
    forget the key (and exits) at the end.

    `user_dirs`: no KMSTUI_HOME at all, as for a user who followed the README: kmstui finds its folders the
    way it does on a user's machine (the XDG folders under HOME, which is `home` here, and the
    agent's socket under XDG_RUNTIME_DIR, `home`/run), so start-up pays what a user's does."""

    PASSPHRASE = "benchmark passphrase"

    def __init__(self, home: Path, kdf_cost: int | None = None, plugins: str | None = None, *,
                 user_dirs: bool = False) -> None:
        self.home = home
        self.kdf_cost = kdf_cost
        self.user_dirs = user_dirs
        if user_dirs:
            (home / "run").mkdir(parents=True, mode=0o700)
            where = {"HOME": str(home), "XDG_RUNTIME_DIR": str(home / "run")}
        else:
            where = {"KMSTUI_HOME": str(home)}
        base = {**{k: v for k, v in clean_env().items() if not k.startswith("XDG_")}, **where, "NO_COLOR": "1"}
        if plugins:
            base["KMSTUI_PLUGINS"] = plugins
        self.env = base  # what the measured commands run with: no passphrase, no KDF setting
        self._setup = {**base, "KMSTUI_PASSPHRASE": self.PASSPHRASE}
        if kdf_cost is not None:
            self._setup["KMSTUI_KDF_COST"] = str(kdf_cost)
        self.kms = kmstui_cmd()

    def describe(self) -> str:
        where = "; no KMSTUI_HOME: folders found as on a user's machine" if self.user_dirs else ""
        where += "; warm launcher running" if getattr(self, "warm", False) else "; NO warm launcher"
        if self.kdf_cost is None:
            return f"set-up: README flow (hsm init at the default KDF cost, unseal agent running{where})"
        return (f"set-up: hsm init with KMSTUI_KDF_COST={self.kdf_cost} (NOT the default; the agent unseals, so "
                f"the measured commands pay no KDF either way{where})")

    def run(self, *args: str, setup: bool = False) -> str:
        proc = subprocess.run([*self.kms, *args], env=self._setup if setup else self.env, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise SystemExit(f"kmstui {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
        return proc.stdout

    def __enter__(self) -> "ReadmeHsm":
        self.run("hsm", "init", setup=True)
        self.run("hsm", "unseal", "--ttl", "2h", setup=True)
        self.warm = self._wait_for_launcher()
        return self

    def _wait_for_launcher(self) -> bool:
        """`hsm unseal` also starts the warm launcher (docs/local-hsm.md "Warm start"), ready ~0.2 s later:
        wait for its socket, so that every measured round runs as a user's command would."""
        runtime = Path(self.env["KMSTUI_HOME"]) / "run" if "KMSTUI_HOME" in self.env else \
            Path(self.env["XDG_RUNTIME_DIR"]) / "kmstui"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if (runtime / "warm.sock").exists():
                return True
            time.sleep(0.05)
        return False

    def __exit__(self, *exc) -> None:
        subprocess.run([*self.kms, "hsm", "seal"], env=self.env, capture_output=True, stdin=subprocess.DEVNULL)


# -- the envelope benchmarks' common options and set-up --------------------------------------------------------
def envelope_options(parser) -> None:
    """--baseline, --kdf-cost and --dir, as bench_envelope.py and bench_envelope_many.py take them."""
    parser.add_argument("--baseline", metavar="REV_OR_DIR", action="append", default=[],
                        help="an earlier kmstui_envelope (a folder, or a git revision such as 248ed19) measured "
                             "side by side, in rows kmstui@REV_OR_DIR (repeat it for a before and an after)")
    parser.add_argument("--kdf-cost", type=int, default=None,
                        help="hsm init at this KDF cost instead of the default (said loudly in the output)")
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="work folder (default /dev/shm: tmpfs is the page cache with no disk writeback, "
                             "which otherwise dominates and varies; pass --dir /tmp to include a disk)")


def envelope_bench(args, prefix: str, bench: Callable[[object, Path, "ReadmeHsm"], None]) -> None:
    """A work folder in --dir holding a local HSM set up as the README does, with the envelope plugin and a
    key under alias/bench; runs bench(args, folder, hsm), then seals the agent and removes the folder."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=args.dir))
    try:
        with ReadmeHsm(tmp / "home", args.kdf_cost, plugins="envelope", user_dirs=True) as hsm:
            key = hsm.run("key", "create", "--query", "KeyMetadata.KeyId", "--output", "text", setup=True).strip()
            hsm.run("alias", "create", "alias/bench", key, setup=True)
            bench(args, tmp, hsm)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
