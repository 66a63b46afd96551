"""A per-actor circuit breaker (DESIGN §5.5).

Closed: every record runs; ``threshold`` consecutive retryable failures open it.
Open: nothing runs until ``open_timeout_s`` has passed (the loop pauses every assigned
partition, so work waits instead of failing). Half-open: one probe runs; success closes
the circuit, a retryable failure opens it again for another timeout.

Only failures of the actor itself count (``ActorError.counts_toward_circuit``: the
retryable errors other than a contract break): a permanent failure or an output that
broke its contract is a bad input or output, not a broken dependency, so it counts as a
working actor.
"""

from __future__ import annotations

import time
from typing import Callable

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


class CircuitBreaker:
    """State machine only; the stage handler emits the events and the loop pauses."""

    def __init__(self, threshold: int, open_timeout_s: float, clock: Callable[[], float] = time.time) -> None:
        self.threshold = max(1, int(threshold))
        self.open_timeout_s = float(open_timeout_s)
        self._clock = clock
        self.state = CLOSED
        self.failures = 0
        self.open_until = 0.0

    def admits(self) -> bool:
        """Whether a record may run now; moves open -> half-open once the timeout passed."""
        if self.state == OPEN and self._clock() >= self.open_until:
            self.state = HALF_OPEN
        return self.state != OPEN

    def probing(self) -> bool:
        """Whether only a probe may run now (half-open): the loop admits one record."""
        return self.admits() and self.state == HALF_OPEN

    def blocked_until(self) -> float | None:
        """When an open circuit allows a probe (epoch seconds); None unless open."""
        return self.open_until if self.state == OPEN else None

    def record_success(self) -> bool:
        """Count a working call. Returns True when this closed a half-open circuit."""
        was_half_open = self.state == HALF_OPEN
        self.state, self.failures = CLOSED, 0
        return was_half_open

    def record_failure(self) -> bool:
        """Count a retryable failure. Returns True when this opened the circuit (the
        threshold was reached, or a half-open probe failed)."""
        self.failures += 1
        if self.state == HALF_OPEN or (self.state == CLOSED and self.failures >= self.threshold):
            self.state = OPEN
            self.open_until = self._clock() + self.open_timeout_s
            return True
        return False
