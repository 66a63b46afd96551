"""The replay's build step as a bulk load: ``events`` -> an empty read-model schema.

The live projector applies each batch in one transaction with upserts, which a rebuild
into an empty schema does not need. Here:

1. :func:`projector.bulkddl.defer_ddl` takes the keys and indexes off the large tables
   (they are built once over the loaded rows at the end).
2. The partitions with work are split into groups balanced by record count, and a
   process per group (``spawn``; a single group runs in-process) consumes them
   (read_committed), decodes each consumed batch with the projector's decoder
   (:func:`projector.records.decode_messages`), folds every posting in memory with the
   projector's own rules (:func:`projector.fold.fold_event`, :class:`ActorTotals`) and
   streams the ``execution_events`` rows with binary COPY in chunks. Partitions are
   independent: events are keyed by posting_id, and so is every postings and
   checkpoint row. At the end each process writes its postings and checkpoints once
   (binary COPY) and its error records; the parent adds up the actor totals with the
   live projector's upsert (:func:`projector.repository.write_actor_totals`) and
   stores the offsets.
3. The keys and indexes are built back.

A duplicated event id (the live projector keeps the first occurrence) shows when the
``execution_events`` key is built: the tables are emptied and loaded again, skipping
the later occurrences (lowest partition, then offset, wins). Whatever the bulk path
cannot load exactly as the live path would (the fold or the database refuses a record,
a posting spread over partitions) raises :class:`BulkUnsupported`; the replay then
builds incrementally, which isolates such records as ``projector_errors``.

Why psycopg 3 and not psycopg2's ``copy_expert``: ``cursor.copy`` streams rows in
COPY's *binary* format, each value adapted by the C dumpers of the ``psycopg[binary]``
wheel, with nothing escaped on our side and nothing parsed as text on the server;
``copy_expert`` only reads a file of pre-rendered text, so every value is escaped in
Python (``repository._copy_text``) and parsed again by the server. Memory: one state
per posting and checkpoint is held until the end (postings, not events, count).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue as queue_module
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import psycopg
from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition
from psycopg import pq
from psycopg.adapt import Dumper
from psycopg2 import sql

from projector.bulkddl import BIG_TABLES, DuplicateKeys, defer_ddl, restore_ddl, truncate
from projector.exceptions import BulkUnsupported, ReplayError
from projector.pgschema import connect_schema
from projector.fold import (ACTOR_ONLY, CHECKPOINT_COLUMNS, POSTING_COLUMNS, ActorTotals, checkpoint_values,
                            fold_event, posting_values)
from projector.records import EVENT_COLUMNS, PROJECTION, Record, decode_messages, event_row
from projector.repository import Repository, write_actor_totals
from wavestream.clients import build_consumer
from wavestream.codec import AvroCodec
from wavestream.config import KafkaSettings, PostgresSettings
from wavestream.db import transaction
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


# ---------------------------------------------------------------------- one process


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


# ---------------------------------------------------------------------- the build


def split(work: dict[int, tuple[int, int]], groups: int) -> list[dict[int, tuple[int, int]]]:
    """``work`` (partition -> (start, target)) in at most ``groups`` groups of about
    equal record counts (largest partitions first, each to the lightest group)."""
    groups = max(1, min(groups, len(work)))
    buckets: list[dict[int, tuple[int, int]]] = [{} for _ in range(groups)]
    sizes = [0] * groups
    for p, (start, target) in sorted(work.items(), key=lambda kv: kv[0] - kv[1][1] + kv[1][0]):
        i = sizes.index(min(sizes))
        buckets[i][p] = (start, target)
        sizes[i] += target - start
    return [b for b in buckets if b]


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def bulk_build(kafka: KafkaSettings, postgres: PostgresSettings, schema: str, topic: str,
               targets: dict[int, int], *, workers: int | None = None, progress: bool = False,
               batch_size: int = 10_000) -> SliceResult:
    """Load ``topic`` from offset 0 up to ``targets`` (exclusive) into the empty
    read-model ``schema`` (migrated); see the module docstring.

    Raises:
        BulkUnsupported: rebuild incrementally instead (the schema is half-loaded: drop it).
        ReplayError / DatabaseError / KafkaClientError: the build failed.
    """
    work = {p: (0, t) for p, t in targets.items() if t > 0}
    admin = connect_schema(postgres, schema, application_name="wavestream-replay")  # unqualified SQL: the build
    try:
        deferred = defer_ddl(admin, schema)
        skip: frozenset = frozenset()
        while True:
            jobs = [Job(kafka, postgres, schema, topic, group, skip, batch_size)
                    for group in split(work, workers or default_workers())]
            parts = _run(jobs, sum(t - s for s, t in work.values()), progress, schema)
            total = SliceResult()
            with transaction(admin), admin.cursor() as cur:
                for part in parts:  # upserts that add up: no merge rule of our own
                    total.add(part)
                    write_actor_totals(cur, part.totals)
            if total.positions:
                Repository(admin, projection=PROJECTION).set_offsets(topic, total.positions)
            try:
                restore_ddl(admin, schema, deferred)
                return total
            except DuplicateKeys:
                if skip:
                    raise ReplayError(f"{schema}.execution_events still has duplicate event ids") from None
                skip = _later_duplicates(admin, schema)
                log.info("duplicate event ids: loading again without the later occurrences",
                         extra={"schema": schema, "duplicates": len(skip)})
                with transaction(admin), admin.cursor() as cur:
                    truncate(cur, schema, (*BIG_TABLES, "actor_performance", "actors", "projector_errors",
                                           "projector_offsets"))
    finally:
        admin.close()


def _later_duplicates(admin: Any, schema: str) -> frozenset:
    """(partition, offset) of every occurrence of an event id but the first."""
    with transaction(admin), admin.cursor() as cur:
        table = sql.Identifier(schema, "execution_events")
        cur.execute(sql.SQL("SELECT kafka_partition, kafka_offset FROM (SELECT kafka_partition, kafka_offset,"
                            " row_number() OVER (PARTITION BY event_id ORDER BY kafka_partition, kafka_offset)"
                            " AS n FROM {} WHERE event_id IN (SELECT event_id FROM {} GROUP BY event_id"
                            " HAVING count(*) > 1)) d WHERE n > 1").format(table, table))
        return frozenset(cur.fetchall())


def _run(jobs: list[Job], total: int, progress: bool, schema: str) -> list[SliceResult]:
    """Run ``jobs`` (in-process when there is one); their results."""
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=f"rebuild {schema}", unit="ev", unit_scale=True, file=sys.stderr,
                   mininterval=0.5)
    try:
        if len(jobs) == 1:
            return [load_slice(jobs[0], bar.update if bar is not None else None)]
        return _run_processes(jobs, bar)
    finally:
        if bar is not None:
            bar.close()


def _run_processes(jobs: list[Job], bar: Any) -> list[SliceResult]:
    """A ``spawn`` process per job; their progress and results come through a queue.

    Raises:
        BulkUnsupported / ReplayError: a process failed (the others are stopped).
    """
    ctx = multiprocessing.get_context("spawn")
    channel = ctx.Queue()
    procs = [ctx.Process(target=_process_main, args=(job, channel), daemon=True) for job in jobs]
    results: list[SliceResult] = []
    try:
        for proc in procs:
            proc.start()
        while len(results) < len(procs):
            try:
                kind, payload = channel.get(timeout=1.0)
            except queue_module.Empty:
                dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise ReplayError(f"a bulk-load process died (exit status {dead[0]})") from None
                continue
            if kind == "progress":
                if bar is not None:
                    bar.update(payload)
            elif kind == "done":
                results.append(payload)
            elif kind == "unsupported":
                raise BulkUnsupported(payload)
            else:
                raise ReplayError(f"a bulk-load process failed: {payload}")
        return results
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join(30)


def _process_main(job: Job, channel: Any) -> None:
    from wavestream.logs import configure_logging

    configure_logging()
    try:
        channel.put(("done", load_slice(job, lambda n: channel.put(("progress", n)))))
    except BulkUnsupported as exc:
        channel.put(("unsupported", str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises
        channel.put(("failed", f"{type(exc).__name__}: {exc}"))
