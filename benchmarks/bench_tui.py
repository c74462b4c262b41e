"""TUI benchmarks (run by hand): `python benchmarks/bench_tui.py [first-frame|filter|encrypt|all]`.

1. first-frame: time from launching the process until its first frame is on a real terminal (tmux,
   polled with capture-pane), for `python -m kmstui` and for a minimal Textual app measured the same way.
   Target: kmstui <= 2x the minimal app.
2. filter: the key table with 10,000 keys; per keystroke, filtering plus drawing every visible line, and
   the same keystroke through Pilot end to end; Textual's DataTable rebuilt per keystroke is the peer.
   Target: <= 100 ms per keystroke.
3. encrypt: encrypting a 1 GiB file from the envelope screen while a 10 ms ticker measures how late the
   UI's event loop runs (a late tick = a frame that could not be drawn). Target: no stall > 100 ms.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import banner, closing  # noqa: E402

SIZES = ((80, 24), (120, 35))  # an ssh session and a split: the sizes issue 16 names
PASSPHRASE = "correct horse battery staple"
MINIMAL_APP = """
from textual.app import App
from textual.widgets import Static
class Minimal(App):
    def compose(self):
        yield Static("minimal-first-frame")
Minimal().run()
"""


def make_home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="kmstui-bench-"))
    env = {**os.environ, "KMSTUI_HOME": str(home), "KMSTUI_PASSPHRASE": PASSPHRASE}
    subprocess.run([sys.executable, "-m", "kmstui", "hsm", "init"], env=env, check=True, capture_output=True)
    return home


def time_to_text(command: str, marker: str, socket: str, size: tuple[int, int] = (120, 35)) -> float:
    tmux = ["tmux", "-L", socket]
    start = time.perf_counter()
    subprocess.run([*tmux, "-f", "/dev/null", "new-session", "-d", "-s", "b", "-x", str(size[0]), "-y", str(size[1]),
                    command],
                   check=True)
    try:
        while time.perf_counter() - start < 30:
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", "b"], capture_output=True, text=True).stdout
            if marker in screen:
                return time.perf_counter() - start
            time.sleep(0.005)
        raise RuntimeError(f"{marker!r} never appeared")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def bench_first_frame(runs: int = 7) -> None:
    if shutil.which("tmux") is None:
        print("first-frame: tmux not installed; skipped")
        return
    home = make_home()
    minimal = home / "minimal.py"
    minimal.write_text(MINIMAL_APP)
    kmstui_cmd = f"cd {REPO} && env KMSTUI_HOME={home} KMSTUI_PASSPHRASE='{PASSPHRASE}' {sys.executable} -m kmstui"
    minimal_cmd = f"{sys.executable} {minimal}"
    for size in SIZES:
        ours, peer = [], []
        for n in range(runs):  # interleaved: the peer and kmstui share whatever load the machine has
            peer.append(time_to_text(minimal_cmd, "minimal-first-frame", f"bench-{os.getpid()}-m{n}", size))
            ours.append(time_to_text(kmstui_cmd, "filter keys", f"bench-{os.getpid()}-k{n}", size))
        m_ours, m_peer = statistics.median(ours), statistics.median(peer)
        print(f"first-frame {size[0]}x{size[1]}: kmstui median {m_ours * 1000:.0f} ms "
              f"({min(ours) * 1000:.0f}-{max(ours) * 1000:.0f}), minimal Textual app {m_peer * 1000:.0f} ms "
              f"({min(peer) * 1000:.0f}-{max(peer) * 1000:.0f}), ratio {m_ours / m_peer:.2f}x "
              f"(target <= 2x; {runs} runs each)")


def synthetic_keys(n: int) -> list[dict]:
    import datetime

    return [{"KeyId": f"{i:08x}-0000-4000-8000-{i:012x}", "Arn": f"arn:aws:kms:us-east-1:111122223333:key/{i}",
             "Description": f"{['orders', 'billing', 'audit', 'backup'][i % 4]} key {i}", "KeyState": "Enabled",
             "KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT",
             "CreationDate": datetime.datetime(2026, 1, 1), "Aliases": [f"alias/app-{i}"]} for i in range(n)]


async def _bench_filter(n: int, size: tuple[int, int] = (120, 35)) -> None:
    from rich.text import Text
    from textual.app import App
    from textual.widgets import DataTable, Input

    from kmstui.tui.widgets.key_table import COLUMNS, KeyRow, KeyTable

    keys = synthetic_keys(n)

    from kmstui.tui.theming import VARIABLE_DEFAULTS

    class TableApp(App):
        def get_theme_variable_defaults(self):
            return dict(VARIABLE_DEFAULTS)

        def compose(self):
            yield Input(id="filter")
            yield KeyTable(id="keys")

        filtering = True

        def on_input_changed(self, event):
            if self.filtering:
                self.query_one(KeyTable).apply_filter(event.value)

    typed = "orders 12"
    app = TableApp()
    async with app.run_test(size=size) as pilot:
        table = app.query_one(KeyTable)
        t0 = time.perf_counter()
        table.set_rows([KeyRow.from_metadata(md) for md in keys])
        load = time.perf_counter() - t0
        work = []
        for i in range(1, len(typed) + 1):
            t0 = time.perf_counter()
            table.apply_filter(typed[:i])
            for y in range(table.size.height):
                table.render_line(y)
            work.append(time.perf_counter() - t0)
        table.apply_filter("")
        app.query_one(Input).focus()
        e2e = []
        for ch in typed:
            t0 = time.perf_counter()
            await pilot.press("space" if ch == " " else ch)
            e2e.append(time.perf_counter() - t0)
        assert len(table.visible_rows) > 0
        app.filtering = False
        app.query_one(Input).value = ""
        base = []
        for ch in typed:
            t0 = time.perf_counter()
            await pilot.press("space" if ch == " " else ch)
            base.append(time.perf_counter() - t0)
    print(f"filter {size[0]}x{size[1]} ({n} keys): load {load * 1000:.0f} ms once; per keystroke filter+draw max "
          f"{max(work) * 1000:.1f} ms (mean {statistics.mean(work) * 1000:.1f}); through Pilot (key event, "
          f"filter, refresh) max {max(e2e) * 1000:.1f} ms, each: "
          f"{' '.join(f'{t * 1000:.0f}' for t in e2e)} ms; the same keys with filtering off (Pilot's own cost) "
          f"{' '.join(f'{t * 1000:.0f}' for t in base)} ms (target <= 100 ms)")

    class PeerApp(App):
        def compose(self):
            yield DataTable()

    app = PeerApp()
    rows = [tuple(Text(str(getattr(KeyRow.from_metadata(md), attr))) for attr, _h, _w in COLUMNS) for md in keys]
    async with app.run_test(size=size) as pilot:
        dt = app.query_one(DataTable)
        dt.add_columns(*(h for _a, h, _w in COLUMNS))
        peer = []
        for i in range(1, len(typed) + 1):
            needle = typed[:i].split()
            t0 = time.perf_counter()
            dt.clear()
            dt.add_rows([r for r in rows if all(w in " ".join(c.plain for c in r).lower() for w in needle)])
            await pilot.pause()
            peer.append(time.perf_counter() - t0)
    print(f"filter peer {size[0]}x{size[1]}: Textual DataTable rebuilt per keystroke max {max(peer) * 1000:.0f} ms; "
          f"ratio kmstui/DataTable {max(e2e) / max(peer):.3f}")


def cli_encrypt(src: Path, out: Path) -> float:
    """The peer: `kmstui envelope encrypt` from the command line, same file, key and machine."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kmstui", "envelope", "encrypt", str(src), "--key-id", "alias/bench",
                    "--out", str(out), "--force"], check=True, capture_output=True, env=os.environ.copy())
    elapsed = time.perf_counter() - start
    out.unlink(missing_ok=True)
    return elapsed


