"""Hostile input for `wavestream submit`, without a broker: every bad row becomes a
rejection that encodes (with its reason), the rows after it are still read, lines are
read in bounded memory, a BOM is not part of line 1, and the submit ledger recognises
postings already delivered."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pytest

from producers.ingest import MAX_ROW_BYTES, plan, read_csv, read_jsonl
from producers.ledger import Ledger, idempotency_key
from wavestream.codec import AvroCodec

pytestmark = pytest.mark.unit

DESC = "Build data pipelines in Python and SQL for our analytics team."
BOM = b"\xef\xbb\xbf"


def _row(pid: str, **extra) -> bytes:
    return json.dumps({"posting_id": pid, "title": "Data Engineer", "description": DESC, **extra}).encode()


def _plan(tmp_path: Path, data: bytes, name: str = "in.jsonl"):
    path = tmp_path / name
    path.write_bytes(data)
    reader = read_csv if name.endswith(".csv") else read_jsonl
    with path.open("rb") as fh:
        return list(plan(path, reader(fh), submitted_at_ms=0, worker_id="t"))


def _encodes(results) -> None:
    codec = AvroCodec()
    for _, posting, event in results:
        if posting is not None:
            codec.encode("Posting", posting)
        else:
            codec.encode("InteractionEvent", event)


def test_a_bom_is_not_part_of_the_first_jsonl_line():
    rows = list(read_jsonl(io.BytesIO(BOM + _row("a") + b"\n" + _row("b") + b"\n")))
    assert [r.error for r in rows] == [None, None]
    assert rows[0].value["posting_id"] == "a" and not rows[0].raw.startswith("\ufeff")


def test_a_bom_is_not_part_of_the_csv_header():
    rows = list(read_csv(io.BytesIO(BOM + b"posting_id,title,description\nc1,Cook," + DESC.encode() + b"\n")))
    assert rows[0].value["posting_id"] == "c1"


def test_deep_nesting_is_a_bad_row_and_reading_goes_on():
    rows = list(read_jsonl(io.BytesIO(b"[" * 5000 + b"\n" + b'{"x": ' * 3000 + b"\n" + _row("ok") + b"\n")))
    assert [(r.line, r.error) for r in rows] == [(1, "invalid JSON: nested too deeply"),
                                                 (2, "invalid JSON: nested too deeply"), (3, None)]


@pytest.mark.parametrize("line,words", [
    (b'{"posting_id": "u1", "title": "Caf\xe9", "description": "' + DESC.encode() + b'"}',
     "line is not valid UTF-8"),
    (_row("u2")[:-1] + b', "team": "d\xffta"}', "line is not valid UTF-8"),
    (_row("u3", title="x\ud800y"), "field 'title' is not valid UTF-8"),
    (_row("u4", team="x\udce9y"), "attribute 'team' is not valid UTF-8"),
    (_row("u5", attributes={"t\ud800": "x"}), "is not valid UTF-8"),
])
def test_text_that_is_not_utf8_is_rejected_with_an_event_that_encodes(tmp_path: Path, line, words):
    results = _plan(tmp_path, line + b"\n" + _row("ok") + b"\n")
    (row, posting, event), (_, after, _) = results
    assert posting is None and words in event["payload"]["reason"]
    assert after is not None and after["posting_id"] == "ok"
    _encodes(results)
    assert "\ud800" not in event["payload"]["raw"] and event["payload"]["raw"].startswith('{"posting_id"')


def test_a_nul_character_is_rejected_and_kept_out_of_the_rejection(tmp_path: Path):
    """A ``\\u0000`` escape is a bad field; a raw NUL byte is bad JSON, and the rejection's
    ``raw`` must not carry it (PostgreSQL text and jsonb refuse NUL)."""
    results = _plan(tmp_path, _row("n1", title="a\u0000b") + b"\n" + _row("n2", team="x\u0000") + b"\n"
                    + _row("n3").replace(b"Data", b"Da\x00ta") + b"\n")
    reasons = [event["payload"]["reason"] for _, _, event in results]
    assert reasons[0] == "field 'title' contains a NUL character (at character 2)"
    assert reasons[1] == "attribute 'team' contains a NUL character (at character 2)"
    assert reasons[2].startswith("invalid JSON")
    _encodes(results)
    assert all("\x00" not in event["payload"]["raw"] for _, _, event in results)
    assert "Da\ufffdta" in results[2][2]["payload"]["raw"]


def test_invalid_utf8_in_a_csv_row_is_rejected_and_the_next_rows_are_read(tmp_path: Path):
    data = (b"posting_id,title,description\n"
            b"c1,Caf\xe9," + DESC.encode() + b"\n"
            b"c2,Cook," + DESC.encode() + b"\n")
    results = _plan(tmp_path, data, "in.csv")
    assert [(r.line, p is not None) for r, p, _ in results] == [(2, False), (3, True)]
    assert "line is not valid UTF-8" in results[0][2]["payload"]["reason"]
    assert "\ufffd" in results[0][2]["payload"]["raw"]
    _encodes(results)


def test_a_file_name_that_is_not_utf8_does_not_break_the_rejection(tmp_path: Path):
    results = _plan(tmp_path, b"oops\n", name="in-\udcff.jsonl")
    _encodes(results)


@pytest.mark.parametrize("name", ["in.jsonl", "in.csv"])
def test_a_huge_line_is_rejected_without_holding_it(tmp_path: Path, name):
    size = 20 * 1024 * 1024
    head = b"posting_id,title,description\n" if name.endswith(".csv") else b""
    huge = b'{"posting_id": "big", "description": "' + b"x" * size + b'"}'
    tail = b"c9,Cook," + DESC.encode() if name.endswith(".csv") else _row("ok")
    data = io.BytesIO(head + huge + b"\n" + tail + b"\n")
    reader = read_csv if name.endswith(".csv") else read_jsonl
    tracemalloc.start()
    try:
        rows = list(reader(data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    first = 2 if name.endswith(".csv") else 1
    assert [(r.line, r.error) for r in rows] == [
        (first, f"row has {len(huge) + 1} bytes, more than {MAX_ROW_BYTES}"), (first + 1, None)]
    assert len(rows[0].raw) <= 2000 and rows[0].raw.startswith('{"posting_id": "big"')
    assert peak < 4 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB reading a {size / 2**20:.0f} MiB line"


def test_the_ledger_recognises_delivered_postings(tmp_path: Path):
    posting = {"posting_id": "p1", "title": "T", "description": DESC, "company": None, "location": None,
               "url": None, "summary": None, "attributes": {"b": "2", "a": "1"}, "source": "x:1",
               "submitted_at": 1}
    key = idempotency_key(posting)
    assert key == idempotency_key({**posting, "source": "y:9", "submitted_at": 2,
                                   "attributes": {"a": "1", "b": "2"}})
    assert key != idempotency_key({**posting, "description": DESC + "!"})
    assert key != idempotency_key({**posting, "posting_id": "p2"})
    with Ledger.open(tmp_path, "one-cluster") as ledger:
        assert key not in ledger
        ledger.record(key)
        assert key in ledger
    with Ledger.open(tmp_path, "one-cluster") as again:
        assert key in again
    with Ledger.open(tmp_path, "another-cluster") as other:
        assert key not in other
