"""The projector's settings and its counters."""

from __future__ import annotations

from dataclasses import dataclass, field

from projector.pgschema import DEFAULT_SCHEMA
from projector.repository import BULK_THRESHOLD
from wavestream.topics import EVENTS


@dataclass(frozen=True)
class ProjectorOptions:
    schema: str = DEFAULT_SCHEMA
    group_id: str = "wavestream-projector"
    topic: str = EVENTS
    instance_id: str | None = None
    batch_size: int = 500
    batch_timeout_s: float = 1.0
    bulk_threshold: int = BULK_THRESHOLD
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 10.0
    #: Stop once every partition is applied up to its high-water mark at start.
    until_caught_up: bool = False
    progress_every_s: float = 10.0
    #: Serve Prometheus metrics on this port (None: no server; metrics still counted).
    metrics_port: int | None = None


@dataclass
class ProjectorStats:
    batches: int = 0
    applied: int = 0
    duplicates: int = 0
    errors: int = 0
    skipped: int = 0
    reseeks: int = 0
    outages: int = 0
    positions: dict[int, int] = field(default_factory=dict)
