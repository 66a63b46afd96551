"""Applying a batch of records to the read models: ONE transaction per batch.

In that transaction, :meth:`Repository.apply`:

1. locks the stored offsets of the batch's partitions (``SELECT ... FOR UPDATE``) and
   keeps only the records at or above them: a record below was applied before (a
   redelivery after a crash or a rebalance), and a partition whose first record lies
   above its stored offset has a gap (another instance or a replay swap moved the
   offsets) and is left out, reported in :attr:`ApplyResult.gaps` for a re-seek;
2. inserts the events into ``execution_events`` (``ON CONFLICT (event_id) DO
   NOTHING RETURNING event_id``; ``COPY`` through a temp table for large batches);
3. folds only the events inserted just now into ``postings``,
   ``posting_state_checkpoints``, ``actor_performance`` and ``actors``, so applying a
   batch twice changes nothing;
4. inserts the error records into ``projector_errors``;
5. advances ``projector_offsets`` to the last accepted offset + 1 per partition.

So the read models and the offsets always move together, and the projector seeks to
the stored offsets on (re)assignment.

Errors leave this module as one of two classes (:func:`projector.dberrors.refused_or_transient`):

- :class:`RecordRefused`: the batch's *data* is wrong (SQLSTATE class 22 data exception,
  23 integrity constraint violation, 54 program limit exceeded, a value the driver
  cannot adapt, or the fold's own error). :meth:`Repository.apply_all` isolates it to the record causing it, which
  becomes a ``projector_errors`` row: one bad record never stops the projection.
- :class:`TransientDatabaseError`: everything else (connection lost, lock or statement
  timeout, deadlock, serialization failure, disk full, read-only after a failover, too
  many connections, a missing table during a schema swap, ...). Nothing of the failed
  transaction is applied; the caller redoes the batch after a backoff. A failure while
  recording a refused record is transient too: no event is ever dropped for it.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Sequence

from psycopg2.extras import execute_values

from projector.dberrors import FOLD_ERRORS, refused_or_transient
from projector.exceptions import OffsetConflict, RecordRefused, TransientDatabaseError
from projector.fold import (CHECKPOINT_COLUMNS, JSON_COLUMNS, NO_POSTING_CHANGE, POSTING_COLUMNS,
                            ActorTotals, checkpoint_values, fold_event, posting_values)
from projector.records import EVENT_COLUMNS, PROJECTION, Record, event_row, select_records
from wavestream.config import PostgresSettings
from wavestream.db import Connection, transaction
from wavestream.exceptions import DatabaseError

log = logging.getLogger(__name__)

#: Batches with at least this many events are inserted with COPY.
BULK_THRESHOLD = 1000

_PERF_COLUMNS = ("actor_name", "actor_kind", "calls", "successes", "failures", "duration_ms_total",
                 "duration_ms_min", "duration_ms_max", "completed_duration_ms", "prompt_tokens",
                 "completion_tokens", "first_call_at", "last_call_at")
_ADD = "{c} = actor_performance.{c} + EXCLUDED.{c}"


@dataclass
class ApplyResult:
    """What one :meth:`Repository.apply` did."""

    applied: int = 0        # events inserted for the first time
    duplicates: int = 0     # events whose event_id was already projected
    errors: int = 0         # records stored in projector_errors
    skipped: int = 0        # records below the stored offsets (applied before)
    gaps: dict[int, int] = field(default_factory=dict)       # partition -> stored offset
    positions: dict[int, int] = field(default_factory=dict)  # partition -> next offset stored

    def merge(self, other: "ApplyResult") -> "ApplyResult":
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.errors += other.errors
        self.skipped += other.skipped
        self.gaps.update(other.gaps)
        self.positions.update(other.positions)
        return self


def open_repository(postgres: PostgresSettings, schema: str, *, projection: str = PROJECTION,
                    bulk_threshold: int = BULK_THRESHOLD) -> "Repository":
    """A :class:`Repository` on a new connection to ``schema``.

    Raises:
        TransientDatabaseError: PostgreSQL cannot be reached or the schema cannot be
            selected (retry later).
    """
    from projector.pgschema import connect_schema

    try:
        conn = connect_schema(postgres, schema)
    except DatabaseError as exc:
        raise TransientDatabaseError(f"cannot open the read models in schema {schema}: {exc}") from exc
    return Repository(conn, projection=projection, bulk_threshold=bulk_threshold)


def _copy_text(value: Any) -> str:
    """One field in COPY text format."""
    kind = type(value)
    if kind is str:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    if value is None:
        return "\\N"
    if kind is bool:
        return "t" if value else "f"
    if kind is int:
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return _copy_text(str(value))


class Repository:
    """The read models behind one connection (its search_path selects the schema)."""

    def __init__(self, conn: Connection, *, projection: str = PROJECTION,
                 bulk_threshold: int = BULK_THRESHOLD) -> None:
        self.conn = conn
        self.projection = projection
        self.bulk_threshold = bulk_threshold

    # ------------------------------------------------------------------ offsets

    def stored_offsets(self, topic: str) -> dict[int, int]:
        """partition -> next offset to apply, as stored (a read-only transaction).

        Raises:
            TransientDatabaseError: the offsets cannot be read now (retry later).
        """
        try:
            with transaction(self.conn), self.conn.cursor() as cur:
                cur.execute("SELECT partition, next_offset FROM projector_offsets"
                            " WHERE projection = %s AND topic = %s", (self.projection, topic))
                return dict(cur.fetchall())
        except DatabaseError as exc:
            raise TransientDatabaseError(f"cannot read the stored offsets: {exc}") from exc

    def set_offsets(self, topic: str, positions: dict[int, int]) -> None:
        """Store ``positions`` as they are (replay uses it for empty partitions)."""
        with transaction(self.conn), self.conn.cursor() as cur:
            execute_values(cur, "INSERT INTO projector_offsets (projection, topic, partition, next_offset)"
                           " VALUES %s ON CONFLICT (projection, topic, partition) DO UPDATE"
                           " SET next_offset = EXCLUDED.next_offset, updated_at = now()",
                           [(self.projection, topic, p, o) for p, o in sorted(positions.items())])

    # ------------------------------------------------------------------ apply

    def apply_all(self, records: Sequence[Record],
                  expected: dict[int, int | None] | None = None) -> ApplyResult:
        """:meth:`apply`, isolating a record the database or the fold refuses
        (:class:`RecordRefused`): the batch is split until that record is alone, and it is
        stored as an error with reason ``apply_failed`` and the database's message.

        Raises:
            TransientDatabaseError: the database could not apply a part of the batch for a
                reason other than its data (parts before it may be applied, with their
                offsets); redo from the stored offsets after a backoff.
            OffsetConflict: the stored offsets moved concurrently; re-seek and retry.
        """
        try:
            return self.apply(records, expected)
        except RecordRefused as exc:
            if len(records) == 1:
                return self._store_refused(records[0], exc, expected)
            half = len(records) // 2
            first = self.apply_all(records[:half], expected)
            if expected is not None:
                expected = {**expected, **first.positions}
            return first.merge(self.apply_all(records[half:], expected))

    def _store_refused(self, record: Record, exc: RecordRefused,
                       expected: dict[int, int | None] | None) -> ApplyResult:
        """Store a refused record in ``projector_errors`` (with its bytes; without them
        if even that row is refused).

        Raises:
            TransientDatabaseError: the error row cannot be stored now; the batch is
                redone, never dropped.
        """
        log.error("record refused by the database; stored as a projector error",
                  extra={"partition": record.partition, "offset": record.offset, "error": str(exc)})
        try:
            return self.apply([record.as_error("apply_failed", str(exc))], expected)
        except RecordRefused as again:
            bare = Record(record.topic, record.partition, record.offset, None, None,
                          error_reason="apply_failed", error_detail=ascii(str(exc))[:2000])
            try:
                return self.apply([bare], expected)
            except RecordRefused as last:
                raise TransientDatabaseError(f"cannot record the refused record {record.topic}"
                                             f"[{record.partition}]@{record.offset}: {last}") from again

    def apply(self, records: Sequence[Record],
              expected: dict[int, int | None] | None = None) -> ApplyResult:
        """Apply ``records`` (one topic, in (partition, offset) order) in one transaction;
        ``expected``: see :func:`select_records`.

        Raises:
            RecordRefused: the database or the fold refused the data; rolled back.
            TransientDatabaseError: any other database error; rolled back.
            OffsetConflict: a concurrent writer created an offsets row first.
        """
        if not records:
            return ApplyResult()
        try:
            return self._apply(records, expected)
        except DatabaseError as exc:
            raise refused_or_transient(exc) from exc
        except FOLD_ERRORS as exc:
            raise RecordRefused(f"{type(exc).__name__}: {exc}") from exc

    def _apply(self, records: Sequence[Record], expected: dict[int, int | None] | None) -> ApplyResult:
        result = ApplyResult()
        topic = records[0].topic
        with transaction(self.conn), self.conn.cursor() as cur:
            partitions = sorted({r.partition for r in records})
            cur.execute("SELECT partition, next_offset FROM projector_offsets WHERE projection = %s"
                        " AND topic = %s AND partition = ANY(%s) ORDER BY partition FOR UPDATE",
                        (self.projection, topic, partitions))
            stored = dict(cur.fetchall())
            accepted, result.skipped, result.gaps = select_records(records, stored, expected)
            if not accepted:
                return result
            events: dict[str, Record] = {}
            errors = []
            for r in accepted:
                if not r.ok:
                    errors.append(r)
                elif r.event_id not in events:  # the first occurrence wins
                    events[r.event_id] = r
            new_ids = self._insert_events(cur, list(events.values()))
            new = [r for r in events.values() if r.event_id in new_ids]
            result.applied, result.duplicates = len(new), len(accepted) - len(errors) - len(new)
            self._apply_postings(cur, new)
            self._apply_actors(cur, new)
            result.errors = self._insert_errors(cur, errors)
            for r in accepted:
                result.positions[r.partition] = r.offset + 1
            self._advance(cur, topic, result.positions, stored)
        return result

    def _insert_events(self, cur: Any, events: list[Record]) -> set[str]:
        if not events:
            return set()
        rows = [event_row(r) for r in events]
        columns = ", ".join(EVENT_COLUMNS)
        if len(rows) < self.bulk_threshold:
            template = "(" + ", ".join("%s::jsonb" if c == "payload" else "%s" for c in EVENT_COLUMNS) + ")"
            returned = execute_values(
                cur, f"INSERT INTO execution_events ({columns}) VALUES %s"
                " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                rows, template=template, page_size=len(rows), fetch=True)
            return {row[0] for row in returned}
        # Every time: a rolled-back transaction drops a temp table it created.
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS projector_events_in"
                    " (LIKE execution_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
        buf = io.StringIO()
        for row in rows:
            buf.write("\t".join(_copy_text(v) for v in row))
            buf.write("\n")
        buf.seek(0)
        cur.copy_expert(f"COPY projector_events_in ({columns}) FROM STDIN", buf)
        cur.execute(f"INSERT INTO execution_events ({columns}) SELECT {columns} FROM projector_events_in"
                    " ON CONFLICT (event_id) DO NOTHING RETURNING event_id")
        ids = {row[0] for row in cur.fetchall()}
        cur.execute("TRUNCATE projector_events_in")  # a retry in this transaction starts empty
        return ids

    def _apply_postings(self, cur: Any, new: list[Record]) -> None:
        # A CommandRejected changes no posting (and may name one that does not exist).
        ids = sorted({r.event["posting_id"] for r in new if r.event["event_type"] not in NO_POSTING_CHANGE})
        if not ids:
            return
        cur.execute(f"SELECT {', '.join(POSTING_COLUMNS)} FROM postings WHERE posting_id = ANY(%s)", (ids,))
        states: dict[str, dict[str, Any]] = {row[0]: dict(zip(POSTING_COLUMNS, row)) for row in cur.fetchall()}
        checkpoints: dict[tuple[str, str], dict[str, Any]] = {}
        for r in new:
            pid = r.event["posting_id"]
            state, checkpoint = fold_event(states.get(pid), r.event, r.offset)
            if state is not None:
                states[pid] = state
            if checkpoint is not None:
                checkpoints[(pid, checkpoint["stage"])] = checkpoint
        changed = [states[pid] for pid in ids if pid in states]
        template = "(" + ", ".join("%s::jsonb" if c in JSON_COLUMNS else "%s" for c in POSTING_COLUMNS) + ")"
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in POSTING_COLUMNS[1:])
        execute_values(cur, f"INSERT INTO postings ({', '.join(POSTING_COLUMNS)}) VALUES %s"
                       f" ON CONFLICT (posting_id) DO UPDATE SET {updates}",
                       [posting_values(s) for s in changed], template=template, page_size=len(changed))
        if checkpoints:
            rows = [checkpoint_values(checkpoints[k]) for k in sorted(checkpoints)]
            template = "(" + ", ".join("%s::jsonb" if c == "outputs" else "%s" for c in CHECKPOINT_COLUMNS) + ")"
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in CHECKPOINT_COLUMNS[2:])
            execute_values(cur, f"INSERT INTO posting_state_checkpoints ({', '.join(CHECKPOINT_COLUMNS)})"
                           f" VALUES %s ON CONFLICT (posting_id, stage) DO UPDATE SET {updates}",
                           rows, template=template, page_size=len(rows))

    def _apply_actors(self, cur: Any, new: list[Record]) -> None:
        totals = ActorTotals()
        for r in new:
            totals.add(r.event)
        write_actor_totals(cur, totals)

    def _insert_errors(self, cur: Any, errors: Iterable[Record]) -> int:
        rows = [(self.projection, r.topic, r.partition, r.offset, r.error_reason or "unknown",
                 (r.error_detail or "").replace("\x00", ""), r.key, r.raw) for r in errors]
        if not rows:
            return 0
        for r in rows:
            log.warning("record skipped", extra={"topic": r[1], "partition": r[2], "offset": r[3],
                                                 "reason": r[4], "detail": r[5]})
        execute_values(cur, "INSERT INTO projector_errors (projection, topic, partition, \"offset\","
                       " reason, detail, key, raw) VALUES %s ON CONFLICT DO NOTHING",
                       [(*r[:6], _binary(r[6]), _binary(r[7])) for r in rows], page_size=len(rows))
        return len(rows)

    def _advance(self, cur: Any, topic: str, positions: dict[int, int], stored: dict[int, int]) -> None:
        known = [(o, self.projection, topic, p) for p, o in sorted(positions.items()) if p in stored]
        fresh = [(self.projection, topic, p, o) for p, o in sorted(positions.items()) if p not in stored]
        if known:
            execute_values(cur, "UPDATE projector_offsets AS t SET next_offset = v.o, updated_at = now()"
                           " FROM (VALUES %s) AS v(o, projection, topic, partition)"
                           " WHERE t.projection = v.projection AND t.topic = v.topic"
                           " AND t.partition = v.partition", known, template="(%s::bigint, %s, %s, %s::int)")
        if fresh:
            execute_values(cur, "INSERT INTO projector_offsets (projection, topic, partition, next_offset)"
                           " VALUES %s ON CONFLICT DO NOTHING", fresh, page_size=len(fresh))
            if cur.rowcount != len(fresh):
                raise OffsetConflict(f"offsets of {topic} partitions {sorted(p for _, _, p, _ in fresh)}"
                                     " were created concurrently")


def write_actor_totals(cur: Any, totals: ActorTotals) -> None:
    """Add ``totals`` to ``actor_performance`` and ``actors`` (upserts of sums and
    min/max), so the totals of separate batches or bulk-rebuild workers add up in any order."""
    if totals.performance:
        rows = [(*key, *(totals.performance[key][c] for c in _PERF_COLUMNS[2:]))
                for key in sorted(totals.performance)]
        sets = [_ADD.format(c=c) for c in ("calls", "successes", "failures", "duration_ms_total",
                                             "completed_duration_ms", "prompt_tokens", "completion_tokens")]
        sets += ["duration_ms_min = LEAST(actor_performance.duration_ms_min, EXCLUDED.duration_ms_min)",
                 "duration_ms_max = GREATEST(actor_performance.duration_ms_max, EXCLUDED.duration_ms_max)",
                 "first_call_at = LEAST(actor_performance.first_call_at, EXCLUDED.first_call_at)",
                 "last_call_at = GREATEST(actor_performance.last_call_at, EXCLUDED.last_call_at)"]
        execute_values(cur, f"INSERT INTO actor_performance ({', '.join(_PERF_COLUMNS)}) VALUES %s"
                       f" ON CONFLICT (actor_name, actor_kind) DO UPDATE SET {', '.join(sets)}",
                       rows, page_size=len(rows))
    if totals.versions:
        rows = [(*key, v["calls"], v["first_seen_at"], v["last_seen_at"])
                for key, v in sorted(totals.versions.items())]
        execute_values(cur, "INSERT INTO actors (actor_name, actor_kind, model_file, model_sha256, calls,"
                       " first_seen_at, last_seen_at) VALUES %s ON CONFLICT (actor_name, actor_kind,"
                       " model_file, model_sha256) DO UPDATE SET calls = actors.calls + EXCLUDED.calls,"
                       " first_seen_at = LEAST(actors.first_seen_at, EXCLUDED.first_seen_at),"
                       " last_seen_at = GREATEST(actors.last_seen_at, EXCLUDED.last_seen_at)",
                       rows, page_size=len(rows))


def _binary(value: bytes | None) -> Any:
    from psycopg2 import Binary

    return None if value is None else Binary(value)
