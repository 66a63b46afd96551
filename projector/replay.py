"""Blue/green rebuild of the read models (``wavestream replay``).

1. Note the high-water marks of the topic (read_committed) as the build target.
2. Build every read model into a fresh schema ``<live>_build_<stamp>`` (same
   migrations, same repository as the live projector) from offset 0 up to the target.
3. In ONE transaction: lock the live ``projector_offsets`` (``EXCLUSIVE``: a running
   live projector waits at its next batch, readers are not blocked), catch the build up
   to the live offsets if the live projector moved on meanwhile, compare row counts
   and per-table checksums, then ``DROP SCHEMA <live>_previous``, rename live to
   ``<live>_previous`` and the build to live. Readers see the old tables until the
   commit and the new ones after it, never an empty or partial table.
4. ``--rollback`` swaps ``<live>`` and ``<live>_previous`` back the same way.

A live projector keeps running across a swap: its batch transaction finds the stored
offsets where it expects them (the build was caught up to them), and if they moved back
(a rollback) it re-seeks to them. If the live projection lags behind the build, the
replay waits for it (``wait_live_s``), since tables at different offsets cannot be
compared. ``force`` swaps in spite of differences: what a change of the projection
logic needs.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition
from psycopg2 import sql

from projector.exceptions import ReplayError, VerificationFailed
from projector.pgschema import (DEFAULT_SCHEMA, check_schema_name, checksums, connect_schema, migrate_schema,
                                schema_exists)
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
                 force: bool = False, wait_live_s: float = 60.0, codec: AvroCodec | None = None) -> None:
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

    # ------------------------------------------------------------------ replay

    def run(self) -> ReplayResult:
        """Build, verify and swap. Raises ReplayError / VerificationFailed (live untouched)."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
        build = check_schema_name(f"{self.schema[:40]}_build_{stamp}")
        result = ReplayResult(schema=self.schema, previous=self.previous)
        admin = connect(self.postgres, application_name="wavestream-replay")
        try:
            self._lock(admin)
            migrate_schema(admin, build)
            t0 = time.monotonic()
            result.events = self.build(build, self.targets())
            try:
                self._swap(admin, build, result)
            except BaseException:
                self._drop(admin, build)
                raise
            result.seconds = time.monotonic() - t0
        finally:
            admin.close()
        log.info("replay swapped in", extra={"schema": self.schema, "events": result.events,
                                             "seconds": round(result.seconds, 2),
                                             "events_per_s": round(result.events_per_s)})
        return result

    def rollback(self) -> None:
        """Swap the live schema and ``<live>_previous`` back.

        Raises:
            ReplayError: there is no previous schema to roll back to.
        """
        admin = connect(self.postgres, application_name="wavestream-replay")
        try:
            self._lock(admin)
            with transaction(admin), admin.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname IN (%s, %s)",
                            (self.schema, self.previous))
                if cur.fetchone()[0] != 2:
                    raise ReplayError(f"nothing to roll back to: schemas {self.schema} and {self.previous} must exist")
                cur.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
                    sql.Identifier(self.schema, "projector_offsets")))
                swap = f"{self.schema[:40]}_swap"
                for old, new in ((self.schema, swap), (self.previous, self.schema), (swap, self.previous)):
                    cur.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(old), sql.Identifier(new)))
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
        deadline = time.monotonic() + self.wait_live_s
        while True:
            with transaction(admin), admin.cursor() as cur:
                if not self._exists(cur, self.schema):
                    self._rename(cur, build, self.schema)  # first build: nothing to compare with
                    result.previous, result.swapped = None, True
                    result.counts = {t: c for t, (c, _) in checksums(cur, self.schema).items()}
                    return
                cur.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
                    sql.Identifier(self.schema, "projector_offsets")))
                live = self._offsets(cur, self.schema)
                built = self._offsets(cur, build)
                lagging = {p for p, o in built.items() if live.get(p, -1) < o}
                if not lagging or self.force or time.monotonic() >= deadline:
                    if any(live.get(p, 0) > built.get(p, 0) for p in live):
                        # The live projector moved on during the build: catch up to it.
                        # Its next batch waits on our lock, so `live` stands still.
                        result.events += self.build(build, live)
                    self._verify(cur, build, result, lagging)
                    cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.previous)))
                    self._rename(cur, self.schema, self.previous)
                    self._rename(cur, build, self.schema)
                    result.swapped = True
                    return
            log.info("live projection lags behind the build; waiting", extra={"partitions": sorted(lagging)})
            time.sleep(0.5)

    def _verify(self, cur: Any, build: str, result: ReplayResult, lagging: set[int]) -> None:
        live, built = checksums(cur, self.schema), checksums(cur, build)
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

    @staticmethod
    def _rename(cur: Any, old: str, new: str) -> None:
        cur.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(old), sql.Identifier(new)))

    def _drop(self, admin: Connection, build: str) -> None:
        try:
            if schema_exists(admin, build):
                with transaction(admin), admin.cursor() as cur:
                    cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(build)))
        except Exception as exc:  # noqa: BLE001 - the original error matters more
            log.warning("could not drop the build schema", extra={"schema": build, "error": str(exc)})

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
