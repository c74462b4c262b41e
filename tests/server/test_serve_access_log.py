"""The access log of `kmstui serve` is written in batches (one write per batch, not per request), yet no line
waits longer than FLUSH_DELAY, a full batch goes at once, and the lines still waiting when the server stops
are written (docs/serve.md, "Records")."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from kmstui.server.handler import AccessRecord
from kmstui.server.run import _AccessLog

pytestmark = pytest.mark.timeout(120)


def _record(n: int) -> AccessRecord:
    return AccessRecord(time=time.time(), request_id=f"req-{n}", source_ip="127.0.0.1", operation="Encrypt")


def _ids(path) -> list[str]:
    return [json.loads(line)["requestId"] for line in path.read_text().splitlines()]


def test_lines_reach_the_file_within_the_delay_and_at_close(tmp_path, capsys):
    path = tmp_path / "access.jsonl"
    log = _AccessLog(path, echo=True)

    async def serve() -> None:
        log.write(_record(1))
        log.write(_record(2))
        assert _ids(path) == []  # waiting for the batch
        deadline = time.monotonic() + 30  # the timer fires after FLUSH_DELAY; a loaded machine may be late
        while not _ids(path) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert _ids(path) == ["req-1", "req-2"]
        log.write(_record(3))  # still waiting when the server stops

    asyncio.run(serve())
    log.close()
    assert _ids(path) == ["req-1", "req-2", "req-3"]
    echoed = [json.loads(line)["requestId"] for line in capsys.readouterr().err.splitlines()]
    assert echoed == ["req-1", "req-2", "req-3"]


def test_a_full_batch_is_written_at_once(tmp_path):
    path = tmp_path / "access.jsonl"
    log = _AccessLog(path, echo=False)

    async def burst() -> list[str]:
        for n in range(log.BUFFER_LINES):
            log.write(_record(n))
        return _ids(path)  # no await since the first write: only the size bound can have written them

    assert len(asyncio.run(burst())) == log.BUFFER_LINES
    log.close()


def test_a_line_written_outside_the_event_loop_is_not_held(tmp_path):
    path = tmp_path / "access.jsonl"
    log = _AccessLog(path, echo=False)
    log.write(_record(7))
    assert _ids(path) == ["req-7"]
    log.close()
