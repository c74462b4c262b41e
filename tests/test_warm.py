"""The warm launcher (kmstui/warm.py, kmstui/launch.py): a one-shot command handed to a process that has
kmstui loaded must do exactly what it does in its own process (output, errors, exit code, files, folder,
umask, environment), must never run stale code, and must end as an interrupted or killed command ends.

Each test runs the README flow: `hsm unseal` started the agent and the launcher, and commands run without a
passphrase in their environment. Whether a command ran warm is read from `python -X importtime`: the client
imports nothing of kmstui but kmstui.launch; a command run in its own process imports kmstui.cli.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kmstui import launch


def _wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _launcher_pid(runtime: Path) -> int | None:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"kmstui.warm" in cmdline and os.fsencode(str(runtime)) in cmdline:
                return int(entry)
    return None


def _children(pid: int) -> list[int]:
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            out += [int(c) for c in f.read().split()]
    return out


REPO = Path(__file__).resolve().parent.parent


def code_copy(into: Path) -> dict[str, str]:
    """A private copy of kmstui and its plugins, and the PYTHONPATH that runs it: a test that changes a module
    on disk changes the copy, never the checkout every other test's launcher has loaded (a change of ctime
    cannot be undone, and would make those launchers decline)."""
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "kmstui", into / "kmstui", ignore=ignore)
    for plugin in (REPO / "plugins").iterdir():
        if (plugin / "__init__.py").exists():
            shutil.copytree(plugin, into / plugin.name, ignore=ignore)
    return {"PYTHONPATH": str(into)}


@pytest.fixture
def warm(unsealed_hsm, kmstui_home):
    yield from _warm(unsealed_hsm, {})


@pytest.fixture
def warm_copy(unsealed_hsm, kmstui_home, tmp_path):
    """`warm`, with kmstui run from a private copy (code_copy): the copy's kmstui/errors.py is returned too."""
    extra = code_copy(tmp_path / "code")
    for env, runtime in _warm(unsealed_hsm, extra):
        yield env, runtime, tmp_path / "code" / "kmstui" / "errors.py"


def _warm(unsealed_hsm, extra: dict[str, str]):
    key = unsealed_hsm.create_key(Description="warm")["KeyMetadata"]["KeyId"]
    unsealed_hsm.create_alias(AliasName="alias/app", TargetKeyId=key)
    unsealed_hsm.close()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.pop("KMSTUI_WARM", None)
    env.update(extra)
    subprocess.run([sys.executable, "-m", "kmstui", "hsm", "unseal", "--ttl", "120"], env=env, check=True,
                   capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    env.pop("KMSTUI_PASSPHRASE")
    runtime = Path(launch.runtime_dir(env))
    assert _wait_for(lambda: (runtime / launch.SOCKET_NAME).exists()), "hsm unseal started no launcher"
    yield env, runtime
    subprocess.run([sys.executable, "-m", "kmstui", "hsm", "seal", "--all"], env=env, capture_output=True,
                   timeout=60, stdin=subprocess.DEVNULL)
    _wait_for(lambda: _launcher_pid(runtime) is None, 5)


def _restart_launcher(env, runtime: Path, *, preexec_fn=None, extra_env=None) -> None:
    """`hsm seal --all` (the launcher ends with the agent), then `hsm unseal` started differently: with
    `preexec_fn` applied to it (its signal dispositions, seccomp filters, no-new-privileges: which the
    launcher it starts inherits), or with `extra_env` added to its environment."""
    from tests.conftest import TEST_PASSPHRASE

    subprocess.run([sys.executable, "-m", "kmstui", "hsm", "seal", "--all"], env=env, check=True,
                   capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert _wait_for(lambda: _launcher_pid(runtime) is None, 5)
    subprocess.run([sys.executable, "-m", "kmstui", "hsm", "unseal", "--ttl", "120"],
                   env={**env, "KMSTUI_PASSPHRASE": TEST_PASSPHRASE, **(extra_env or {})}, check=True,
                   capture_output=True, timeout=60, stdin=subprocess.DEVNULL, preexec_fn=preexec_fn)
    assert _wait_for(lambda: _launcher_pid(runtime) is not None and (runtime / launch.SOCKET_NAME).exists())


def _run(args, env, *, warm_on: bool = True, input: bytes = b"", cwd=None, preexec_fn=None):
    """(exit code, stdout, stderr without the import lines, ran warm)."""
    env = dict(env) if warm_on else {**env, "KMSTUI_WARM": "0"}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "kmstui", *args], input=input, env=env,
                          capture_output=True, timeout=60, cwd=cwd, preexec_fn=preexec_fn)
    lines = proc.stderr.decode().splitlines(keepends=True)
    imports = [line for line in lines if line.startswith("import time:")]
    err = "".join(line for line in lines if not line.startswith("import time:"))
    ran_warm = not any(line.rstrip().endswith(" kmstui.cli") for line in imports)
    return proc.returncode, proc.stdout, err, ran_warm


