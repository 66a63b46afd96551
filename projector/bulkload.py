"""One process's part of a bulk rebuild (:mod:`projector.bulk`): consume a group of
partitions, fold in memory with the projector's rules, write with binary COPY."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import psycopg
from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition
from psycopg import pq
from psycopg.adapt import Dumper

from projector.exceptions import BulkUnsupported, ReplayError
from projector.fold import (ACTOR_ONLY, CHECKPOINT_COLUMNS, POSTING_COLUMNS, ActorTotals, checkpoint_values,
                            fold_event, posting_values)
from projector.records import EVENT_COLUMNS, PROJECTION, Record, decode_messages, event_row
from wavestream.clients import build_consumer
from wavestream.codec import AvroCodec
from wavestream.config import KafkaSettings, PostgresSettings
from wavestream.exceptions import DatabaseError, DatabaseUnavailable, WavestreamError

log = logging.getLogger(__name__)

_JSONB_OID = 3802
_ERROR_COLUMNS = ("projection", "topic", "partition", "offset", "reason", "detail", "key", "raw")
_FOLD_ERRORS = (ValueError, TypeError, KeyError, ArithmeticError)
#: Consumer settings for reading a whole topic fast.
_CONSUMER = {"enable.partition.eof": True, "fetch.max.bytes": 64 * 1024 * 1024,
             "max.partition.fetch.bytes": 16 * 1024 * 1024, "queued.max.messages.kbytes": 256 * 1024}


@dataclass(frozen=True)
class Job:
    """One process's share of a bulk build."""

    kafka: KafkaSettings
    postgres: PostgresSettings
    schema: str
    topic: str
    partitions: dict[int, tuple[int, int]]  # partition -> (start offset, target offset)
    skip: frozenset = frozenset()           # (partition, offset) of duplicates to leave out
    batch_size: int = 10_000
    chunk_rows: int = 20_000
    idle_timeout_s: float = 300.0


@dataclass
class SliceResult:
    """What one :class:`Job` loaded (:meth:`add` leaves ``totals`` alone: they are
    written per job, as upserts that add up)."""

    records: int = 0
    applied: int = 0
    duplicates: int = 0
    errors: int = 0
    positions: dict[int, int] = field(default_factory=dict)
    totals: ActorTotals = field(default_factory=ActorTotals)

    def add(self, other: "SliceResult") -> None:
        self.records += other.records
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.errors += other.errors
        self.positions.update(other.positions)


class _JsonText(str):
    """Marker type: JSON text bound for a jsonb column."""


class _JsonbTextDumper(Dumper):
    """JSON text -> jsonb in COPY binary format (version byte 1, then the text)."""

    format = pq.Format.BINARY
    oid = _JSONB_OID

    def dump(self, obj: Any) -> bytes:
        return b"\x01" + obj.encode()


def load_slice(job: Job, progress: Callable[[int], None] | None = None) -> SliceResult:
    """Consume ``job.partitions`` up to their targets into ``job.schema`` (see the module
    docstring); returns counts, positions and the actor totals (not yet written).

    Raises:
        BulkUnsupported: the fold or the database refused a record.
        ReplayError: a partition made no progress for ``idle_timeout_s``.
        DatabaseError / DatabaseUnavailable / KafkaClientError: the services failed.
    """
    codec = AvroCodec.from_settings(job.kafka)
    result = SliceResult()
    states: dict[str, dict[str, Any]] = {}
    checkpoints: dict[tuple[str, str], dict[str, Any]] = {}
    errors: list[Record] = []
    rows: list[tuple] = []
    with _connect(job) as conn:
        for records in _batches(job, codec):
            for r in records:
                result.positions[r.partition] = r.offset + 1
                if not r.ok:
                    errors.append(r)
                elif (r.partition, r.offset) in job.skip:
                    result.duplicates += 1
                else:
                    rows.append(_fold(r, states, checkpoints, result.totals))
            result.records += len(records)
            if len(rows) >= job.chunk_rows:
                _copy(conn, "execution_events", EVENT_COLUMNS, rows)
                result.applied += len(rows)
                rows = []
            if progress is not None:
                progress(len(records))
        _copy(conn, "execution_events", EVENT_COLUMNS, rows)
        result.applied += len(rows)
        _copy(conn, "postings", POSTING_COLUMNS, (posting_values(s) for s in states.values()))
        _copy(conn, "posting_state_checkpoints", CHECKPOINT_COLUMNS,
              (checkpoint_values(c) for c in checkpoints.values()))
        result.errors = _write_errors(conn, errors)
    return result


