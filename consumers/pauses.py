"""Which partitions the loop paused, and why (DESIGN §5.4, §5.5).

librdkafka keeps an application's pause flag on a partition across a revoke and a
re-assign: a partition the loop paused and then lost (or got back) would stay paused
for good unless the loop resumes it. So:

- a partition is paused for a deferred retry until its time comes, or for the gate
  (circuit open) until the gate admits again;
- a partition that is revoked is resumed on the way out and forgotten;
- a partition that is assigned is resumed at the next :meth:`PauseBook.maintain` (after the
  assignment took effect), unless the gate is closed, which pauses it again.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

from confluent_kafka import KafkaException, TopicPartition

from consumers.outcome import Gate

TxnKey = tuple[str, int]


class PauseBook:
    """The loop's pause bookkeeping over one consumer."""

    def __init__(self, gate: Gate | None, clock: Callable[[], float],
                 logger: logging.Logger | logging.LoggerAdapter) -> None:
        self.gate, self._clock, self.log = gate, clock, logger
        self.deferred: dict[TxnKey, float] = {}  # partition -> when it is due
        self.paused_all = False
        self._fresh: set[TxnKey] = set()  # assigned since the last maintain()

    # --- rebalance callbacks ----------------------------------------------------------------

    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        """Remember newly assigned partitions: they are resumed (or paused for the gate)
        at the next :meth:`maintain`."""
        for tp in partitions:
            self._fresh.add((tp.topic, tp.partition))
            self.deferred.pop((tp.topic, tp.partition), None)

    def revoked(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        """Forget revoked partitions and clear their pause flag before they go."""
        for tp in partitions:
            self.deferred.pop((tp.topic, tp.partition), None)
            self._fresh.discard((tp.topic, tp.partition))
        self._resume(consumer, [TopicPartition(tp.topic, tp.partition) for tp in partitions])

    # --- pausing ----------------------------------------------------------------------------

    def defer(self, consumer: Any, tp: TopicPartition, until: float) -> None:
        """Pause ``tp`` until ``until`` (epoch seconds); the caller seeks it back."""
        consumer.pause([tp])
        self.deferred[(tp.topic, tp.partition)] = until

    def pause_all(self, consumer: Any) -> None:
        """The gate closed: pause every assigned partition until it admits again."""
        assignment = consumer.assignment()
        consumer.pause(assignment)
        self.paused_all = True
        self.log.warning("gate closed: paused %d partitions until %.3f", len(assignment),
                         self.gate.blocked_until() or 0.0)

    def maintain(self, consumer: Any) -> None:
        """Resume what is due: fresh partitions, every partition when the gate admits
        again, a deferred partition when its time has come."""
        assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        fresh, self._fresh = self._fresh & assigned, set()
        if self.paused_all:
            if self.gate is not None and self.gate.admits():
                resume = [TopicPartition(t, p) for t, p in sorted(assigned) if (t, p) not in self.deferred]
                self._resume(consumer, resume)
                self.paused_all = False
                self.log.info("gate open again: resumed %d partitions", len(resume))
            elif fresh:
                consumer.pause([TopicPartition(t, p) for t, p in sorted(fresh)])
            return
        now = self._clock()
        due = sorted(key for key, until in self.deferred.items() if until <= now)
        for key in due:
            del self.deferred[key]
        resume = sorted((fresh - set(self.deferred)) | set(due))
        if resume:
            self._resume(consumer, [TopicPartition(t, p) for t, p in resume])

    def wake_at(self) -> float | None:
        """The earliest time something paused becomes due, or None."""
        wake = list(self.deferred.values())
        if self.paused_all and self.gate is not None and self.gate.blocked_until() is not None:
            wake.append(self.gate.blocked_until())
        return min(wake) if wake else None

    def _resume(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        if not partitions:
            return
        try:
            consumer.resume(partitions)
        except KafkaException as exc:  # not (or no longer) assigned: nothing stays paused
            self.log.warning("cannot resume %d partitions: %s", len(partitions), exc)