def test_a_command_runs_warm_with_the_same_output_errors_and_exit_code(warm):
    env, _runtime = warm
    code, message, err, ran_warm = _run(["envelope", "encrypt", "-", "--key-id", "alias/app"], env,
                                        input=b"attack at dawn")
    assert (code, ran_warm) == (0, True), err
    assert err == "encrypted 1 file, 14 B, 1 backend call\n"
    code, plain, err, ran_warm = _run(["envelope", "decrypt", "-"], env, input=message)
    assert (code, plain, ran_warm) == (0, b"attack at dawn", True), err
    for args in (["key", "describe", "alias/app", "--output", "json"],
                 ["key", "describe", "alias/missing"],  # NotFoundException: one line, its exit code
                 ["envelope", "decrypt", "-"],  # not a message
                 ["key", "describe"]):  # a usage error
        warm_result = _run(args, env, input=b"junk")
        cold_result = _run(args, env, input=b"junk", warm_on=False)
        assert warm_result[3] and not cold_result[3]
        assert warm_result[:3] == cold_result[:3], args


def test_the_worker_takes_the_clients_folder_umask_and_environment(warm, tmp_path):
    env, _runtime = warm
    (tmp_path / "plan.txt").write_bytes(b"plan")

    def umask_077():
        os.umask(0o077)

    code, _out, err, ran_warm = _run(["envelope", "encrypt", "plan.txt", "--key-id", "alias/app"], env,
                                     cwd=tmp_path, preexec_fn=umask_077)
    assert (code, ran_warm) == (0, True), err
    made = tmp_path / "plan.txt.enc"
    assert made.exists() and made.stat().st_mode & 0o777 == 0o600
    # The plugins a command loads follow its own environment, not the launcher's.
    only = {**env, "KMSTUI_PLUGINS": "envelope"}
    warm_result = _run(["plugins", "--output", "json"], only)
    cold_result = _run(["plugins", "--output", "json"], only, warm_on=False)
    assert warm_result[3] and warm_result[:3] == cold_result[:3]
    assert b"kmstui_whatif" not in warm_result[1] and b"kmstui_envelope" in warm_result[1]


def test_a_terminal_on_standard_input_runs_the_command_in_its_own_process(warm):
    """A command that may prompt (a passphrase, a confirmation, an editor) needs the user's terminal as its
    controlling terminal, which a worker has not."""
    env, _runtime = warm
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "kmstui", "key", "list"], env=env,
                              stdin=follower, capture_output=True, timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    assert proc.returncode == 0
    assert b" kmstui.cli\n" in proc.stderr