def _fold(r: Record, states: dict, checkpoints: dict, totals: ActorTotals) -> tuple:
    """The event row of ``r`` after folding it into the in-memory states.

    Raises:
        BulkUnsupported: the fold refused the event (the live path isolates it).
    """
    event = r.event
    try:
        row = event_row(r)
        if event["event_type"] not in ACTOR_ONLY:
            pid = event["posting_id"]
            state, checkpoint = fold_event(states.get(pid), event, r.offset)
            if state is not None:
                states[pid] = state
            if checkpoint is not None:
                checkpoints[(pid, checkpoint["stage"])] = checkpoint
        totals.add(event)
    except _FOLD_ERRORS as exc:
        raise BulkUnsupported(f"the fold refused {r.topic}[{r.partition}]@{r.offset}: {exc}") from exc
    return row


def _batches(job: Job, codec: AvroCodec) -> Iterator[list[Record]]:
    """Decoded records of ``job.partitions`` below their targets, a consumed batch at a
    time (each in partition-offset order)."""
    todo = {p: target for p, (start, target) in job.partitions.items() if start < target}
    if not todo:
        return
    consumer = build_consumer(job.kafka, "wavestream-replay", **_CONSUMER)
    try:
        consumer.assign([TopicPartition(job.topic, p, job.partitions[p][0] or OFFSET_BEGINNING)
                         for p in sorted(todo)])
        last_progress = time.monotonic()
        while todo:
            messages = consumer.consume(num_messages=job.batch_size, timeout=0.5)
            wanted = [m for m in messages if m.error() is None and m.partition() in todo
                      and m.offset() < todo[m.partition()]]
            for m in messages:
                p = m.partition()
                if p not in todo:
                    continue
                err = m.error()
                at = m.offset() if err is not None and err.code() == KafkaError._PARTITION_EOF \
                    else m.offset() + 1 if err is None else -1
                if at >= todo[p]:
                    del todo[p]
                    consumer.pause([TopicPartition(job.topic, p)])
            if messages:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > job.idle_timeout_s:
                raise ReplayError(f"partitions {sorted(todo)} of {job.topic} brought nothing for"
                                  f" {job.idle_timeout_s:.0f}s (an open transaction?)")
            if wanted:
                yield decode_messages(codec, wanted)
    finally:
        consumer.close()


class _connect:
    """A psycopg 3 connection with ``search_path`` = the build schema, errors mapped."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.conn: psycopg.Connection | None = None

    def __enter__(self) -> psycopg.Connection:
        try:
            self.conn = psycopg.connect(self.job.postgres.dsn, connect_timeout=self.job.postgres.connect_timeout_s,
                                        application_name="wavestream-replay-bulk")
            self.conn.adapters.register_dumper(_JsonText, _JsonbTextDumper)
            self.conn.execute(psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(self.job.schema)))
            # The build is not read before the swap, whose commit is durable: no WAL flush per chunk.
            self.conn.execute("SET synchronous_commit = off")
            self.conn.commit()
        except psycopg.Error as exc:
            raise _mapped(exc, "connecting for the bulk load") from exc
        return self.conn

    def __exit__(self, *exc: Any) -> None:
        if self.conn is not None:
            self.conn.close()


def _mapped(exc: psycopg.Error, what: str) -> WavestreamError:
    """Our error for a psycopg 3 error: refused data -> BulkUnsupported."""
    message = f"{what}: {' '.join(str(exc).split())}"
    if isinstance(exc, (psycopg.errors.DataError, psycopg.errors.IntegrityError)):
        return BulkUnsupported(message)
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return DatabaseUnavailable(message)
    return DatabaseError(message)


def _copy(conn: psycopg.Connection, table: str, columns: tuple[str, ...], rows: Any) -> None:
    """Binary COPY of ``rows`` (tuples in ``columns`` order) into ``table``; commits."""
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass"
                        " AND attnum > 0 AND NOT attisdropped", (table,))
            types = dict(cur.fetchall())
            names = ", ".join(f'"{c}"' for c in columns)
            with cur.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types([types[c] for c in columns])
                for row in rows:
                    copy.write_row(row)
        conn.commit()
    except psycopg.Error as exc:
        conn.rollback()
        raise _mapped(exc, f"bulk load of {table}") from exc


def _write_errors(conn: psycopg.Connection, errors: list[Record]) -> int:
    for r in errors:
        log.warning("record skipped", extra={"topic": r.topic, "partition": r.partition, "offset": r.offset,
                                             "reason": r.error_reason, "detail": r.error_detail})
    _copy(conn, "projector_errors", _ERROR_COLUMNS,
          ((PROJECTION, r.topic, r.partition, r.offset, r.error_reason or "unknown",
            (r.error_detail or "").replace("\x00", ""), r.key, r.raw) for r in errors))
    return len(errors)
