"""Decoding records for the projector, execution_events rows, and offset selection."""

from __future__ import annotations

import pytest

from projector.records import EVENT_COLUMNS, Record, decode, event_row, to_json
from projector.records import BEGINNING, select_records
from projector.repository import _copy_text
from projector.synthetic import synthetic_events
from tests.unit.test_codec import RECORDS, event
from wavestream.codec import AvroCodec, Decoded

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    return AvroCodec()


def test_an_event_decodes_to_a_record(codec):
    value = event("InteractionCompleted")
    record = decode(codec, "events", 2, 41, b"p-1", codec.encode("InteractionEvent", value))
    assert record.ok and record.event == value and record.schema_version == "current"
    row = dict(zip(EVENT_COLUMNS, event_row(record)))
    assert row["status"] == "completed" and row["output"] == "Skills: Kafka" and row["model_file"] == "smollm2.gguf"
    assert (row["kafka_topic"], row["kafka_partition"], row["kafka_offset"]) == ("events", 2, 41)
    assert row["error_type"] is None and '"output":"Skills: Kafka"' in row["payload"]


def test_failed_interactions_fill_the_error_columns(codec):
    record = decode(codec, "events", 0, 0, None, codec.encode("InteractionEvent", event("InteractionFailed")))
    row = dict(zip(EVENT_COLUMNS, event_row(record)))
    assert (row["status"], row["error_class"], row["error_type"]) == ("failed", "retryable", "TimeoutError")
    assert row["output"] is None and row["duration_ms"] == 30000


@pytest.mark.parametrize("raw, reason", [
    (b"", "empty_record"), (None, "empty_record"), (b"\xc3\x01" + b"\x00" * 8 + b"x", "unknown_schema"),
    (b"not avro at all", "bad_magic"), (b"\xc3", "truncated"),
])
def test_undecodable_bytes_become_error_records(codec, raw, reason):
    record = decode(codec, "events", 1, 7, b"k", raw)
    assert not record.ok and record.error_reason == reason and record.raw == raw and record.offset == 7


def test_a_record_of_another_type_is_an_error(codec):
    record = decode(codec, "events", 0, 0, None, codec.encode("Posting", RECORDS["Posting"]))
    assert record.error_reason == "unexpected_type"


def test_an_unknown_event_type_is_an_error():
    class FutureCodec:  # what the real codec returns for a symbol newer than our schema
        def decode(self, data, expected=None):
            return Decoded("InteractionEvent", {**event("PostingCancelled"), "event_type": "Unknown",
                                                "payload": None}, "current")

    record = decode(FutureCodec(), "events", 0, 3, None, b"\xc3\x01...")
    assert record.error_reason == "unknown_event_type"


def test_payload_json_is_deterministic_and_nul_free():
    assert to_json({"b": 1, "a": "x\x00"}) == '{"a":"x\\ufffd","b":1}'


def test_copy_text_escapes_control_characters():
    assert _copy_text(None) == "\\N" and _copy_text("a\tb\nc\\d\re") == "a\\tb\\nc\\\\d\\re"


def _records(partition: int, offsets: list[int]) -> list[Record]:
    return [Record("events", partition, o, None, b"") for o in offsets]


def test_select_skips_what_was_applied_and_accepts_non_contiguous_offsets():
    records = _records(0, [3, 4, 5, 8, 9]) + _records(1, [0, 1])
    accepted, skipped, gaps = select_records(records, {0: 5}, {0: 5, 1: None})
    assert [(r.partition, r.offset) for r in accepted] == [(0, 5), (0, 8), (0, 9), (1, 0), (1, 1)]
    assert skipped == 2 and gaps == {}
    # Offsets after a transaction marker jump: not a gap when the stored offset is ours.
    accepted, _, gaps = select_records(_records(0, [12, 13]), {0: 10}, {0: 10})
    assert len(accepted) == 2 and gaps == {}


def test_select_reports_a_gap_when_the_stored_offset_moved_back():
    records = _records(0, [50, 51]) + _records(1, [7])
    accepted, _, gaps = select_records(records, {0: 20, 1: 7}, {0: 50, 1: 7})
    assert gaps == {0: 20} and [(r.partition, r.offset) for r in accepted] == [(1, 7)]
    accepted, _, gaps = select_records(_records(2, [5]), {}, {2: 5})
    assert gaps == {2: BEGINNING} and accepted == []


def test_synthetic_events_are_deterministic_and_unique():
    first, second = synthetic_events(2000, seed=3), synthetic_events(2000, seed=3)
    assert first == second and len({e["event_id"] for e in first}) == 2000
    assert {e["event_type"] for e in first} >= {"PostingReceived", "InteractionCompleted", "InteractionFailed",
                                                 "PostingCompleted", "PostingRouted"}