def test_changed_code_is_never_run_warm(warm_copy):
    """An upgrade (or an edit) of a module the launcher loaded: the command runs in its own process, on the
    new code, and the launcher ends."""
    env, runtime, module = warm_copy
    away = module.parent.parent.parent  # not the checkout: `python -m` looks in its folder first
    code, _out, err, ran_warm = _run(["key", "list"], env, cwd=away)
    assert (code, ran_warm) == (0, True), err  # the copy runs warm, until...
    before = module.stat()
    os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    code, _out, err, ran_warm = _run(["key", "list"], env, cwd=away)
    assert (code, ran_warm) == (0, False), err
    assert _wait_for(lambda: _launcher_pid(runtime) is None, 5)
    assert not (runtime / launch.SOCKET_NAME).exists()


def _signals_default():
    """preexec_fn: SIGINT, SIGTERM and SIGHUP as a terminal's foreground command has them. A test run started in
    the background (`bash .ci/run &`) has SIGINT ignored, and a command started ignoring a signal keeps ignoring
    it, warm or not (test_a_signal_the_client_ignores_stays_ignored)."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def _started(env, runtime, tmp_path):
    """An `envelope encrypt` from a pipe that stays open, taken by a worker: (client, worker pid)."""
    launcher = _launcher_pid(runtime)
    assert launcher
    client = subprocess.Popen([sys.executable, "-m", "kmstui", "envelope", "encrypt", "-", "--key-id", "alias/app",
                               "--out", str(tmp_path / "out.enc")], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_signals_default)
    client.stdin.write(b"x" * 100_000)
    client.stdin.flush()
    assert _wait_for(lambda: _children(launcher)), "no worker took the command"
    return client, _children(launcher)[0]


def test_an_interrupt_reaches_the_command(warm, tmp_path):
    env, runtime = warm
    client, _worker = _started(env, runtime, tmp_path)
    time.sleep(0.3)  # let it get into the work
    client.send_signal(signal.SIGINT)
    client.wait(timeout=30)  # standard input still open: the message cannot have ended
    err = client.stderr.read()
    client.stdin.close()
    client.stderr.close()
    assert client.returncode == 130
    assert b"interrupted" in err
    assert not (tmp_path / "out.enc").exists()


def test_a_killed_client_takes_the_command_with_it(warm, tmp_path):
    env, runtime = warm
    client, worker = _started(env, runtime, tmp_path)
    client.kill()
    client.wait(timeout=30)
    assert _wait_for(lambda: not os.path.exists(f"/proc/{worker}"), 10)
    client.stdin.close()
    client.stderr.close()
    assert not (tmp_path / "out.enc").exists()


def _warm_start_shown(env) -> bool:
    proc = subprocess.run([sys.executable, "-m", "kmstui", "hsm", "status", "--output", "json"], env=env,
                          capture_output=True, timeout=60, stdin=subprocess.DEVNULL, check=True)
    return json.loads(proc.stdout)["Agent"]["WarmStart"]


def test_the_launcher_ends_with_the_agent(warm):
    env, runtime = warm
    assert _launcher_pid(runtime) and _warm_start_shown(env)
    subprocess.run([sys.executable, "-m", "kmstui", "hsm", "seal", "--all"], env=env, check=True,
                   capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert _wait_for(lambda: _launcher_pid(runtime) is None, 5)
    assert not (runtime / launch.SOCKET_NAME).exists()
    assert not _warm_start_shown(env)


@pytest.mark.parametrize("argv", [[], ["--version"], ["shell"], ["run", "x"], ["hsm", "status"], ["serve"],
                                  ["__complete", "key"]])
def test_modes_and_hsm_commands_are_never_handed_over(argv, monkeypatch):
    monkeypatch.delenv("KMSTUI_WARM", raising=False)
    assert not launch._eligible(argv)


def test_a_signal_the_client_ignores_stays_ignored(warm, tmp_path):
    """`nohup kmstui envelope encrypt ...` survives the hang-up as it does in its own process."""
    env, runtime = warm
    launcher = _launcher_pid(runtime)
    out = tmp_path / "out.enc"
    client = subprocess.Popen([sys.executable, "-m", "kmstui", "envelope", "encrypt", "-", "--key-id", "alias/app",
                               "--out", str(out)], env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
                              restore_signals=False)
    client.stdin.write(b"x" * 1000)
    client.stdin.flush()
    assert _wait_for(lambda: _children(launcher)), "no worker took the command"
    time.sleep(0.3)
    client.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    client.stdin.close()
    client.wait(timeout=30)
    err = client.stderr.read()
    client.stderr.close()
    assert (client.returncode, err) == (0, b"encrypted 1 file, 1000 B, 1 backend call\n")
    assert out.exists()


def test_a_launcher_started_with_sigint_ignored_still_lets_ctrl_c_reach_the_command(warm, tmp_path):
    """`kmstui hsm unseal &` in a script starts the launcher with SIGINT ignored; the commands it runs are
    interrupted as the client's own process would be."""
    env, runtime = warm
    _restart_launcher(env, runtime, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    time.sleep(0.3)
    test_an_interrupt_reaches_the_command((env, runtime), tmp_path)


def test_a_file_put_back_with_its_old_size_and_mtime_is_still_a_change(warm_copy):
    """`cp -p`, `rsync -a`, `tar x` and package managers restore an mtime: the launcher must not run old code."""
    env, runtime, module = warm_copy
    away = module.parent.parent.parent
    assert _run(["key", "list"], env, cwd=away)[3]
    before = module.stat()
    module.write_bytes(module.read_bytes())  # "new" content of the same size...
    os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))  # ...with the old mtime
    code, _out, err, ran_warm = _run(["key", "list"], env, cwd=away)
    assert (code, ran_warm) == (0, False), err
    assert _wait_for(lambda: _launcher_pid(runtime) is None, 5)


