"""kmstui.server.accesslog: the incremental reader behind `kmstui serve log` and the TUI's request tail. A log
under a live reader grows line by line (partly written lines, a buffered writer), gets replaced or truncated
(a restart on the same port), and may hold garbage; the reader must never return half a record, never read
more than its chunk per call, and never stall."""

from __future__ import annotations

import json
import os

from kmstui.server.accesslog import FIELDS, AccessLogTail, is_denied, last_records, record_of
from kmstui.server.handler import AccessRecord


def line(n: int, decision: str = "allow", **extra) -> str:
    """A line as the server writes it (AccessRecord.to_json), so the reader follows the writer's format."""
    record = AccessRecord(time=1_765_000_000 + n, request_id=f"req-{n}", source_ip="127.0.0.1",
                          principal="arn:aws:iam::111122223333:user/app", operation="Encrypt", key="k",
                          decision=decision, status=200 if decision == "allow" else 400, latency_ms=1.5)
    data = json.loads(record.to_json())
    data.update(extra)
    return json.dumps(data) + "\n"


def ids(records) -> list[str]:
    return [r["requestId"] for r in records]


def test_reads_what_the_server_writes_and_only_new_lines(tmp_path):
    log = tmp_path / "access.jsonl"
    log.write_text(line(1) + line(2, "deny"))
    tail = AccessLogTail(log, backlog=None)
    first = tail.read()
    assert ids(first) == ["req-1", "req-2"] and set(first[0]) == set(FIELDS)
    assert first[1]["decision"] == "deny" and first[1]["status"] == 400 and is_denied(first[1])
    assert tail.read() == []
    with log.open("a") as fh:
        fh.write(line(3))
    assert ids(tail.read()) == ["req-3"]


def test_a_partly_written_line_waits_for_its_newline(tmp_path):
    log = tmp_path / "access.jsonl"
    text = line(1)
    log.write_text(text[:20])
    tail = AccessLogTail(log, backlog=None)
    assert tail.read() == []
    with log.open("a") as fh:
        fh.write(text[20:] + line(2)[:5])
    assert ids(tail.read()) == ["req-1"]
    with log.open("a") as fh:
        fh.write(line(2)[5:])
    assert ids(tail.read()) == ["req-2"]


def test_each_read_is_bounded_and_catches_up_over_several_calls(tmp_path):
    log = tmp_path / "access.jsonl"
    log.write_text("".join(line(n) for n in range(200)))
    tail = AccessLogTail(log, backlog=None, chunk=4096)
    got, calls = [], 0
    while batch := tail.read():
        assert tail.offset <= calls * 4096 + 4096
        assert tail.pending == log.stat().st_size - tail.offset  # says a reader should come back soon
        got += batch
        calls += 1
    assert ids(got) == [f"req-{n}" for n in range(200)] and calls > 5 and tail.pending == 0


def test_backlog_starts_near_the_end_without_a_half_line(tmp_path):
    log = tmp_path / "access.jsonl"
    log.write_text("".join(line(n) for n in range(100)))
    size = len(line(1).encode())
    records = AccessLogTail(log, backlog=size * 3 + 10).read()
    assert ids(records) == ["req-97", "req-98", "req-99"]
    text = log.read_text()
    start = text.rindex("\n", 0, text.index('"req-99"')) + 1  # a backlog that begins exactly at a line
    assert ids(AccessLogTail(log, backlog=len(text) - start).read()) == ["req-99"]
    assert AccessLogTail(log, backlog=0).read() == []  # from the end: only what comes next


def test_rotation_and_truncation_start_over(tmp_path):
    log = tmp_path / "access.jsonl"
    log.write_text(line(1) + line(2))
    tail = AccessLogTail(log, backlog=None)
    assert ids(tail.read()) == ["req-1", "req-2"]
    log.write_text(line(3))  # truncated in place (a server restarted on the same port): shorter than before
    assert ids(tail.read()) == ["req-3"] and tail.stats.restarts == 1
    log.rename(tmp_path / "access.jsonl.1")  # rotated: a new file under the old name
    log.write_text(line(4) + line(5) + line(6))
    assert ids(tail.read()) == ["req-4", "req-5", "req-6"] and tail.stats.restarts == 2
    os.unlink(log)
    assert tail.read() == []  # gone: nothing, no error


def test_garbage_and_over_long_lines_are_skipped_and_counted(tmp_path):
    log = tmp_path / "access.jsonl"
    log.write_bytes(b"not json\n" + b"[1,2]\n" + b'{"time": ' + b"x" * 100_000 + b"\n" + line(1).encode()
                    + b"\xff\xfe\n" + line(2, status="bad", latencyMs=True, principal=["a"]).encode())
    tail = AccessLogTail(log, backlog=None, chunk=1 << 20)
    records = tail.read()
    assert ids(records) == ["req-1", "req-2"] and tail.stats.bad_lines == 4
    assert records[1]["status"] is None and records[1]["latencyMs"] is None and records[1]["principal"] == "['a']"


def test_a_runaway_line_without_newline_is_dropped(tmp_path):
    log = tmp_path / "access.jsonl"
    log.write_bytes(b"x" * 200_000)
    tail = AccessLogTail(log, backlog=None, chunk=50_000)
    for _ in range(5):
        assert tail.read() == []
    with log.open("ab") as fh:
        fh.write(b"tail of the runaway\n" + line(1).encode())
    assert ids(tail.read()) == ["req-1"] and tail.stats.bad_lines >= 1


def test_a_reader_far_behind_skips_to_the_end_and_says_so(tmp_path):
    log = tmp_path / "access.jsonl"
    tail = AccessLogTail(log, backlog=None, chunk=1 << 20, max_lag=10_000)
    log.write_text("")
    assert tail.read() == []
    log.write_text("".join(line(n) for n in range(1000)))
    records = tail.read()
    assert records and records[-1]["requestId"] == "req-999" and len(records) < 1000
    assert tail.stats.skipped_bytes > 0


def test_text_fields_are_kept_as_sent_for_the_face_to_make_visible(tmp_path):
    """The reader returns data; kmstui.visible is the face's job (the TUI test checks it is applied)."""
    record = record_of(line(1, principal="arn:aws:iam::1:user/x\x1b[2J").encode())
    assert record["principal"].endswith("\x1b[2J")


def test_last_records_and_denied_filter(tmp_path):
    log = tmp_path / "access.jsonl"
    log.write_text("".join(line(n, "deny" if n % 3 == 0 else "allow") for n in range(30)))
    assert ids(last_records(log, 2)) == ["req-28", "req-29"]
    assert ids(last_records(log, 3, denied=True)) == ["req-21", "req-24", "req-27"]


def test_a_fifo_or_folder_named_as_the_log_never_blocks(tmp_path):
    fifo = tmp_path / "access.fifo"
    os.mkfifo(fifo)
    tail = AccessLogTail(fifo)
    assert tail.read() == [] and tail.not_a_file  # returns at once: no writer is waited for
    assert AccessLogTail(tmp_path).read() == []
    assert last_records(fifo, 5) == []
