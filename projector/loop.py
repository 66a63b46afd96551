"""The projector's consumer loop: ``events`` -> PostgreSQL read models, exactly once.

- ``read_committed`` consumer, ``enable.auto.commit=false``, cooperative-sticky
  assignment, optional static membership (``group.instance.id``) so a restarted
  instance gets its partitions back without waiting for a session timeout.
- On assignment it seeks to the offsets stored in PostgreSQL, never to Kafka's
  committed offsets. Offsets are committed to Kafka too, asynchronously and after the
  database commit, only so that lag tooling sees the group's progress.
- Per batch ONE transaction (:class:`projector.repository.Repository`) applies the
  events and advances the stored offsets; undecodable or unknown records become
  ``projector_errors`` rows in that same transaction.
- A database error that is not about the batch's data (an outage, a lock or statement
  timeout, a deadlock, disk full, read-only after a failover, ...:
  :class:`TransientDatabaseError`): partitions are paused, the connection is dropped
  and re-established after a capped exponential backoff (growing while the failures
  repeat), then every assigned partition is re-seeked to its stored offset (the
  in-flight batch is dropped and read again): nothing lost, nothing applied twice. Only
  data errors become ``projector_errors`` rows (see :mod:`projector.repository`).
- librdkafka keeps a partition's pause flag across a revoke and a re-assign, so every
  partition is resumed when it is revoked or (re)assigned: a partition paused by the
  recovery never stays paused after a rebalance.
- A fatal consumer error (a static member fenced after its session timed out while a
  broker was down) gets a new consumer that joins again and seeks to the stored
  offsets; five in a row without a record is a :class:`ProjectorError`.
- :meth:`Projector.request_stop` (SIGTERM/SIGINT via :meth:`install_signal_handlers`)
  lets the current batch finish, then the consumer leaves the group and the loop
  returns.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from projector.exceptions import ConsumerFenced, OffsetConflict, ProjectorError, TransientDatabaseError
from projector.metrics import ProjectorMetrics
from projector.options import ProjectorOptions, ProjectorStats
from projector.records import BEGINNING, PROJECTION, decode_messages
from projector.repository import ApplyResult, Repository, open_repository
from wavestream.clients import build_admin, build_consumer, high_watermarks
from wavestream.codec import AvroCodec
from wavestream.config import KafkaSettings, PostgresSettings
from wavestream.metrics import health
from wavestream.topics import require_topics

log = logging.getLogger(__name__)
#: New consumers tried in a row after fatal consumer errors before the projector gives up.
_MAX_REJOINS = 5
_REJOIN_WAIT_S = 2.0


class Projector:
    """One projector instance. :meth:`run` blocks until :meth:`request_stop` (or, with
    ``until_caught_up``, until the topic is applied up to its start-time end)."""

    def __init__(self, kafka: KafkaSettings, postgres: PostgresSettings,
                 options: ProjectorOptions | None = None, codec: AvroCodec | None = None) -> None:
        self.kafka = kafka
        self.postgres = postgres
        self.options = options or ProjectorOptions()
        self.codec = codec or AvroCodec.from_settings(kafka)
        self.stats = ProjectorStats()
        self.metrics = ProjectorMetrics()
        self._stop = threading.Event()
        self._repo: Repository | None = None
        #: Backoff before redoing a batch after a transient database error; doubles
        #: while the failures repeat, back to the initial value after a success.
        self._retry_delay = self.options.backoff_initial_s
        self._consumer: Any = None
        #: partition -> the stored offset we believe in (None: no row yet).
        self._expected: dict[int, int | None] = {}
        self._targets: dict[int, int] | None = None
        self._eof: dict[int, int] = {}

    # ------------------------------------------------------------------ control

    def request_stop(self, *_: Any) -> None:
        """Finish the current batch, then leave the group and return from :meth:`run`."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT request a clean stop (call from the main thread)."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    # ------------------------------------------------------------------ run

    def run(self) -> ProjectorStats:
        """Raises: TopicError when the topic is missing; KafkaClientError on a bad config."""
        opts = self.options
        require_topics(build_admin(self.kafka), [opts.topic])
        if opts.metrics_port is not None:
            self.metrics.serve(opts.metrics_port)
        overrides: dict[str, Any] = {"partition.assignment.strategy": "cooperative-sticky",
                                     "enable.partition.eof": opts.until_caught_up}
        if opts.instance_id:
            overrides["group.instance.id"] = opts.instance_id
        self._consumer = build_consumer(self.kafka, opts.group_id, **overrides)
        log.info("projector starting", extra={"group": opts.group_id, "topic": opts.topic,
                                              "schema": opts.schema, "instance": opts.instance_id})
        try:
            if opts.until_caught_up:
                self._targets = self._high_watermarks(self._consumer)
            self._subscribe()
            last_report = time.monotonic()
            rejoins = 0
            while not self._stop.is_set():
                health.polled()
                messages = self._consumer.consume(num_messages=opts.batch_size, timeout=opts.batch_timeout_s)
                try:
                    self._handle(messages)
                except ConsumerFenced as exc:
                    rejoins += 1
                    if rejoins > _MAX_REJOINS:
                        raise ProjectorError(f"{exc}; still fenced after {_MAX_REJOINS} new consumers: is another "
                                             f"projector running with --instance-id {opts.instance_id}?") from exc
                    self._rejoin(overrides, exc)
                    continue
                rejoins = 0 if any(m.error() is None for m in messages) else rejoins
                if self._targets is not None and self._caught_up():
                    log.info("caught up with the start-time end of the topic", extra={"targets": self._targets})
                    break
                if time.monotonic() - last_report >= opts.progress_every_s:
                    last_report = time.monotonic()
                    self._report()
        finally:
            try:
                self._consumer.close()  # leaves the group: its partitions move at once
            except (KafkaException, RuntimeError) as exc:
                log.warning("consumer close failed", extra={"error": str(exc)})
            self._close_db()
            self._report()
        return self.stats

    def _subscribe(self) -> None:
        self._consumer.subscribe([self.options.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                 on_lost=self._on_revoke)

    def _rejoin(self, overrides: dict[str, Any], cause: Exception) -> None:
        """A new consumer in place of a fenced one: it joins the group again and, once
        assigned, seeks to the offsets stored in PostgreSQL (nothing is lost or doubled)."""
        log.warning("consumer fenced, joining the group again with a new consumer", extra={"error": str(cause)})
        try:
            self._consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.warning("consumer close failed", extra={"error": str(exc)})
        time.sleep(_REJOIN_WAIT_S)
        self._consumer = build_consumer(self.kafka, self.options.group_id, **overrides)
        self._subscribe()

    def _handle(self, messages: list[Any]) -> None:
        """Apply the records of ``messages``.

        Raises:
            ConsumerFenced: the consumer hit a fatal error (a static member fenced after
                its session timed out during a broker loss): it cannot consume again.
        """
        eofs = {}
        for msg in messages:
            err = msg.error()
            if err is None:
                continue
            if err.code() == KafkaError._PARTITION_EOF:
                eofs[msg.partition()] = msg.offset()
            elif err.fatal() or err.code() == KafkaError._FATAL:
                raise ConsumerFenced(f"fatal consumer error in group {self.options.group_id}: {err.str()}")
            else:
                log.warning("consumer error", extra={"error": str(err)})
        records = decode_messages(self.codec, messages)
        reseeked = self._apply(records) if records else set()
        if reseeked is None:
            return  # every partition re-seeked: the batch (and its EOFs) will be read again
        # A re-seeked partition's records (and EOF) come again.
        self._eof.update({p: o for p, o in eofs.items() if p not in reseeked})

    def _apply(self, records: list) -> set[int] | None:
        """Apply a batch; returns the partitions whose records were dropped and
        re-seeked (None: all of them)."""
        partitions = {r.partition for r in records}
        expected = {p: self._expected[p] for p in partitions if p in self._expected}
        t0 = time.monotonic()
        try:
            result = self._repository().apply_all(records, expected)
        except TransientDatabaseError as exc:
            self.stats.outages += 1
            self.metrics.outages.inc()
            delay, self._retry_delay = self._retry_delay, min(self._retry_delay * 2, self.options.backoff_max_s)
            log.warning("PostgreSQL could not apply the batch; pausing, then redoing it from the stored offsets",
                        extra={"error": str(exc), "sqlstate": exc.sqlstate, "retry_in_s": delay})
            self._close_db()
            self._recover(delay)
            return None
        except OffsetConflict as exc:
            log.warning("stored offsets moved under the batch; re-seeking", extra={"error": str(exc)})
            self._recover()
            return None
        self._retry_delay = self.options.backoff_initial_s
        self.metrics.batch(result, time.monotonic() - t0)
        self._account(result)
        if result.gaps:
            log.warning("stored offsets moved back (replay swap or rollback); re-seeking",
                        extra={"gaps": result.gaps})
            self._seek(result.gaps)
        return set(result.gaps)

    def _account(self, result: ApplyResult) -> None:
        s = self.stats
        s.batches += 1
        s.applied += result.applied
        s.duplicates += result.duplicates
        s.errors += result.errors
        s.skipped += result.skipped
        s.positions.update(result.positions)
        self._expected.update(result.positions)
        if result.positions and self._consumer is not None:
            offsets = [TopicPartition(self.options.topic, p, o) for p, o in sorted(result.positions.items())]
            for tp in offsets:
                try:  # cached: the high-water mark of the last fetch response, no request
                    high = self._consumer.get_watermark_offsets(tp, cached=True)[1]
                    self.metrics.lag.labels(str(tp.partition)).set(max(high - tp.offset, 0))
                except KafkaException:
                    pass
            try:  # for lag tooling only; positions always come from PostgreSQL
                self._consumer.commit(offsets=offsets, asynchronous=True)
            except KafkaException as exc:
                log.debug("kafka offset commit failed", extra={"error": str(exc)})

    # ------------------------------------------------------------------ database

    def _repository(self) -> Repository:
        """Raises: TransientDatabaseError: PostgreSQL cannot be used now."""
        if self._repo is None:
            self._repo = open_repository(self.postgres, self.options.schema, projection=PROJECTION,
                                         bulk_threshold=self.options.bulk_threshold)
        return self._repo

    def _close_db(self) -> None:
        if self._repo is not None:
            try:
                self._repo.conn.close()
            except Exception:  # noqa: BLE001 - a dead connection may fail to close
                pass
        self._repo = None

    def _stored_offsets(self, *, keep_alive: bool = True) -> dict[int, int] | None:
        """The stored offsets, reconnecting with capped exponential backoff; None when a
        stop was requested before PostgreSQL came back. ``keep_alive`` polls Kafka while
        waiting (never from inside a rebalance callback)."""
        delay = self.options.backoff_initial_s
        while True:
            try:
                return self._repository().stored_offsets(self.options.topic)
            except TransientDatabaseError as exc:
                self._close_db()
                log.warning("PostgreSQL unavailable; retrying", extra={"error": str(exc), "retry_in_s": delay})
            if not self._wait(delay, keep_alive=keep_alive):
                return None
            delay = min(delay * 2, self.options.backoff_max_s)
            health.polled()  # waiting for PostgreSQL is not a hang
            if keep_alive and self._consumer is not None:
                self._consumer.poll(0)  # keep the group membership alive; the batch is re-read anyway

    def _wait(self, seconds: float, *, keep_alive: bool = True) -> bool:
        """Wait ``seconds`` (False: a stop was requested meanwhile). ``keep_alive`` polls
        Kafka at least every second to keep the group membership; what such a poll
        returns is dropped, as the caller re-seeks to the stored offsets afterwards."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if self._stop.wait(max(0.0, min(left, 1.0))):
                return False
            if keep_alive and self._consumer is not None:
                self._consumer.poll(0)
            if left <= 1.0:
                return True

    def _recover(self, delay_s: float = 0.0) -> None:
        """Pause, wait ``delay_s`` and for PostgreSQL, re-seek every assigned partition
        to its stored offset and resume."""
        consumer = self._consumer
        assignment = consumer.assignment()
        if assignment:
            consumer.pause(assignment)
        if delay_s > 0 and not self._wait(delay_s):
            return  # stopping: nothing more is applied; the next start resumes from PostgreSQL
        health.set_ready(False, "PostgreSQL unavailable")
        stored = self._stored_offsets()
        assignment = consumer.assignment()  # a rebalance may have run meanwhile
        if stored is None:
            return  # stopping: nothing more is applied; the next start resumes from PostgreSQL
        self.stats.reseeks += 1
        self.metrics.reseeks.inc()
        self._seek({tp.partition: stored.get(tp.partition, BEGINNING) for tp in assignment})
        if assignment:
            consumer.resume(assignment)
        health.set_ready(True)

    def _seek(self, offsets: dict[int, int]) -> None:
        for partition, offset in sorted(offsets.items()):
            self._expected[partition] = None if offset == BEGINNING else offset
            self._eof.pop(partition, None)
            target = OFFSET_BEGINNING if offset == BEGINNING else offset
            try:
                self._consumer.seek(TopicPartition(self.options.topic, partition, target))
            except KafkaException as exc:
                log.warning("seek failed; partition left to the next assignment",
                            extra={"partition": partition, "error": str(exc)})

    # ------------------------------------------------------------------ rebalance

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        stored = self._stored_offsets(keep_alive=False)
        for tp in partitions:
            if stored is not None and tp.partition in stored:
                tp.offset = stored[tp.partition]
                self._expected[tp.partition] = stored[tp.partition]
            else:
                # No row yet (or stopping): from the start; records below whatever is
                # stored are skipped in the batch transaction anyway.
                tp.offset = OFFSET_BEGINNING
                self._expected.pop(tp.partition, None)
            self._eof.pop(tp.partition, None)
        log.info("partitions assigned", extra={"partitions": {tp.partition: tp.offset for tp in partitions}})
        consumer.incremental_assign(partitions)
        _resume(consumer, partitions)  # a pause from before a revoke would survive the re-assign
        health.set_ready(True)

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._expected.pop(tp.partition, None)
            self._eof.pop(tp.partition, None)
        log.info("partitions revoked", extra={"partitions": sorted(tp.partition for tp in partitions)})
        _resume(consumer, partitions)  # librdkafka keeps the pause flag across a revoke
        consumer.incremental_unassign(partitions)

    # ------------------------------------------------------------------ progress

    def _high_watermarks(self, consumer: Any) -> dict[int, int]:
        return high_watermarks(consumer, self.options.topic)

    def _caught_up(self) -> bool:
        assert self._targets is not None
        for p, target in self._targets.items():
            position = self._expected.get(p)
            if target == 0 or (position is not None and position >= target):
                continue
            if self._eof.get(p, -1) >= target:
                continue
            return False
        return True

    def _report(self) -> None:
        s = self.stats
        log.info("projector progress", extra={"batches": s.batches, "applied": s.applied,
                                              "duplicates": s.duplicates, "errors": s.errors,
                                              "skipped": s.skipped, "reseeks": s.reseeks,
                                              "outages": s.outages, "positions": s.positions})


def _resume(consumer: Any, partitions: list[TopicPartition]) -> None:
    """Clear the pause flag of ``partitions`` (no-op for those not paused)."""
    if not partitions:
        return
    try:
        consumer.resume([TopicPartition(tp.topic, tp.partition) for tp in partitions])
    except KafkaException as exc:
        log.warning("resume failed", extra={"partitions": sorted(tp.partition for tp in partitions),
                                            "error": str(exc)})