def test_a_client_with_other_resource_limits_runs_in_its_own_process(warm, tmp_path):
    """`ulimit -f` (or -v, -n, nice, another cgroup or namespace): the worker would run with the launcher's."""
    import resource

    env, _runtime = warm
    (tmp_path / "big").write_bytes(b"x" * 200_000)

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))

    args = ["envelope", "encrypt", "big", "--key-id", "alias/app"]
    warm_result = _run(args, env, cwd=tmp_path, preexec_fn=small_files)
    cold_result = _run(args, env, cwd=tmp_path, preexec_fn=small_files, warm_on=False)
    assert not warm_result[3]
    assert warm_result[:3] == cold_result[:3]
    assert warm_result[0] != 0 and not (tmp_path / "big.enc").exists()


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/unshare").exists(), reason="needs root and unshare")
def test_a_client_in_another_mount_namespace_cannot_write_outside_it(warm, tmp_path):
    env, _runtime = warm
    (tmp_path / "plain").write_bytes(b"secret plan")
    box = tmp_path / "box"
    box.mkdir()
    script = (f"mount --bind -o ro {box} {box} && exec {sys.executable} -m kmstui envelope encrypt {tmp_path}/plain "
              f"--key-id alias/app --out {box}/escaped.enc")
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert proc.returncode != 0
    assert not (box / "escaped.enc").exists()


ORPHAN = r"""
import ctypes, os, signal, socket, struct, subprocess, sys, time
from kmstui import launch
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER, as systemd --user, tmux or a container's init
got = []
signal.signal(signal.SIGTERM, lambda *_: got.append(1))
subprocess.run([sys.executable, "-m", "kmstui", "hsm", "unseal", "--ttl", "60"], check=True, capture_output=True,
               stdin=subprocess.DEVNULL)
path = os.path.join(launch.runtime_dir(), launch.SOCKET_NAME)
while not os.path.exists(path):
    time.sleep(0.05)
time.sleep(0.3)
slow = socket.socket(socket.AF_UNIX)
slow.connect(path)  # a worker waits for this client's request
time.sleep(0.3)
import kmstui.errors
module = kmstui.errors.__file__
st = os.stat(module)
os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns))  # an upgrade
subprocess.run([sys.executable, "-m", "kmstui", "key", "list"], capture_output=True, stdin=subprocess.DEVNULL,
               env={k: v for k, v in os.environ.items() if k != "KMSTUI_PASSPHRASE"})  # its worker ends the launcher
time.sleep(1.5)
data = launch.payload([sys.argv[0], "key", "list"])
cwd = os.open(".", os.O_RDONLY)
slow.recv(1)  # the worker's "ready"
slow.sendmsg([struct.pack("!I", len(data))], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("4i", 0, 1, 2, cwd))])
slow.sendall(data)
slow.recv(5)
time.sleep(0.5)
subprocess.run([sys.executable, "-m", "kmstui", "hsm", "seal", "--all"], capture_output=True, stdin=subprocess.DEVNULL)
print("SIGTERM" if got else "none")
"""


