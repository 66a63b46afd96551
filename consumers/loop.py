"""The exactly-once loop shared by stage workers, the ingest router and the command
processor (DESIGN §5).

Each iteration consumes up to ``batch_size`` records (read_committed, no auto commit,
cooperative-sticky unless the config overrides it; stage workers use range), and for each record in order: decodes it (undecodable ->
``deadletter``, same transaction), asks the handler for an :class:`Outcome`, produces its
outputs inside one transaction, then sends the consumed positions with the consumer's
group metadata (KIP-447) and commits. A batch is bounded by count and by time.

- Abortable errors abort the transaction and rewind every partition of the batch to
  its last committed offset; fatal errors recreate the producer (same
  ``transactional.id``, which aborts the open transaction) and rewind too; being fenced
  by a newer instance stops the loop (:class:`WorkerFenced`).
- An outcome deferred until a future time (a retry's ``not_before``) pauses only its
  partition, rewinds it to that record, and resumes it when due.
- A ``gate`` (the circuit breaker) that stops admitting records holds the rest of the
  batch and pauses every assigned partition until it admits again.
- :meth:`stop` (SIGTERM) finishes the record in hand, commits what was done, and leaves
  the group; rebalances happen only inside ``consume()``, between transactions.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from consumers.deadletter import deadletter_record
from consumers.outcome import Gate, Handler, Out, Outcome, PoisonRecord, TransientRecordError, WorkerFenced
from wavestream import metrics
from wavestream.clients import build_consumer, build_producer
from wavestream.codec import TRANSIENT_REASONS, AvroCodec, record_for_topic
from wavestream.config import KafkaSettings
from wavestream.exceptions import CodecError

log = logging.getLogger(__name__)
TxnKey = tuple[str, int]
_FENCED = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}
_OP_TIMEOUT_S = 30.0
_OP_RETRIES = 5
_MAX_BACKOFF_S = 5.0


@dataclass
class LoopConfig:
    group_id: str
    topics: list[str]
    transactional_id: str
    batch_size: int = 100
    batch_max_s: float = 20.0
    poll_s: float = 0.2
    group_instance_id: str | None = None
    transaction_timeout_ms: int = 60_000
    consumer_overrides: Mapping[str, Any] = field(default_factory=dict)
    component: str = "worker"  # metrics labels: which process kind, and its stage (if any)
    stage: str = ""
    lag_interval_s: float = 5.0


@dataclass
class _Batch:
    positions: dict[TxnKey, int] = field(default_factory=dict)  # next offset to commit
    held: dict[TxnKey, int] = field(default_factory=dict)  # first offset not handled
    deferred: dict[TxnKey, tuple[int, float]] = field(default_factory=dict)
    first: dict[TxnKey, int] = field(default_factory=dict)
    handled: int = 0
    deadlettered: dict[str, int] = field(default_factory=dict)  # reason -> count


class TransactionalLoop:
    """Runs a :class:`Handler` exactly once per record (see the module docstring)."""

    def __init__(self, settings: KafkaSettings, config: LoopConfig, handler: Handler, codec: AvroCodec,
                 gate: Gate | None = None, clock: Callable[[], float] = time.time,
                 logger: logging.Logger | logging.LoggerAdapter | None = None) -> None:
        self.settings, self.config, self.handler, self.codec = settings, config, handler, codec
        self.gate, self._clock, self.log = gate, clock, logger or log
        self.consumer: Any = None
        self.producer: Any = None
        self._stopping = False
        self._in_txn = False
        self._deferred: dict[TxnKey, float] = {}
        self._paused_all = False
        self._assignment_changed = False
        self._aborts_in_a_row = 0
        self._lag_due = 0.0
        self.stats = {"records": 0, "deadlettered": 0, "deferred": 0, "aborted": 0, "transactions": 0}

    # --- lifecycle ------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish the record in hand, commit and leave (signal-safe)."""
        self._stopping = True

    def start(self) -> None:
        """Build the clients, join the group and init transactions.

        Raises:
            KafkaClientError: a client configuration is rejected.
            KafkaException: init_transactions failed.
        """
        overrides = {"partition.assignment.strategy": "cooperative-sticky", **self.config.consumer_overrides}
        if self.config.group_instance_id:
            overrides["group.instance.id"] = self.config.group_instance_id
        self.consumer = build_consumer(self.settings, self.config.group_id, read_committed=True, **overrides)
        self._new_producer()
        self.consumer.subscribe(self.config.topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_revoke)

    def run(self) -> None:
        """Start, loop until :meth:`stop`, then close. Raises WorkerFenced when fenced."""
        self.start()
        try:
            while not self._stopping:
                self.run_once()
        finally:
            self.close()

    def close(self) -> None:
        """Abort a transaction left open, leave the group, release the clients."""
        if self._in_txn and self.producer is not None:
            self._abort_quietly()
        if self.consumer is not None:
            self.consumer.close()
            self.consumer = None
        if self.producer is not None:
            self.producer.flush(_OP_TIMEOUT_S)
            self.producer = None

    def _new_producer(self) -> None:
        self.producer = build_producer(self.settings, transactional_id=self.config.transactional_id,
                                       **{"transaction.timeout.ms": self.config.transaction_timeout_ms})
        self.producer.init_transactions(_OP_TIMEOUT_S * 2)
        self._in_txn = False

    # --- rebalance callbacks (called inside consume(), between transactions) --------------

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self._assignment_changed = True
        self._lag_due = 0.0  # report the new partitions' lag at the next chance
        metrics.health.set_ready(True)
        self.log.info("assigned %s", _names(partitions))

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._deferred.pop((tp.topic, tp.partition), None)
        self.log.info("revoked %s", _names(partitions))

    # --- one iteration --------------------------------------------------------------------

    def run_once(self) -> int:
        """Consume one batch and process it in one transaction; returns records handled.

        Raises:
            WorkerFenced: a newer instance owns the transactional.id.
        """
        metrics.health.polled()
        self._maintain()
        msgs = self.consumer.consume(self.config.batch_size, self._poll_timeout())
        records = [m for m in msgs if not self._is_error(m)]
        if not records:
            return 0
        started = time.monotonic()
        try:
            batch = self._process(records)
            if batch.positions:
                self._ensure_txn()
                offsets = [TopicPartition(t, p, o) for (t, p), o in batch.positions.items()]
                self._retry(self.producer.send_offsets_to_transaction, offsets,
                            self.consumer.consumer_group_metadata(), _OP_TIMEOUT_S)
            if self._in_txn:
                self._retry(self.producer.commit_transaction, _OP_TIMEOUT_S)
                self._in_txn = False
                self.stats["transactions"] += 1
        except (KafkaException, TransientRecordError) as exc:
            self._recover(exc, records)
            self._aborts_in_a_row += 1
            time.sleep(min(_MAX_BACKOFF_S, 0.05 * 2 ** self._aborts_in_a_row))  # do not spin on a broken broker
            return 0
        self._aborts_in_a_row = 0
        self._after_commit(batch)
        metrics.BATCH_DURATION.labels(self.config.component).observe(time.monotonic() - started)
        return batch.handled

    def _process(self, records: list[Any]) -> _Batch:
        batch = _Batch()
        deadline = self._clock() + self.config.batch_max_s
        for msg in records:
            key = (msg.topic(), msg.partition())
            batch.first.setdefault(key, msg.offset())
            if key in batch.held or key in batch.deferred:
                continue  # keep the partition's order: nothing after a held record runs
            if self._stopping or self._clock() > deadline or (self.gate is not None and not self.gate.admits()):
                batch.held[key] = msg.offset()
                continue
            outcome = self._handle(msg, batch)
            if outcome.defer_until is not None:
                batch.deferred[key] = (msg.offset(), outcome.defer_until)
                continue
            for out in outcome.outputs:
                self._produce(out)
            batch.positions[key] = msg.offset() + 1
            batch.handled += 1
        return batch

    def _handle(self, msg: Any, batch: _Batch) -> Outcome:
        try:
            decoded = self.codec.decode(msg.value(), record_for_topic(msg.topic()))
            return self.handler.handle(msg, decoded.value)
        except CodecError as exc:
            if exc.reason in TRANSIENT_REASONS:
                raise TransientRecordError(str(exc)) from exc
            batch.deadlettered[exc.reason] = batch.deadlettered.get(exc.reason, 0) + 1
            return self._deadletter(msg, exc)
        except PoisonRecord as exc:
            batch.deadlettered["poison"] = batch.deadlettered.get("poison", 0) + 1
            return self._deadletter(msg, exc)

    def _deadletter(self, msg: Any, exc: Exception) -> Outcome:
        self.stats["deadlettered"] += 1
        self.log.warning("dead-lettering %s[%d]@%d: %s", msg.topic(), msg.partition(), msg.offset(), exc)
        topic, key, value, headers = deadletter_record(msg, exc)
        return Outcome((Out(topic, key, value, headers),))

    def _ensure_txn(self) -> None:
        if not self._in_txn:
            self.producer.begin_transaction()
            self._in_txn = True

    def _produce(self, out: Out) -> None:
        self._ensure_txn()
        for _ in range(100):
            try:
                self.producer.produce(out.topic, key=out.key, value=out.value, headers=out.headers)
                return
            except BufferError:
                self.producer.poll(0.1)  # the local queue is full: let deliveries drain
        raise KafkaException(KafkaError(KafkaError._QUEUE_FULL, "producer queue stays full"))

    def _retry(self, op: Callable[..., Any], *args: Any) -> Any:
        for attempt in range(_OP_RETRIES):
            try:
                return op(*args)
            except KafkaException as exc:
                err = exc.args[0]
                if not (isinstance(err, KafkaError) and err.retriable()) or attempt == _OP_RETRIES - 1:
                    raise
                self.log.warning("retrying %s after %s", getattr(op, "__name__", "op"), err)
        return None

    # --- after the transaction ------------------------------------------------------------

    def _after_commit(self, batch: _Batch) -> None:
        self.stats["records"] += batch.handled
        # Counted only once the transaction committed: an aborted batch is redone.
        metrics.PROCESSED.labels(self.config.component, self.config.stage).inc(batch.handled)
        for reason, count in batch.deadlettered.items():
            metrics.DEADLETTERED.labels(self.config.component, reason).inc(count)
        for (topic, partition), offset in batch.held.items():
            self._seek(TopicPartition(topic, partition, offset))
        for (topic, partition), (offset, until) in batch.deferred.items():
            tp = TopicPartition(topic, partition, offset)
            self.consumer.pause([tp])  # pause first, then seek (librdkafka#3471)
            self._seek(tp)
            self._deferred[(topic, partition)] = until
            self.stats["deferred"] += 1
        if self.gate is not None and self.gate.blocked_until() is not None and not self._paused_all:
            self._pause_all()

    def _pause_all(self) -> None:
        assignment = self.consumer.assignment()
        self.consumer.pause(assignment)
        self._paused_all, self._assignment_changed = True, False
        self.log.warning("gate closed: paused %d partitions until %.3f", len(assignment), self.gate.blocked_until())

    def _maintain(self) -> None:
        """Resume what is due: every partition when the gate admits again, a deferred
        partition when its time has come. Refresh the lag gauge now and then."""
        now = self._clock()
        if now >= self._lag_due:
            self._lag_due = now + self.config.lag_interval_s
            metrics.record_lag(self.config.component, self.consumer, self.consumer.assignment())
        if self._paused_all:
            if self.gate.admits():
                resume = [TopicPartition(t, p) for t, p in self._assigned() if (t, p) not in self._deferred]
                self.consumer.resume(resume)
                self._paused_all = False
                self.log.info("gate open again: resumed %d partitions", len(resume))
            elif self._assignment_changed:
                self._pause_all()
            return
        due = [key for key, until in self._deferred.items() if until <= now]
        if due:
            self.consumer.resume([TopicPartition(t, p) for t, p in due])
            for key in due:
                del self._deferred[key]

    def _poll_timeout(self) -> float:
        wake = [*self._deferred.values()]
        if self._paused_all and self.gate.blocked_until() is not None:
            wake.append(self.gate.blocked_until())
        if not wake:
            return self.config.poll_s
        return max(0.01, min(self.config.poll_s, min(wake) - self._clock()))

    def _assigned(self) -> list[TxnKey]:
        return [(tp.topic, tp.partition) for tp in self.consumer.assignment()]

    # --- failures -------------------------------------------------------------------------

    def _recover(self, exc: Exception, records: list[Any]) -> None:
        """Abort (or recreate the producer when fatal), then rewind the batch.

        Raises:
            WorkerFenced: the producer was fenced by a newer instance.
        """
        err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
        self.stats["aborted"] += 1
        if isinstance(err, KafkaError) and err.code() in _FENCED:
            self._in_txn = False
            raise WorkerFenced(f"transactional.id {self.config.transactional_id} was fenced by a newer instance "
                               f"(give each worker its own --instance-id): {err}") from exc
        if isinstance(err, KafkaError) and err.fatal():
            self.log.error("fatal producer error, recreating the producer: %s", err)
            self._new_producer()
        elif self._in_txn:
            self.log.warning("aborting the transaction: %s", exc)
            self._abort_quietly()
        self._rewind(records)

    def _abort_quietly(self) -> None:
        try:
            self.producer.abort_transaction(_OP_TIMEOUT_S)
        except KafkaException as exc:
            self.log.error("abort failed, recreating the producer: %s", exc)
            self._new_producer()
        self._in_txn = False

    def _rewind(self, records: list[Any]) -> None:
        """Seek every partition of ``records`` back to its last committed offset."""
        first: dict[TxnKey, int] = {}
        for msg in records:
            first.setdefault((msg.topic(), msg.partition()), msg.offset())
        committed = self.consumer.committed([TopicPartition(t, p) for t, p in first], _OP_TIMEOUT_S)
        for tp in committed:
            offset = tp.offset if tp.offset >= 0 else first[(tp.topic, tp.partition)]
            self._seek(TopicPartition(tp.topic, tp.partition, offset))

    def _seek(self, tp: TopicPartition) -> None:
        try:
            self.consumer.seek(tp)
        except KafkaException as exc:  # revoked meanwhile: its new owner starts from committed
            self.log.warning("cannot seek %s[%d] to %d: %s", tp.topic, tp.partition, tp.offset, exc)

    def _is_error(self, msg: Any) -> bool:
        err = msg.error()
        if err is None:
            return False
        if err.code() != KafkaError._PARTITION_EOF:
            self.log.warning("consume error on %s: %s", msg.topic(), err)
        return True


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"
