"""Blue/green rebuild of the read models (``wavestream replay``).

1. Note the high-water marks of the topic (read_committed) as the build target.
2. Build every read model into a fresh schema ``<live>_build_<stamp>`` (same
   migrations) from offset 0 up to the target: a bulk load
   (:mod:`projector.bulk`: no indexes while loading, binary COPY, postings folded in
   memory, partitions in parallel); if the bulk path cannot load the topic exactly as
   the live projector would, the schema is made again and built incrementally with the
   live projector's repository. A build that fails for any reason drops its schema;
   a build schema left by a killed replay is dropped by the next one.
3. Verify without locking the live projector: wait until the live projection reached
   the build's offsets; read the live offsets and checksums in one REPEATABLE READ
   snapshot (MVCC: the live projector keeps writing meanwhile); catch the build up to
   those offsets; compare row counts and checksums (:func:`projector.pgschema.checksums`).
4. Swap in ONE short transaction: lock the live ``projector_offsets`` (``EXCLUSIVE``: a
   running live projector waits at its next batch, readers are not blocked), catch
   the build up over the few events the live projector applied since the snapshot
   (with the live projector's own repository), carry grants and views of other
   schemas over (:mod:`projector.swap`), ``DROP SCHEMA <live>_previous``, rename live to
   ``<live>_previous`` and the build to live. Readers see the old tables until the
   commit and the new ones after it, never an empty or partial table.
5. ``--rollback`` swaps ``<live>`` and ``<live>_previous`` back the same way.

A live projector keeps running across a swap: its batch transaction finds the stored
offsets where it expects them (the build was caught up to them), and if they moved back
(a rollback) it re-seeks to them. If the live projection lags behind the build, the
replay waits for it (``wait_live_s``), since tables at different offsets cannot be
compared. ``force`` swaps in spite of differences: what a change of the projection
logic needs.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition
from psycopg2 import sql

from projector.bulk import bulk_build
from projector.exceptions import BulkUnsupported, ReplayError, VerificationFailed
from projector.pgschema import (DEFAULT_SCHEMA, check_schema_name, checksums, connect_schema, migrate_schema,
                                schema_exists)
from projector.swap import copy_grants, outside_dependents, recreate_views, rename
from projector.records import PROJECTION, decode_messages
from projector.repository import Repository
from wavestream.clients import build_consumer, high_watermarks
from wavestream.codec import AvroCodec
from wavestream.config import KafkaSettings, PostgresSettings
from wavestream.db import Connection, connect, transaction
from wavestream.topics import EVENTS

log = logging.getLogger(__name__)

_LOCK_SQL = "SELECT pg_try_advisory_lock(hashtext('wavestream.replay.' || %s))"


@dataclass
class ReplayResult:
    schema: str
    previous: str | None
    events: int = 0
    seconds: float = 0.0
    swapped: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    differences: dict[str, tuple] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def previous_name(schema: str) -> str:
    return f"{schema}_previous"


class Replay:
    """One replay of ``schema`` from ``topic``; see the module docstring."""

    def __init__(self, kafka: KafkaSettings, postgres: PostgresSettings, *, schema: str = DEFAULT_SCHEMA,
                 topic: str = EVENTS, batch_size: int = 5000, progress: bool = True,
                 force: bool = False, wait_live_s: float = 60.0, codec: AvroCodec | None = None,
                 bulk: bool = True, workers: int | None = None) -> None:
        self.kafka = kafka
        self.postgres = postgres
        self.schema = check_schema_name(schema)
        self.previous = previous_name(schema)
        self.topic = topic
        self.batch_size = batch_size
        self.progress = progress
        self.force = force
        self.wait_live_s = wait_live_s
        self.codec = codec or AvroCodec.from_settings(kafka)
        self.bulk = bulk
        self.workers = workers

    # ------------------------------------------------------------------ replay

    def run(self) -> ReplayResult:
        """Build, verify and swap. Raises ReplayError / VerificationFailed (live untouched;
        the build schema dropped)."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
        build = check_schema_name(f"{self.schema[:40]}_build_{stamp}")
        result = ReplayResult(schema=self.schema, previous=self.previous)
        admin = connect(self.postgres, application_name="wavestream-replay")
        try:
            self._lock(admin)
            self._drop_stale_builds(admin)
            try:
                migrate_schema(admin, build)
                t0 = time.monotonic()
                result.events = self._build_all(admin, build, self.targets())
                self._swap(admin, build, result)
                result.seconds = time.monotonic() - t0
            except BaseException:
                self._drop(admin, build)
                raise
        finally:
            admin.close()
        log.info("replay swapped in", extra={"schema": self.schema, "events": result.events,
                                             "seconds": round(result.seconds, 2),
                                             "events_per_s": round(result.events_per_s)})
        return result

    def _build_all(self, admin: Connection, build: str, targets: dict[int, int]) -> int:
        """Build ``build`` up to ``targets``: bulk, else incrementally; events applied."""
        if self.bulk:
            try:
                return bulk_build(self.kafka, self.postgres, build, self.topic, targets, workers=self.workers,
                                  progress=self.progress, batch_size=max(self.batch_size, 1000)).applied
            except BulkUnsupported as exc:
                log.warning("bulk rebuild not possible; rebuilding incrementally", extra={"reason": str(exc)})
                self._drop(admin, build)
                migrate_schema(admin, build)
        return self.build(build, targets)

    def rollback(self) -> None:
        """Swap the live schema and ``<live>_previous`` back (views in other schemas
        follow, grants added to live are granted on the one coming back).

        Raises:
            ReplayError: there is no previous schema to roll back to, or objects in
                other schemas that cannot follow depend on live (nothing changed).
        """
        admin = connect(self.postgres, application_name="wavestream-replay")
        try:
            self._lock(admin)
            with transaction(admin), admin.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname IN (%s, %s)",
                            (self.schema, self.previous))
                if cur.fetchone()[0] != 2:
                    raise ReplayError(f"nothing to roll back to: schemas {self.schema} and {self.previous} must exist")
                dependents = outside_dependents(cur, self.schema, [self.previous])
                dependents.refuse_if_blocked(self.schema)
                cur.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
                    sql.Identifier(self.schema, "projector_offsets")))
                copy_grants(cur, self.schema, self.previous)
                swap = f"{self.schema[:40]}_swap"
                for old, new in ((self.schema, swap), (self.previous, self.schema), (swap, self.previous)):
                    rename(cur, old, new)
                recreate_views(cur, dependents)
        finally:
            admin.close()
        log.info("replay rolled back", extra={"schema": self.schema, "previous": self.previous})

    # ------------------------------------------------------------------ build

    def targets(self) -> dict[int, int]:
        consumer = build_consumer(self.kafka, "wavestream-replay")
        try:
            return high_watermarks(consumer, self.topic)
        finally:
            consumer.close()

    def build(self, schema: str, targets: dict[int, int]) -> int:
        """Apply the topic into ``schema`` from its stored offsets up to ``targets``
        (exclusive); returns the number of events newly applied."""
        conn = connect_schema(self.postgres, schema, application_name="wavestream-replay")
        try:
            repo = Repository(conn, projection=PROJECTION)
            start = repo.stored_offsets(self.topic)
            todo = {p: t for p, t in targets.items() if start.get(p, 0) < t}
            if not todo:
                return 0
            consumer = build_consumer(self.kafka, "wavestream-replay", **{"enable.partition.eof": True})
            bar = self._bar(sum(t - start.get(p, 0) for p, t in todo.items()), schema)
            applied = 0
            try:
                consumer.assign([TopicPartition(self.topic, p, start.get(p, OFFSET_BEGINNING)) for p in sorted(todo)])
                while todo:
                    messages = consumer.consume(num_messages=self.batch_size, timeout=0.25)
                    wanted = [m for m in messages if m.error() is None and m.partition() in todo
                              and m.offset() < todo[m.partition()]]
                    result = repo.apply_all(decode_messages(self.codec, wanted))
                    applied += result.applied
                    for m in messages:
                        p = m.partition()
                        if p not in todo:
                            continue
                        at = m.offset() if m.error() is not None and m.error().code() == KafkaError._PARTITION_EOF \
                            else m.offset() + 1 if m.error() is None else -1
                        if at >= todo[p]:
                            del todo[p]
                            consumer.pause([TopicPartition(self.topic, p)])
                    if bar is not None:
                        bar.update(len(wanted))
            finally:
                consumer.close()
                if bar is not None:
                    bar.close()
            return applied
        finally:
            conn.close()

    def _bar(self, total: int, schema: str) -> Any:
        if not self.progress:
            return None
        from tqdm import tqdm

        return tqdm(total=total, desc=f"replay {schema}", unit="ev", unit_scale=True, file=sys.stderr,
                    mininterval=0.5)

    # ------------------------------------------------------------------ swap

    def _swap(self, admin: Connection, build: str, result: ReplayResult) -> None:
        with transaction(admin), admin.cursor() as cur:
            if not self._exists(cur, self.schema):
                rename(cur, build, self.schema)  # first build: nothing to compare with
                result.previous, result.swapped = None, True
                result.counts = {t: c for t, (c, _) in checksums(cur, self.schema).items()}
                return
        lagging = self._wait_for_live(admin, build)
        snapshot, live_sums = self._live_snapshot(admin)
        if self._behind(build, snapshot):
            result.events += self.build(build, snapshot)  # the live projector moved on
        with transaction(admin), admin.cursor() as cur:
            self._verify(live_sums, checksums(cur, build), result, lagging)
        with transaction(admin), admin.cursor() as cur:
            dependents = outside_dependents(cur, self.schema, [build, self.previous])
            dependents.refuse_if_blocked(self.schema)
            outside_dependents(cur, self.previous, [build, self.schema]).refuse_if_blocked(self.previous)
            cur.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
                sql.Identifier(self.schema, "projector_offsets")))
            live = self._offsets(cur, self.schema)
            if self._behind(build, live):
                # Applied since the snapshot; the live projector's next batch waits on our lock.
                result.events += self.build(build, live)
            copy_grants(cur, self.schema, build)
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.previous)))
            rename(cur, self.schema, self.previous)
            rename(cur, build, self.schema)
            recreate_views(cur, dependents)
            result.swapped = True

    def _wait_for_live(self, admin: Connection, build: str) -> set[int]:
        """Wait (up to ``wait_live_s``, not with ``force``) until the live offsets reach
        the build's; returns the partitions where live still lags."""
        deadline = time.monotonic() + self.wait_live_s
        while True:
            with transaction(admin), admin.cursor() as cur:
                live, built = self._offsets(cur, self.schema), self._offsets(cur, build)
            lagging = {p for p, o in built.items() if live.get(p, -1) < o}
            if not lagging or self.force or time.monotonic() >= deadline:
                return lagging
            log.info("live projection lags behind the build; waiting", extra={"partitions": sorted(lagging)})
            time.sleep(0.5)

    def _live_snapshot(self, admin: Connection) -> tuple[dict[int, int], dict[str, tuple[int, str]]]:
        """(offsets, checksums) of live in one REPEATABLE READ snapshot: consistent with
        each other while the live projector goes on writing (no lock but ACCESS SHARE)."""
        with transaction(admin), admin.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return self._offsets(cur, self.schema), checksums(cur, self.schema)

    def _behind(self, build: str, targets: dict[int, int]) -> bool:
        conn = connect_schema(self.postgres, build, application_name="wavestream-replay")
        try:
            built = Repository(conn, projection=PROJECTION).stored_offsets(self.topic)
        finally:
            conn.close()
        return any(o > built.get(p, 0) for p, o in targets.items())

    def _verify(self, live: dict, built: dict, result: ReplayResult, lagging: set[int]) -> None:
        result.counts = {t: c for t, (c, _) in built.items()}
        result.differences = {t: (live[t], built[t]) for t in built if live.get(t) != built[t]}
        if not result.differences:
            return
        message = f"rebuilt tables differ from live: {', '.join(sorted(result.differences))}"
        if lagging:
            message += f" (the live projection lags on partitions {sorted(lagging)})"
        if not self.force:
            raise VerificationFailed(message + "; live left untouched (--force swaps anyway)", result.differences)
        log.warning("swapping despite differences (force)", extra={"differences": result.differences})

    def _offsets(self, cur: Any, schema: str) -> dict[int, int]:
        cur.execute(sql.SQL("SELECT partition, next_offset FROM {} WHERE projection = %s AND topic = %s").format(
            sql.Identifier(schema, "projector_offsets")), (PROJECTION, self.topic))
        return dict(cur.fetchall())

    @staticmethod
    def _exists(cur: Any, schema: str) -> bool:
        cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
        return cur.fetchone() is not None

    def _drop(self, admin: Connection, build: str) -> None:
        """Drop ``build`` (a failed or abandoned build); a failure here is only logged."""
        try:
            if schema_exists(admin, build):
                with transaction(admin), admin.cursor() as cur:
                    cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(build)))
                log.info("build schema dropped", extra={"schema": build})
        except Exception as exc:  # noqa: BLE001 - the original error matters more
            log.warning("could not drop the build schema", extra={"schema": build, "error": str(exc)})

    def _drop_stale_builds(self, admin: Connection) -> None:
        """Drop build schemas of this live schema left by a replay that was killed (we
        hold the replay lock, so no other replay is building them)."""
        pattern = re.compile(re.escape(f"{self.schema[:40]}_build_") + r"\d{14}$")
        with transaction(admin), admin.cursor() as cur:
            cur.execute("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)",
                        (f"{self.schema[:40]}_build_",))
            stale = [name for (name,) in cur.fetchall() if pattern.match(name)]
        for name in stale:
            self._drop(admin, name)

    def _lock(self, admin: Connection) -> None:
        """One replay per schema at a time (session advisory lock, released on close)."""
        admin.autocommit = True
        try:
            with admin.cursor() as cur:
                cur.execute(_LOCK_SQL, (self.schema,))
                if not cur.fetchone()[0]:
                    raise ReplayError(f"another replay of schema {self.schema} is running")
        finally:
            admin.autocommit = False
