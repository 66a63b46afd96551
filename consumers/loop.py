"""The exactly-once loop shared by stage workers, the ingest router and the command
processor (DESIGN §5).

Each iteration consumes up to ``batch_size`` records (read_committed, no auto commit,
incremental rebalancing: the KIP-848 consumer protocol by default, see
:mod:`consumers.groups`), decides them with a :class:`~consumers.batching.BatchRunner`
(admission, decoding, the handler — all admitted records together when it has
``handle_batch`` — and dead letters), produces the outcomes in the records' order inside
one transaction, then sends the consumed positions with the consumer's group metadata
(KIP-447) and commits. A batch is bounded by count and by time.

- Abortable errors abort the transaction and rewind every partition of the batch to
  its last committed offset; fatal errors recreate the producer (same
  ``transactional.id``, which aborts the open transaction) and rewind too. A fencing
  error on a transaction that ran past ``transaction.timeout.ms`` is the broker's
  timeout, not a newer instance: the producer is recreated and the batch redone. Any
  other fencing stops the loop (:class:`WorkerFenced`).
- An outcome deferred until a future time (a retry's ``not_before``) pauses only its
  partition, rewinds it to that record, and resumes it when due.
- A ``gate`` (the circuit breaker) that stops admitting records holds the rest of the
  batch and pauses every assigned partition until it admits again.
- A partition the loop paused is resumed when it is revoked or assigned again
  (:class:`~consumers.pauses.PauseBook`): librdkafka keeps the pause flag across a rebalance.
- A fatal consumer error (e.g. a static member fenced by another with the same
  ``group.instance.id``) stops the loop with :class:`ConsumerFatal`.
- :meth:`stop` (SIGTERM) finishes the batch in hand, commits what was done, and leaves
  the group; rebalances happen only inside ``consume()``, between transactions.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from consumers.batching import Batch, BatchRunner
from consumers.groups import group_overrides
from consumers.kafkacalls import OP_TIMEOUT_S as _OP_TIMEOUT_S, bounded, unreleased_instance
from consumers.outcome import ConsumerFatal, Gate, Handler, Out, TransientRecordError, WorkerFenced
from consumers.pauses import PauseBook
from wavestream import metrics
from wavestream.clients import build_consumer, build_producer
from wavestream.codec import AvroCodec
from wavestream.config import KafkaSettings

log = logging.getLogger(__name__)
TxnKey = tuple[str, int]
_FENCED = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}
_OP_RETRIES = 5
_MAX_BACKOFF_S = 5.0
_UNRELEASED_WAIT_S = 5.0
_UNRELEASED_RETRIES = 60  # five minutes: longer than any sane session timeout


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
    #: How long one batch may take to handle; max.poll.interval.ms is derived from it.
    max_poll_interval_ms: int | None = None
    consumer_overrides: Mapping[str, Any] = field(default_factory=dict)
    #: ``range`` balances each topic on its own (stage + retry topics); see consumers.groups.
    assignor: str = "uniform"
    component: str = "worker"  # metrics labels: which process kind, and its stage (if any)
    stage: str = ""
    lag_interval_s: float = 5.0


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
        self._txn_started = 0.0
        self._aborts_in_a_row = 0
        self._lag_due = 0.0
        self._unreleased_retries = 0
        self.pauses = PauseBook(gate, clock, self.log)
        max_bytes = int(settings.client.get("message.max.bytes", 1_000_000))
        self.runner = BatchRunner(handler, codec, gate, clock, self.log, max_message_bytes=max_bytes)
        self.stats = {"records": 0, "deadlettered": 0, "deferred": 0, "aborted": 0, "transactions": 0}

    # --- lifecycle ------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, commit and leave (signal-safe)."""
        self._stopping = True

    @property
    def stopping(self) -> bool:
        return self._stopping

    def start(self) -> None:
        """Build the clients, join the group and init transactions.

        Raises:
            KafkaClientError: a client configuration is rejected.
            KafkaException: init_transactions failed.
        """
        self._new_consumer()
        self._new_producer()

    def _new_consumer(self) -> None:
        overrides = group_overrides(self.settings, self.config.assignor, self.config.max_poll_interval_ms)
        overrides.update(self.config.consumer_overrides)
        if self.config.group_instance_id:
            overrides["group.instance.id"] = self.config.group_instance_id
        self.consumer = build_consumer(self.settings, self.config.group_id, read_committed=True, **overrides)
        self.consumer.subscribe(self.config.topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_revoke)
        self.pauses = PauseBook(self.gate, self._clock, self.log)

    def run(self) -> None:
        """Start, loop until :meth:`stop`, then close.

        Raises:
            WorkerFenced: a newer instance owns the transactional.id.
            ConsumerFatal: the consumer hit a fatal error.
        """
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
        self.pauses.assigned(partitions)
        self._lag_due = 0.0  # report the new partitions' lag at the next chance
        metrics.health.set_ready(True)
        self.log.info("assigned %s", _names(partitions))

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.pauses.revoked(consumer, partitions)
        self.log.info("revoked %s", _names(partitions))

    # --- one iteration --------------------------------------------------------------------

    def run_once(self) -> int:
        """Consume one batch and process it in one transaction; returns records handled.

        Raises:
            WorkerFenced: a newer instance owns the transactional.id.
            ConsumerFatal: the consumer hit a fatal error.
        """
        metrics.health.polled()
        self._maintain()
        msgs = self.consumer.consume(self.config.batch_size, self._poll_timeout())
        records = [m for m in msgs if not self._is_error(m)]
        if not records:
            return 0
        started = time.monotonic()
        try:
            batch = self.runner.run(records, self._clock() + self.config.batch_max_s, lambda: self._stopping,
                                    sink=self._produce_entry)
            for entry in batch.to_produce():
                self._produce_entry(entry)
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

    def _ensure_txn(self) -> None:
        if not self._in_txn:
            self.producer.begin_transaction()
            self._in_txn, self._txn_started = True, time.monotonic()

    def _produce_entry(self, entry: Any) -> None:
        for out in entry.outcome.outputs:
            self._produce(out, entry.msg)

    def _produce(self, out: Out, source: Any) -> None:
        """Produce ``out`` in the transaction. A record the producer refuses for its size
        marks ``source`` to be dead-lettered when the batch is redone.

        Raises:
            KafkaException: the producer failed (the batch is aborted).
        """
        self._ensure_txn()
        for _ in range(100):
            try:
                self.producer.produce(out.topic, key=out.key, value=out.value, headers=out.headers)
                return
            except BufferError:
                self.producer.poll(0.1)  # the local queue is full: let deliveries drain
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if isinstance(err, KafkaError) and err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
                    self.runner.poisoned[(source.topic(), source.partition(), source.offset())] = (
                        f"an output to {out.topic} was refused by the producer: {err.str()}")
                raise
        raise KafkaException(KafkaError(KafkaError._QUEUE_FULL, "producer queue stays full"))

    def _retry(self, op: Callable[..., Any], *args: Any) -> Any:
        for attempt in range(_OP_RETRIES):
            try:
                return bounded(op, *args)
            except KafkaException as exc:
                err = exc.args[0]
                if not (isinstance(err, KafkaError) and err.retriable()) or attempt == _OP_RETRIES - 1:
                    raise
                self.log.warning("retrying %s after %s", getattr(op, "__name__", "op"), err)
        return None

    # --- after the transaction ------------------------------------------------------------

    def _after_commit(self, batch: Batch) -> None:
        self.stats["records"] += batch.handled
        self.stats["deadlettered"] += sum(batch.deadlettered.values())
        # Counted only once the transaction committed: an aborted batch is redone.
        metrics.PROCESSED.labels(self.config.component, self.config.stage).inc(batch.handled)
        for reason, count in batch.deadlettered.items():
            metrics.DEADLETTERED.labels(self.config.component, reason).inc(count)
        for (topic, partition), offset in batch.held.items():
            self._seek(TopicPartition(topic, partition, offset))
        for (topic, partition), (offset, until) in batch.deferred.items():
            tp = TopicPartition(topic, partition, offset)
            self.pauses.defer(self.consumer, tp, until)  # pause first, then seek (librdkafka#3471)
            self._seek(tp)
            self.stats["deferred"] += 1
        if self.gate is not None and self.gate.blocked_until() is not None and not self.pauses.paused_all:
            self.pauses.pause_all(self.consumer)

    def _maintain(self) -> None:
        """Resume what is due (see PauseBook.maintain); refresh the lag gauge now and then."""
        now = self._clock()
        if now >= self._lag_due:
            self._lag_due = now + self.config.lag_interval_s
            metrics.record_lag(self.config.component, self.consumer, self.consumer.assignment())
        self.pauses.maintain(self.consumer)

    def _poll_timeout(self) -> float:
        wake = self.pauses.wake_at()
        if wake is None:
            return self.config.poll_s
        return max(0.01, min(self.config.poll_s, wake - self._clock()))

    # --- failures -------------------------------------------------------------------------

    def _recover(self, exc: Exception, records: list[Any]) -> None:
        """Abort (or recreate the producer when fatal), then rewind the batch.

        Raises:
            WorkerFenced: the producer was fenced by a newer instance.
        """
        err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
        self.stats["aborted"] += 1
        if isinstance(err, KafkaError) and err.code() in _FENCED:
            elapsed_ms = (time.monotonic() - self._txn_started) * 1000 if self._in_txn else 0.0
            if elapsed_ms < self.config.transaction_timeout_ms:
                self._in_txn = False
                raise WorkerFenced(f"transactional.id {self.config.transactional_id} was fenced by a newer instance "
                                   f"(give each worker its own --instance-id): {err}") from exc
            self.log.error("the transaction ran %.0f ms, past transaction.timeout.ms=%d: the broker aborted it; "
                           "recreating the producer and redoing the batch (%s)", elapsed_ms,
                           self.config.transaction_timeout_ms, err)
            self._new_producer()
        elif isinstance(err, KafkaError) and err.fatal():
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
        """Seek every partition of ``records`` back to its last committed offset (the
        batch's first offset of a partition when the committed offsets cannot be read:
        a batch starts where the previous one committed or was rewound to)."""
        first: dict[TxnKey, int] = {}
        for msg in records:
            first.setdefault((msg.topic(), msg.partition()), msg.offset())
        try:
            committed = self.consumer.committed([TopicPartition(t, p) for t, p in first], _OP_TIMEOUT_S)
        except KafkaException as exc:
            self.log.warning("cannot read committed offsets (%s): rewinding to the batch's first records", exc)
            committed = [TopicPartition(t, p, -1) for t, p in first]
        for tp in committed:
            offset = tp.offset if tp.offset >= 0 else first[(tp.topic, tp.partition)]
            self._seek(TopicPartition(tp.topic, tp.partition, offset))

    def _seek(self, tp: TopicPartition) -> None:
        try:
            self.consumer.seek(tp)
        except KafkaException as exc:  # revoked meanwhile: its new owner starts from committed
            self.log.warning("cannot seek %s[%d] to %d: %s", tp.topic, tp.partition, tp.offset, exc)

    def _is_error(self, msg: Any) -> bool:
        """Whether ``msg`` is an error event (not a record).

        Raises:
            ConsumerFatal: a fatal consumer error (e.g. FENCED_INSTANCE_ID): the
                consumer cannot go on.
        """
        err = msg.error()
        if err is None:
            return False
        if unreleased_instance(err) and self._unreleased_retries < _UNRELEASED_RETRIES:
            # A static member restarted after a crash: the broker keeps its instance id
            # until the old member's session times out. Join again after a pause.
            self._unreleased_retries += 1
            self.log.warning("group.instance.id %s is still held by the previous member (%s); joining again in "
                             "%.0f s", self.config.group_instance_id, err.str(), _UNRELEASED_WAIT_S)
            self.consumer.close()
            time.sleep(_UNRELEASED_WAIT_S)
            self._new_consumer()
            return True
        if err.fatal() or err.code() == KafkaError._FATAL:
            raise ConsumerFatal(f"fatal consumer error in group {self.config.group_id}: {err.str()} "
                                f"(a static member with the same group.instance.id joined elsewhere? give each "
                                f"worker its own --instance-id)")
        if err.code() != KafkaError._PARTITION_EOF:
            self.log.warning("consume error on %s: %s", msg.topic(), err)
        return True


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"
