"""The TUI's live request tail under a busy server (run by hand):
`python benchmarks/bench_serve_tail.py [--rate 2000] [--seconds 5] [--rounds 3]`.

A synthetic access log (lines exactly as `kmstui serve` writes them) grows at --rate requests/s while the
serve screen (kmstui/tui/screens/serve.py, under Pilot at 120x35) follows it; a 10 ms ticker on the UI's
event loop measures how late it runs (a late tick is a frame that could not be drawn). Peer: the design the
screen replaced, the same log read on the UI thread into Textual's DataTable (add_row, and remove_row past
the same 1,000-row cap). Target (as issue 7's for the TUI): no stall over 100 ms, and the screen keeps up
(its newest row is the log's newest line within a second of the writer stopping).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO))
from peers import banner, closing, interleaved, median, spread  # noqa: E402

from rich.text import Text  # noqa: E402
from textual.app import App  # noqa: E402
from textual.screen import Screen  # noqa: E402
from textual.widgets import DataTable  # noqa: E402

from kmstui.server.accesslog import AccessLogTail  # noqa: E402
from kmstui.server.handler import AccessRecord  # noqa: E402
from kmstui.tui.screens.serve import MAX_ROWS, ServeScreen, row_cells  # noqa: E402

KEY = "arn:aws:kms:us-east-1:111122223333:key/00000001-1111-4222-8333-444455556666"


def log_line(n: int) -> str:
    return AccessRecord(time=time.time(), request_id=f"{n:08d}-aaaa-4bbb-8ccc-dddddddddddd", source_ip="127.0.0.1",
                        principal="arn:aws:iam::111122223333:user/app", access_key_id="AKIAEXAMPLE",
                        operation="Encrypt", key=KEY, decision="allow" if n % 10 else "deny", status=200,
                        latency_ms=1.25).to_json() + "\n"


class DataTableTail(Screen):
    """The peer: the earlier design (the log read and parsed on the UI thread, one DataTable row per request)."""

    def __init__(self, log: Path) -> None:
        super().__init__(id="serve")
        self.tail = AccessLogTail(log)
        self.newest = None

    def compose(self):
        table: DataTable = DataTable(id="serve-requests", cursor_type="row")
        table.add_columns("Time", "Principal", "Operation", "Key", "Decision", "Status", "ms")
        yield table

    def on_mount(self) -> None:
        self.set_interval(0.5, self.tick)

    def tick(self) -> None:
        table = self.query_one(DataTable)
        records = self.tail.read()
        for record in records[-MAX_ROWS:]:
            table.add_row(*(Text(c) for c in row_cells(record)))
        while table.row_count > MAX_ROWS:
            table.remove_row(next(iter(table.rows)))
        if records:
            self.newest = records[-1]["requestId"]
            table.move_cursor(row=table.row_count - 1)


class Bench(App):
    def __init__(self, log: Path, contender: str) -> None:
        super().__init__()
        self.access_log, self.contender = log, contender

    def server_state(self):  # what KmstuiApp answers from the state files: a server writing `log`
        return {"Pid": 1, "Url": "http://127.0.0.1:4599", "Started": 0.0, "AccessLog": str(self.access_log),
                "UptimeSeconds": 60}

    def on_mount(self) -> None:
        session = type("Session", (), {"profile_name": "bench"})()
        self.push_screen(ServeScreen(session) if self.contender == "kmstui" else DataTableTail(self.access_log))


def write_log(log: Path, rate: int, seconds: float, count: dict[str, int]) -> None:
    """Append `rate` lines a second, in batches of 50 ms, as a server's batched writer would."""
    batch = max(1, rate // 20)
    start = time.perf_counter()
    with log.open("a") as fh:
        while time.perf_counter() - start < seconds:
            n = count["written"]
            fh.write("".join(log_line(n + i) for i in range(batch)))
            fh.flush()
            count["written"] = n + batch
            time.sleep(max(0.0, start + count["written"] / rate - time.perf_counter()))


def newest(screen) -> str | None:
    if isinstance(screen, ServeScreen):
        return screen.records[-1]["requestId"] if screen.records else None
    return screen.newest


async def run_once(contender: str, rate: int, seconds: float) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="kmstui-tail-"))
    log = folder / "access-4599.jsonl"
    log.write_text("")
    app = Bench(log, contender)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause(0.5)
        stalls: list[float] = []

        async def ticker() -> None:
            while True:
                t = time.perf_counter()
                await asyncio.sleep(0.01)
                stalls.append(time.perf_counter() - t - 0.01)

        task = asyncio.create_task(ticker())
        count = {"written": 0}
        writer = threading.Thread(target=write_log, args=(log, rate, seconds, count))  # off the UI's loop
        writer.start()
        while writer.is_alive():
            await pilot.pause(0.05)
        written = count["written"]
        last = f"{written - 1:08d}-aaaa-4bbb-8ccc-dddddddddddd"
        stopped = time.perf_counter()
        caught_up = None
        while time.perf_counter() - stopped < 10:
            if newest(app.screen) == last:
                caught_up = time.perf_counter() - stopped
                break
            await pilot.pause(0.05)
        task.cancel()
    stalls.sort()
    return {"max": stalls[-1] * 1000, "p99": stalls[int(len(stalls) * 0.99)] * 1000,
            "catch_up": caught_up if caught_up is not None else float("inf"), "written": written}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=2000, help="requests per second written to the log")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    banner(f"serve screen tail: {args.rate} requests/s for {args.seconds:g} s, 120x35, {args.rounds} rounds",
           ["peer: the same log read on the UI thread into Textual's DataTable (the earlier design)"])
    results = interleaved(args.rounds, {
        name: (lambda name=name: asyncio.run(run_once(name, args.rate, args.seconds))) for name in ("kmstui", "DataTable")})
    for name, runs in results.items():
        print(f"{name:10} event-loop stall max {spread([r['max'] for r in runs], '{:.0f}')} ms, "
              f"p99 {spread([r['p99'] for r in runs], '{:.0f}')} ms; newest row shown "
              f"{spread([r['catch_up'] for r in runs], '{:.2f}')} s after the writer stopped")
    ours, peer = (median([r["max"] for r in results[n]]) for n in ("kmstui", "DataTable"))
    print(f"max stall kmstui / DataTable: {ours / peer:.2f}x; target: kmstui max stall <= 100 ms: "
          f"{'met' if ours <= 100 else 'NOT met'}")
    closing()


if __name__ == "__main__":
    main()