async def _bench_encrypt(size_mib: int, size: tuple[int, int] = (120, 35)) -> None:
    from kmstui.session import Session
    from kmstui.tui.app import KmstuiApp
    from kmstui.tui.messages import CommandFailed, CommandFinished

    home = make_home()
    os.environ["KMSTUI_HOME"] = str(home)
    os.environ["KMSTUI_PASSPHRASE"] = PASSPHRASE
    src = home / "big.bin"
    block = os.urandom(1 << 20)
    with open(src, "wb") as f:
        for _ in range(size_mib):
            f.write(block)
    session = Session(interactive=True)
    session.execute(["key", "create", "--alias", "alias/bench"])
    done = []
    cli_before = cli_encrypt(src, home / "cli.enc")
    app = KmstuiApp(session)
    async with app.run_test(size=size, message_hook=lambda m: done.append(m)
                            if isinstance(m, (CommandFinished, CommandFailed)) else None) as pilot:
        await app.workers.wait_for_complete()
        app.call_later(app.open_plugin_screen, "envelope")
        while app.screen.id != "envelope":
            await pilot.pause(0.01)
        screen = app.screen
        screen.query_one("#envelope-files").value = str(src)
        screen.query_one("#envelope-keys").value = "alias/bench"
        screen.query_one("#envelope-out").value = str(src) + ".enc"
        done.clear()
        lags: list[float] = []
        start = time.perf_counter()
        screen.query_one("#envelope-encrypt").press()
        while not done:
            t0 = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - t0 - 0.01)
        elapsed = time.perf_counter() - start
        assert isinstance(done[0], CommandFinished), getattr(done[0], "error", done[0])
    session.close()
    cli_after = cli_encrypt(src, home / "cli.enc")
    cli = statistics.median([cli_before, cli_after])
    shutil.rmtree(home, ignore_errors=True)
    print(f"encrypt {size_mib} MiB, CLI peer (before and after, median): {cli:.1f} s ({size_mib / cli:.0f} MiB/s)")
    print(f"encrypt {size_mib} MiB from the envelope screen {size[0]}x{size[1]}: {elapsed:.1f} s "
          f"({size_mib / elapsed:.0f} MiB/s, {cli / elapsed:.2f}x the CLI; target >= 0.9x); "
          f"event-loop stall max {max(lags) * 1000:.0f} ms, p99 {sorted(lags)[int(len(lags) * 0.99)] * 1000:.0f} ms "
          f"over {len(lags)} ticks (target: none > 100 ms)")


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    banner(f"TUI benchmarks ({what})")
    if what in ("first-frame", "all"):
        bench_first_frame()
    if what in ("filter", "all"):
        for size in SIZES:
            asyncio.run(_bench_filter(10_000, size))
    if what in ("encrypt", "all"):
        for size in SIZES:
            asyncio.run(_bench_encrypt(int(os.environ.get("BENCH_MIB", "1024")), size))
    closing()


if __name__ == "__main__":
    main()