def test_an_orphaned_worker_never_signals_its_new_parent(unsealed_hsm, kmstui_home, tmp_path):
    """A worker whose launcher ended (another worker told it to, after an upgrade) has been adopted by init or a
    subreaper: it must not send that process the SIGTERM meant for the launcher."""
    unsealed_hsm.close()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.pop("KMSTUI_WARM", None)
    env.update(code_copy(tmp_path / "code"))  # the script touches a module: the copy's
    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN)
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, timeout=60, cwd=tmp_path,
                          stdin=subprocess.DEVNULL)
    assert proc.stdout == b"none\n", proc.stderr


def test_a_descriptor_the_command_was_given_beyond_the_standard_three_is_still_there(warm, tmp_path):
    """`kmstui envelope encrypt <(tar c dir)` and `--plaintext fileb:///dev/fd/3 3<file` name a descriptor
    the shell passed; a worker has only the standard three, so the command runs in its own process."""
    env, _runtime = warm
    (tmp_path / "plan").write_bytes(b"plan")
    fd = os.open(tmp_path / "plan", os.O_RDONLY)
    try:
        proc = subprocess.run([sys.executable, "-m", "kmstui", "encrypt", "--key-id", "alias/app", "--plaintext",
                               f"fileb:///dev/fd/{fd}", "--output", "text"], env=env, pass_fds=(fd,),
                              capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    finally:
        os.close(fd)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert proc.stdout.strip()


@pytest.mark.parametrize("argv", [["encrypt", "--key-id", "alias/app", "--plaintext", "file:///dev/tty"],
                                  ["key", "create", "--policy", "file:///dev/tty"]])
def test_a_command_that_names_the_controlling_terminal_is_never_handed_over(argv, monkeypatch):
    """A worker has no controlling terminal: its /dev/tty is ENXIO where the command would read the user's."""
    monkeypatch.delenv("KMSTUI_WARM", raising=False)
    monkeypatch.setattr(os, "isatty", lambda fd: False)
    monkeypatch.setattr(launch, "_inherited_descriptors", lambda: [])
    assert launch._eligible(["key", "list"])
    assert not launch._eligible(argv)


def test_a_stuck_launcher_holds_no_pipe_of_a_command_it_never_took(warm):
    """A launcher that does not answer (stopped, stuck on a file system): the command runs in its own process
    after the wait, and the program reading its output sees the end of it then, not when the launcher wakes."""
    env, runtime = warm
    launcher = _launcher_pid(runtime)
    os.kill(launcher, signal.SIGSTOP)
    try:
        start = time.monotonic()
        proc = subprocess.run(f"{sys.executable} -m kmstui key list --output text </dev/null | cat", shell=True,
                              env=env, capture_output=True, timeout=15)
        took = time.monotonic() - start
    finally:
        os.kill(launcher, signal.SIGCONT)
    assert proc.returncode == 0 and proc.stdout.startswith(b"KEYS\t"), proc.stderr
    assert took < launch.HAND_OVER_TIMEOUT + 1.5, f"a stopped launcher cost the command {took:.1f} s"


def test_a_steady_stream_of_commands_does_not_keep_the_launcher_past_the_agent(warm):
    """It checks for the agent every second whether or not commands keep coming (a loop in a script)."""
    env, runtime = warm
    launcher = _launcher_pid(runtime)
    subprocess.run([sys.executable, "-m", "kmstui", "hsm", "seal", "--all"], env={**env, "KMSTUI_WARM": "0"},
                   check=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and os.path.exists(f"/proc/{launcher}"):
        with socket.socket(socket.AF_UNIX) as s:  # a command's connection, as often as one every ~50 ms
            with contextlib.suppress(OSError):
                s.connect(str(runtime / launch.SOCKET_NAME))
        time.sleep(0.05)
    assert not _launcher_alive(launcher)


def _launcher_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_the_launcher_holds_no_secret_of_the_unseal_environment(warm):
    """`hsm unseal` may run with a PKCS#11 PIN or AWS credentials in its environment: the launcher, which lives
    as long as the agent, keeps none of it (a worker runs on its client's environment)."""
    env, runtime = warm
    from tests.conftest import TEST_PASSPHRASE

    secrets = {"KMSTUI_PASSPHRASE": TEST_PASSPHRASE, "KMSTUI_PKCS11_PIN": "246810",
               "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS_SESSION_TOKEN": "FwoGZXIvYXdz"}
    _restart_launcher(env, runtime, extra_env=secrets)
    held = Path(f"/proc/{_launcher_pid(runtime)}/environ").read_bytes()
    assert not [name for name, value in secrets.items() if value.encode() in held]
    code, _out, err, ran_warm = _run(["key", "list"], env)
    assert (code, ran_warm) == (0, True), err


@pytest.mark.parametrize("name", ["OPENSSL_CONF", "PYTHONHASHSEED"])
def test_a_variable_read_when_libraries_load_must_match_the_launchers(warm, tmp_path, name):
    """OpenSSL reads its configuration (FIPS, providers) once, when cryptography loads, in the launcher."""
    env, _runtime = warm
    (tmp_path / "openssl.cnf").write_text("openssl_conf = openssl_init\n[openssl_init]\n")
    value = str(tmp_path / "openssl.cnf") if name == "OPENSSL_CONF" else "12345"
    code, _out, err, ran_warm = _run(["key", "list"], {**env, name: value})
    assert (code, ran_warm) == (0, False), err


def _seccomp_allow_all(filters: int):
    """preexec_fn: `filters` seccomp filters that allow every call (as a container runtime's profile, and then a
    sandbox's own filter stacked on it, would add). Without no-new-privileges, which a client may not have
    (test_a_client_with_no_new_privileges_runs_in_its_own_process): root may install filters without it."""
    import ctypes

    def apply():
        libc = ctypes.CDLL(None, use_errno=True)
        insn = ctypes.create_string_buffer(struct.pack("HBBI", 0x06, 0, 0, 0x7FFF0000), 8)  # RET ALLOW

        class Prog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        prog = Prog(1, ctypes.cast(insn, ctypes.c_void_p))
        for _ in range(filters):
            if libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
                raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")

    return apply


@pytest.mark.skipif(not Path("/proc/self/status").read_text().count("Seccomp_filters") or os.geteuid() != 0,
                    reason="needs a kernel that counts seccomp filters, and root (filters without no-new-privileges)")
def test_a_client_with_a_seccomp_filter_stacked_on_the_launchers_runs_in_its_own_process(warm):
    """In a container every process has the runtime's filter (Seccomp: 2): a sandbox that adds its own filter
    leaves that line as it was, only Seccomp_filters counts it; a worker would run without the extra filter."""
    env, runtime = warm
    _restart_launcher(env, runtime, preexec_fn=_seccomp_allow_all(1))
    code, _out, err, ran_warm = _run(["key", "list"], env, preexec_fn=_seccomp_allow_all(1))
    assert (code, ran_warm) == (0, True), err  # the launcher's own filter: nothing differs
    code, _out, err, ran_warm = _run(["key", "list"], env, preexec_fn=_seccomp_allow_all(2))
    assert (code, ran_warm) == (0, False), err


def test_the_shared_libraries_the_launcher_mapped_are_watched_too():
    """A security update of OpenSSL (libcrypto, libssl) or of the interpreter replaces files no module names:
    a launcher that kept running them would run old code a new process would not."""
    import cryptography.hazmat.bindings._rust  # noqa: F401 - maps libcrypto where the system provides it

    from kmstui import warm

    mapped = set()
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[5].startswith("/") and fields[4] != "0" and os.path.exists(fields[5]):
            mapped.add(fields[5])
    assert os.path.realpath(sys.executable) in mapped
    assert not mapped - set(warm.module_files())


def test_a_launcher_whose_socket_was_removed_makes_way_for_a_new_one(warm):
    """Nothing finds a launcher whose socket file is gone, and its lock would stop the one the next `hsm unseal`
    starts: it ends, and warm start comes back."""
    env, runtime = warm
    old = _launcher_pid(runtime)
    (runtime / launch.SOCKET_NAME).unlink()
    assert _wait_for(lambda: _launcher_pid(runtime) is None, 5)
    from tests.conftest import TEST_PASSPHRASE

    subprocess.run([sys.executable, "-m", "kmstui", "hsm", "unseal", "--ttl", "120"],
                   env={**env, "KMSTUI_PASSPHRASE": TEST_PASSPHRASE}, check=True, capture_output=True, timeout=60,
                   stdin=subprocess.DEVNULL)
    assert _wait_for(lambda: (runtime / launch.SOCKET_NAME).exists())
    assert _launcher_pid(runtime) not in (None, old)
    code, _out, err, ran_warm = _run(["key", "list"], env)
    assert (code, ran_warm) == (0, True), err


def _no_new_privileges():
    import ctypes

    assert ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS


def test_a_client_with_no_new_privileges_runs_in_its_own_process(warm, tmp_path):
    """An unprivileged Landlock sandbox requires no-new-privileges, and Landlock shows nowhere in /proc (nor does
    it stop a connect() to a named socket): a worker would write where the sandboxed client cannot."""
    env, runtime = warm
    code, _out, err, ran_warm = _run(["key", "list"], env, preexec_fn=_no_new_privileges)
    assert (code, ran_warm) == (0, False), err
    # Also where the launcher has the flag too (a systemd service with NoNewPrivileges=, a pod without
    # privilege escalation), so that the two processes' contexts are alike.
    _restart_launcher(env, runtime, preexec_fn=_no_new_privileges)
    code, _out, err, ran_warm = _run(["key", "list"], env, preexec_fn=_no_new_privileges)
    assert (code, ran_warm) == (0, False), err


def test_other_interpreter_flags_run_in_their_own_process(warm):
    env, _runtime = warm
    proc = subprocess.run([sys.executable, "-B", "-X", "importtime", "-m", "kmstui", "key", "list"], env=env,
                          capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and b" kmstui.cli\n" in proc.stderr  # -B: no bytecode written, as asked


PEEK = r"""
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(3)
print(repr(s.recv(1)), flush=True)
"""


def test_no_worker_is_forked_for_a_client_that_may_not_have_one(warm):
    """A client in a tighter cgroup or under other limits must not get a process outside them, even an idle one."""
    env, runtime = warm
    import resource

    launcher = _launcher_pid(runtime)

    def lower_fsize():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    peek = subprocess.Popen([sys.executable, "-c", PEEK, str(runtime / launch.SOCKET_NAME)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=lower_fsize)
    seen_worker = _wait_for(lambda: bool(_children(launcher)), 1.0)
    out, err = peek.communicate(timeout=30)
    assert out == b"b''\n", err  # closed at once: no "R" from a worker
    assert not seen_worker
