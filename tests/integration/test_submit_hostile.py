"""`wavestream submit` on hostile input through a real broker: a file with a UTF-8 BOM,
a row of invalid UTF-8, a 5 KB line of ``[``, a lone surrogate escape and a 50 MB single
line, each followed by a valid row, is submitted to the end (exit 0, counts printed,
every valid row on ``postings``, every bad row a PostingRejected with its reason), in
bounded memory; running a file again does not submit what was already delivered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from producers.ingest import MAX_ROW_BYTES, submit_file
from wavestream import PROJECT_ROOT
from wavestream.clients import build_admin, build_consumer
from wavestream.codec import AvroCodec
from wavestream.topics import TopicSpec, create_topics

pytestmark = pytest.mark.integration

DESC = "Operate the streaming platform: Kafka, PostgreSQL and the deployment pipeline."
HUGE_BYTES = 50 * 1024 * 1024
HUGE_HEAD = b'{"posting_id": "huge", "title": "Huge", "description": "'
HUGE_LINE = len(HUGE_HEAD) + HUGE_BYTES + len(b'"}\n')


def _topics(settings, unique: str, *names: str) -> list[str]:
    topics = [f"{name}-{unique}" for name in names]
    create_topics(build_admin(settings), [TopicSpec(t, 3, 1) for t in topics])
    return topics


def _read_all(settings, topic: str, group: str, count: int) -> list[dict]:
    """Every record of ``topic``: at least ``count``, then whatever else arrives in 2 s."""
    codec = AvroCodec.from_settings(settings)
    consumer = build_consumer(settings, group)
    consumer.subscribe([topic])
    records: list[dict] = []
    try:
        quiet = 0
        for _ in range(240):
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                quiet += 1
                if len(records) >= count and quiet >= 4:
                    break
                continue
            quiet = 0
            records.append({"key": msg.key().decode(), **codec.decode(msg.value()).value})
    finally:
        consumer.close()
    return records


def _row(posting_id: str, **extra) -> bytes:
    return json.dumps({"posting_id": posting_id, "title": f"Engineer {posting_id}", "description": DESC,
                       **extra}).encode()


def _hostile_file(tmp_path: Path) -> Path:
    """Nine lines: bad rows on the even lines, a valid row after each (line 1 has a BOM)."""
    lines = [
        b"\xef\xbb\xbf" + _row("ok-1"),
        b'{"posting_id": "bad-utf8", "title": "Caf\xe9 \xff", "description": "' + DESC.encode() + b'"}',
        _row("ok-2"),
        b"[" * 5000,
        _row("ok-3"),
        b'{"posting_id": "lone-surrogate", "title": "x\\ud800y", "description": "' + DESC.encode() + b'"}',
        _row("ok-4"),
        HUGE_HEAD + b"x" * HUGE_BYTES + b'"}',
        _row("ok-5"),
    ]
    path = tmp_path / "hostile.jsonl"
    with path.open("wb") as fh:
        for line in lines:
            fh.write(line + b"\n")
    return path


def _submit_cli(kafka_settings, path: Path, postings: str, events: str, ledger: Path,
                *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
           "WAVESTREAM_SUBMIT_LEDGER_DIR": str(ledger), "WAVESTREAM_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "wavestream.cli", "submit", str(path), "--no-progress",
                           "--postings-topic", postings, "--events-topic", events, *extra],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_hostile_file_is_submitted_to_the_end(kafka_settings, unique, tmp_path: Path):
    postings_topic, events_topic = _topics(kafka_settings, unique, "postings", "events")
    path = _hostile_file(tmp_path)
    result = _submit_cli(kafka_settings, path, postings_topic, events_topic, tmp_path / "ledger")
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 0, result.stderr[-3000:]
    assert "9 rows, 5 accepted, 4 rejected" in result.stdout, result.stdout

    postings = _read_all(kafka_settings, postings_topic, f"g-p-{unique}", 5)
    assert sorted(p["posting_id"] for p in postings) == ["ok-1", "ok-2", "ok-3", "ok-4", "ok-5"]
    assert next(p for p in postings if p["posting_id"] == "ok-1")["source"] == "hostile.jsonl:1"

    events = _read_all(kafka_settings, events_topic, f"g-e-{unique}", 4)
    assert all(e["event_type"] == "PostingRejected" for e in events)
    by_line = {e["payload"]["line"]: e["payload"] for e in events}
    assert sorted(by_line) == [2, 4, 6, 8]
    assert "not valid UTF-8" in by_line[2]["reason"]
    assert "\ufffd" in by_line[2]["raw"] and by_line[2]["raw"].startswith('{"posting_id": "bad-utf8"')
    assert by_line[4]["reason"] == "invalid JSON: nested too deeply"
    assert "not valid UTF-8" in by_line[6]["reason"]
    assert by_line[8]["reason"] == f"row has {HUGE_LINE} bytes, more than {MAX_ROW_BYTES}"
    assert len(by_line[8]["raw"]) <= 2000 and by_line[8]["raw"].startswith('{"posting_id": "huge"')


def test_a_50mb_line_is_read_in_bounded_memory(kafka_settings, unique, tmp_path: Path):
    postings_topic, events_topic = _topics(kafka_settings, unique, "postings", "events")
    path = _hostile_file(tmp_path)
    tracemalloc.start()
    try:
        summary = submit_file(path, kafka_settings, postings_topic=postings_topic, events_topic=events_topic,
                              progress=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (summary.rows, summary.accepted, summary.rejected) == (9, 5, 4)
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB while reading a 50 MiB line"


def test_running_a_file_again_submits_only_what_was_not_delivered(kafka_settings, unique, tmp_path: Path):
    """A run that stopped after two rows, then the whole file: only rows 3 and 4 are new.
    A third run submits nothing; ``--resubmit`` submits every row again (new journeys)."""
    postings_topic, events_topic = _topics(kafka_settings, unique, "postings", "events")
    ledger = tmp_path / "ledger"
    rows = [_row("r-1"), _row("r-2"), _row("r-3"), _row("r-4", team="data")]
    path = tmp_path / "batch.jsonl"
    path.write_bytes(b"\n".join(rows[:2]) + b"\n")  # what the interrupted run delivered
    first = _submit_cli(kafka_settings, path, postings_topic, events_topic, ledger)
    assert first.returncode == 0, first.stderr[-3000:]
    path.write_bytes(b"\n".join(rows) + b"\n")

    second = _submit_cli(kafka_settings, path, postings_topic, events_topic, ledger)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "4 rows, 2 accepted, 0 rejected, 2 already submitted" in second.stdout, second.stdout
    third = _submit_cli(kafka_settings, path, postings_topic, events_topic, ledger)
    assert "4 rows, 0 accepted, 0 rejected, 4 already submitted" in third.stdout, third.stdout
    postings = _read_all(kafka_settings, postings_topic, f"g-p-{unique}", 4)
    assert sorted(p["posting_id"] for p in postings) == ["r-1", "r-2", "r-3", "r-4"]

    changed = rows[:3] + [_row("r-4", team="platform")]  # same id, new content: a new journey
    path.write_bytes(b"\n".join(changed) + b"\n")
    fourth = _submit_cli(kafka_settings, path, postings_topic, events_topic, ledger)
    assert "4 rows, 1 accepted, 0 rejected, 3 already submitted" in fourth.stdout, fourth.stdout
    forced = _submit_cli(kafka_settings, path, postings_topic, events_topic, ledger, "--resubmit")
    assert "4 rows, 4 accepted, 0 rejected" in forced.stdout, forced.stdout
    postings = _read_all(kafka_settings, postings_topic, f"g-p2-{unique}", 9)
    assert len(postings) == 9
