"""What a handler hands the transactional loop, and the errors that steer it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from wavestream.exceptions import WavestreamError


@dataclass(frozen=True)
class Out:
    """One record to produce inside the transaction."""

    topic: str
    key: str | bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None


@dataclass(frozen=True)
class Outcome:
    """What handling a record produced; ``defer_until`` (epoch seconds) means "not yet":
    nothing is produced and the record is consumed again when due."""

    outputs: tuple[Out, ...] = ()
    defer_until: float | None = None


class PoisonRecord(WavestreamError):
    """A decodable record the handler can never process (e.g. sent to the wrong stage):
    it goes to the dead-letter topic."""


class WorkerFenced(WavestreamError):
    """A newer instance with the same transactional.id took over: this one must stop."""


class ConsumerFatal(WavestreamError):
    """The consumer hit a fatal error (e.g. FENCED_INSTANCE_ID with static membership):
    the process must stop."""


class TransientRecordError(WavestreamError):
    """The record may decode later (e.g. the schema registry is down): abort and retry."""


class Handler(Protocol):
    """What the transactional loop runs (see consumers.batching).

    A handler may also offer ``handle_batch(items) -> list[Outcome | Exception]`` (all
    admitted records of a batch together, one result per ``(msg, value)`` in order; an
    exception dead-letters its record alone) and ``not_before(value) -> float | None``
    (a record that must wait until then defers its partition before anything runs).
    """

    def handle(self, msg: Any, value: dict[str, Any]) -> Outcome:
        """Raises PoisonRecord or CodecError for a record to dead-letter (any other
        exception dead-letters it too, as ``handler_error``); KafkaException or
        TransientRecordError aborts the transaction."""
        ...


class Gate(Protocol):
    """A circuit breaker as the loop sees it; ``probing()`` (optional) says that only one
    record may run (half-open)."""

    def admits(self) -> bool: ...

    def blocked_until(self) -> float | None: ...
