"""What one consumed batch becomes before anything is produced (DESIGN §5.2, §5.8).

:class:`BatchRunner` takes the records of one ``consume()`` and decides, in order, what
happens to each:

- **admission**: a partition's order is kept (nothing after a held or deferred record of
  the same partition runs); a stop request, the batch deadline or a closed gate holds the
  rest; a half-open gate admits one probe; a record whose ``not_before`` (asked of the
  handler before it runs) is in the future defers its partition;
- **decoding**: an undecodable record becomes a dead letter (a transient codec failure
  aborts the batch instead);
- **handling**: the admitted records go to the handler together
  (``handle_batch``) — or one by one (``handle``) for handlers without it, re-checking
  admission between records (also when the handler says ``batched`` is False);
  one :class:`Outcome` per record;
- **isolation**: a record the handler cannot process (``PoisonRecord``, an output that
  does not encode, any unexpected exception) is dead-lettered with its reason, alone; a
  record whose outputs exceed the producer's ``message.max.bytes`` too. A batch handler
  that raises for the whole batch is re-run record by record so the culprit is found.
  Kafka errors and :class:`TransientRecordError` abort the batch (the loop rewinds).

The loop produces the :class:`Batch`'s entries in order inside one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from confluent_kafka import KafkaException

from consumers.deadletter import deadletter_record
from consumers.outcome import Gate, Handler, Out, Outcome, PoisonRecord, TransientRecordError
from wavestream.codec import TRANSIENT_REASONS, AvroCodec, record_for_topic
from wavestream.exceptions import CodecError

TxnKey = tuple[str, int]
RecordKey = tuple[str, int, int]
#: Bytes a record needs beyond key, value and headers (batch and record framing).
_RECORD_OVERHEAD = 512


@dataclass
class Entry:
    """One admitted record: its decoded value and, once decided, its outcome."""

    msg: Any
    value: dict[str, Any] | None = None
    outcome: Outcome | None = None  # None: not run (the partition is held from here)
    reason: str | None = None  # dead-letter reason, for the metrics

    @property
    def key(self) -> TxnKey:
        return (self.msg.topic(), self.msg.partition())


@dataclass
class Batch:
    """The decisions for one consumed batch: what to produce and where each partition stands."""

    entries: list[Entry] = field(default_factory=list)
    positions: dict[TxnKey, int] = field(default_factory=dict)  # next offset to commit
    held: dict[TxnKey, int] = field(default_factory=dict)  # first offset not handled
    deferred: dict[TxnKey, tuple[int, float]] = field(default_factory=dict)  # offset, due time
    handled: int = 0
    deadlettered: dict[str, int] = field(default_factory=dict)  # reason -> count

    def blocked(self, key: TxnKey, offset: int) -> bool:
        """Whether the record at ``offset`` comes after a held or deferred one."""
        if key in self.held and offset >= self.held[key]:
            return True
        return key in self.deferred and offset >= self.deferred[key][0]

    def to_produce(self) -> list[Entry]:
        """The entries to produce, in order; records positions, holds and deferrals."""
        out: list[Entry] = []
        for entry in self.entries:
            key, offset = entry.key, entry.msg.offset()
            if self.blocked(key, offset):
                continue
            if entry.outcome is None:
                self.held[key] = offset
                continue
            if entry.outcome.defer_until is not None:
                self.deferred[key] = (offset, entry.outcome.defer_until)
                continue
            if entry.reason is not None:
                self.deadlettered[entry.reason] = self.deadlettered.get(entry.reason, 0) + 1
            self.positions[key] = offset + 1
            self.handled += 1
            out.append(entry)
        return out


class BatchRunner:
    """Admits, decodes and hands one batch to the handler (see the module docstring)."""

    def __init__(self, handler: Handler, codec: AvroCodec, gate: Gate | None, clock: Callable[[], float],
                 logger: logging.Logger | logging.LoggerAdapter, max_message_bytes: int = 1_000_000) -> None:
        self.handler, self.codec, self.gate, self._clock, self.log = handler, codec, gate, clock, logger
        self.max_message_bytes = max_message_bytes
        #: Records whose outputs a producer refused (too large): dead-lettered when redone.
        self.poisoned: dict[RecordKey, str] = {}
        self.deadlettered_total = 0

    # --- admission ------------------------------------------------------------------------

    def run(self, records: Sequence[Any], deadline: float, stopping: Callable[[], bool]) -> Batch:
        """Decide every record of one consumed batch.

        Raises:
            TransientRecordError: a record may decode later (abort and retry the batch).
            KafkaException: the handler hit a Kafka error (abort and retry the batch).
        """
        batch = Batch()
        probe = self.gate is not None and getattr(self.gate, "probing", lambda: False)()
        admitted = 0
        for msg in records:
            key = (msg.topic(), msg.partition())
            if key in batch.held or key in batch.deferred:
                continue  # keep the partition's order: nothing after a held record runs
            if self._must_hold(deadline, stopping) or (probe and admitted >= 1):
                batch.held[key] = msg.offset()
                continue
            entry = self._admit(msg, batch)
            if entry is not None:
                batch.entries.append(entry)
                admitted += entry.outcome is None
        self._handle(batch, deadline, stopping)
        return batch

    def _must_hold(self, deadline: float, stopping: Callable[[], bool]) -> bool:
        return stopping() or self._clock() > deadline or (self.gate is not None and not self.gate.admits())

    def _admit(self, msg: Any, batch: Batch) -> Entry | None:
        """An entry for ``msg`` (decided already when it is a dead letter), or None when
        its partition is deferred from here."""
        poisoned = self.poisoned.pop((msg.topic(), msg.partition(), msg.offset()), None)
        if poisoned is not None:
            return self._deadletter(msg, PoisonRecord(poisoned), "output_too_large")
        try:
            value = self.codec.decode(msg.value(), record_for_topic(msg.topic())).value
        except CodecError as exc:
            if exc.reason in TRANSIENT_REASONS:
                raise TransientRecordError(str(exc)) from exc
            return self._deadletter(msg, exc, exc.reason)
        not_before = getattr(self.handler, "not_before", None)
        until = not_before(value) if not_before is not None else None
        if until is not None and until > self._clock():
            batch.deferred[(msg.topic(), msg.partition())] = (msg.offset(), until)
            return None
        return Entry(msg, value)

    # --- handling -------------------------------------------------------------------------

    def _handle(self, batch: Batch, deadline: float, stopping: Callable[[], bool]) -> None:
        pending = [e for e in batch.entries if e.outcome is None]
        if not pending:
            return
        if getattr(self.handler, "batched", hasattr(self.handler, "handle_batch")):
            self._handle_together(pending)
        else:
            self._handle_each(pending, batch, deadline, stopping)

    def _handle_together(self, pending: list[Entry]) -> None:
        try:
            results = list(self.handler.handle_batch([(e.msg, e.value) for e in pending]))
            if len(results) != len(pending):
                raise RuntimeError(f"handle_batch returned {len(results)} outcomes for {len(pending)} records")
        except (KafkaException, TransientRecordError):
            raise
        except Exception as exc:  # noqa: BLE001 - isolate the record that breaks the batch
            if len(pending) == 1:
                results = [exc]
            else:
                self.log.warning("handler failed on a batch of %d (%s): handling record by record",
                                 len(pending), exc)
                for entry in pending:
                    self._handle_together([entry])
                return
        for entry, result in zip(pending, results):
            self._settle(entry, result)

    def _handle_each(self, pending: list[Entry], batch: Batch, deadline: float,
                     stopping: Callable[[], bool]) -> None:
        for entry in pending:
            if batch.blocked(entry.key, entry.msg.offset()):
                continue
            if self._must_hold(deadline, stopping):
                batch.held[entry.key] = entry.msg.offset()
                continue
            try:
                result: Outcome | BaseException = self.handler.handle(entry.msg, entry.value)
            except (KafkaException, TransientRecordError):
                raise
            except Exception as exc:  # noqa: BLE001 - routed to the dead-letter topic in _settle
                result = exc
            self._settle(entry, result)
            if entry.outcome is not None and entry.outcome.defer_until is not None:
                batch.deferred[entry.key] = (entry.msg.offset(), entry.outcome.defer_until)

    def _settle(self, entry: Entry, result: Outcome | BaseException) -> None:
        """Set the entry's outcome from the handler's result (an exception dead-letters)."""
        if isinstance(result, (KafkaException, TransientRecordError)):
            raise result
        if isinstance(result, BaseException):
            reason = result.reason if isinstance(result, CodecError) else (
                "poison" if isinstance(result, PoisonRecord) else "handler_error")
            if reason == "handler_error":
                self.log.error("handler failed on %s[%d]@%d: %s: %s", entry.msg.topic(), entry.msg.partition(),
                               entry.msg.offset(), type(result).__name__, result, exc_info=result)
            done = self._deadletter(entry.msg, result, reason)
            entry.outcome, entry.reason = done.outcome, done.reason
            return
        too_large = self._oversized(result)
        if too_large is not None:
            done = self._deadletter(entry.msg, PoisonRecord(too_large), "output_too_large")
            entry.outcome, entry.reason = done.outcome, done.reason
            return
        entry.outcome = result

    def _oversized(self, outcome: Outcome) -> str | None:
        """Why ``outcome`` cannot be produced (an output over ``message.max.bytes``), or None."""
        for out in outcome.outputs:
            size = _size(out)
            if size > self.max_message_bytes:
                return (f"an output to {out.topic} has {size} bytes, more than message.max.bytes="
                        f"{self.max_message_bytes}")
        return None

    def _deadletter(self, msg: Any, exc: BaseException, reason: str) -> Entry:
        self.deadlettered_total += 1
        self.log.warning("dead-lettering %s[%d]@%d (%s): %s", msg.topic(), msg.partition(), msg.offset(), reason, exc)
        topic, key, value, headers = deadletter_record(msg, exc)
        headers = [h for h in headers if h[0] != "error.reason"] + [("error.reason", reason.encode("utf-8"))]
        out = Out(topic, key, value, headers)
        if _size(out) > self.max_message_bytes:  # keep why and where from, drop the bytes
            out = Out(topic, key, None, headers + [("value.dropped", str(len(value or b"")).encode())])
        return Entry(msg, outcome=Outcome((out,)), reason=reason)


def _size(out: Out) -> int:
    key = out.key.encode("utf-8") if isinstance(out.key, str) else (out.key or b"")
    headers = sum(len(k) + len(v or b"") for k, v in (out.headers or []))
    return len(key) + len(out.value or b"") + headers + _RECORD_OVERHEAD
