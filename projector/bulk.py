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
from typing import Any

from psycopg2 import sql

from projector.bulkddl import BIG_TABLES, DuplicateKeys, defer_ddl, restore_ddl, truncate
from projector.bulkload import Job, SliceResult, load_slice
from projector.exceptions import BulkUnsupported, ReplayError
from projector.pgschema import connect_schema
from projector.records import PROJECTION
from projector.repository import Repository, write_actor_totals
from wavestream.config import KafkaSettings, PostgresSettings
from wavestream.db import transaction

log = logging.getLogger(__name__)


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
