"""Kafka records of the ``events`` topic as the projector sees them (pure, no I/O).

A :class:`Record` is either a decoded ``InteractionEvent`` or an error (undecodable
bytes, an event type this projector does not know, an empty value): errors become
``projector_errors`` rows and are skipped, never retried.

:func:`event_row` turns an event into its ``execution_events`` row. Strings are
cleaned of NUL characters (PostgreSQL text and jsonb reject them), so a worker's odd
output cannot fail a whole batch.

:func:`select_records` decides which records of a batch to apply against the stored
offsets (skipping redeliveries, spotting offsets moved back under the projector).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable, Sequence

from wavestream.codec import AvroCodec
from wavestream.events import EVENT_TYPES
from wavestream.exceptions import CodecError

#: The projection name under which offsets and errors are stored.
PROJECTION = "read_models"

INTERACTION_TYPES = frozenset({"InteractionCompleted", "InteractionFailed"})

#: Column order of the execution_events rows built by :func:`event_row`.
EVENT_COLUMNS = (
    "event_id", "event_type", "posting_id", "stage", "attempt", "correlation_id",
    "causation_id", "worker_id", "workflow_sha256", "created_at", "status", "actor_name",
    "actor_kind", "model_file", "model_sha256", "prompt_sha256", "output", "output_sha256",
    "duration_ms", "prompt_tokens", "completion_tokens", "error_class", "error_type",
    "error_message", "payload", "schema_version", "kafka_topic", "kafka_partition",
    "kafka_offset",
)

_INT32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class Record:
    """One Kafka record: ``event`` when it decoded, else ``error_reason``/``error_detail``."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    raw: bytes | None
    event: dict[str, Any] | None = None
    schema_version: str | None = None
    error_reason: str | None = None
    error_detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.event is not None

    @property
    def event_id(self) -> str:
        assert self.event is not None
        return self.event["event_id"]

    def as_error(self, reason: str, detail: str) -> "Record":
        """This record turned into an error record (e.g. the database refused it)."""
        return Record(self.topic, self.partition, self.offset, self.key, self.raw,
                      error_reason=reason, error_detail=detail)


def decode(codec: AvroCodec, topic: str, partition: int, offset: int,
           key: bytes | None, value: bytes | None) -> Record:
    """Decode one record; every failure is an error record, never an exception."""
    if value is None or len(value) == 0:
        return Record(topic, partition, offset, key, value, error_reason="empty_record",
                      error_detail="record has no value (tombstone or empty)")
    try:
        decoded = codec.decode(value, expected="InteractionEvent")
    except CodecError as exc:
        return Record(topic, partition, offset, key, value, error_reason=exc.reason, error_detail=str(exc))
    # Envelope strings become SQL parameters and keys: no NUL characters (payload
    # strings are cleaned where they are serialized).
    event = {k: clean_str(v) for k, v in decoded.value.items()}
    if event.get("event_type") not in EVENT_TYPES or event.get("payload") is None:
        return Record(topic, partition, offset, key, value, error_reason="unknown_event_type",
                      error_detail=f"event type {event.get('event_type')!r} is not projected")
    if not event.get("event_id"):
        return Record(topic, partition, offset, key, value, error_reason="invalid_event",
                      error_detail="event has an empty event_id")
    return Record(topic, partition, offset, key, value, event=event, schema_version=decoded.schema_version)


def decode_messages(codec: AvroCodec, messages: Iterable[Any]) -> list[Record]:
    """Records for confluent_kafka messages (ones carrying an error are left out), in
    (partition, offset) order so a batch can be split without reordering a partition."""
    records = [decode(codec, m.topic(), m.partition(), m.offset(), m.key(), m.value())
               for m in messages if m.error() is None]
    records.sort(key=lambda r: (r.topic, r.partition, r.offset))
    return records


def clean(value: Any) -> Any:
    """``value`` with NUL characters replaced in every string (recursively)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def to_json(value: Any) -> str:
    """Deterministic JSON text (sorted keys) of a payload, NUL-free."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default)
    if "\\u0000" in text:  # rare: clean the strings, not the escaped text
        text = json.dumps(clean(value), sort_keys=True, separators=(",", ":"), default=_json_default)
    return text


def clean_str(value: Any) -> Any:
    """``value`` with NUL characters replaced when it is a string (cheap for the rest)."""
    if type(value) is str and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def int32(value: Any) -> int | None:
    """``value`` when it fits a PostgreSQL int, else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if _INT32[0] <= value <= _INT32[1] else None


def event_row(record: Record) -> tuple:
    """The execution_events row of a decoded record, in :data:`EVENT_COLUMNS` order."""
    e = record.event
    assert e is not None
    p = e["payload"]
    kind = e["event_type"]
    status = {"InteractionCompleted": "completed", "InteractionFailed": "failed"}.get(kind)
    interaction = status is not None
    completed = kind == "InteractionCompleted"
    row = (
        e["event_id"], kind, e["posting_id"], e.get("stage"), e["attempt"], e["correlation_id"],
        e["causation_id"], e["worker_id"], e.get("workflow_sha256"), e["occurred_at"], status,
        p.get("actor_name"), p.get("actor_kind") if interaction else None,
        p.get("model_file") if completed else None, p.get("model_sha256") if completed else None,
        p.get("prompt_sha256") if completed else None, p.get("output") if completed else None,
        p.get("output_sha256") if completed else None, p.get("duration_ms") if interaction else None,
        p.get("prompt_tokens") if completed else None, p.get("completion_tokens") if completed else None,
        p.get("error_class") if not completed and interaction else None,
        p.get("error_type") if not completed and interaction else None,
        p.get("message") if not completed and interaction else None,
        to_json(p), record.schema_version or "current", record.topic, record.partition, record.offset,
    )
    # clean_str inlined: this runs for every field of every event (a rebuild's hot path)
    return tuple([v.replace("\x00", "\ufffd") if type(v) is str and "\x00" in v else v for v in row])


#: Gap target meaning "no stored offset: seek to the beginning of the partition".
BEGINNING = -2


def select_records(records: Sequence[Record], stored: dict[int, int],
                   expected: dict[int, int | None] | None = None
                   ) -> tuple[list[Record], int, dict[int, int]]:
    """(records to apply, number skipped as already applied, gaps) for one topic.

    ``stored`` maps partition -> stored next offset (no key: nothing stored yet).
    ``expected`` is what the caller believes is stored (what it last wrote or seeked
    to; None for "no row"). A stored offset *behind* that belief means another writer
    moved it back (a replay swap or rollback): the partition is a gap, its records are
    left out and the caller re-seeks to ``gaps[partition]`` (:data:`BEGINNING` when
    there is no row). Offsets are not contiguous (transaction markers, aborted
    records), so a record above the stored offset is no gap by itself. Records below
    the stored offset were applied before (a redelivery, or another instance got
    ahead) and are skipped.
    """
    accepted: list[Record] = []
    skipped = 0
    gaps: dict[int, int] = {}
    for p in {r.partition for r in records}:
        if expected is None or p not in expected:
            continue
        have, want = stored.get(p), expected[p]
        if want is not None and (have is None or have < want):
            gaps[p] = BEGINNING if have is None else have
    for record in records:
        if record.partition in gaps:
            continue
        have = stored.get(record.partition)
        if have is not None and record.offset < have:
            skipped += 1
            continue
        accepted.append(record)
    return accepted, skipped, gaps
