"""Prometheus metrics of the projector (served on ``/metrics`` with ``--metrics-port``).

Each :class:`ProjectorMetrics` has its own registry, so several projectors in one
process (tests) do not collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from projector.repository import ApplyResult
from wavestream.metrics import metrics_host, serve


class ProjectorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter("wavestream_projector_events", "Records handled, by outcome",
                              ["outcome"], registry=self.registry)
        self.batches = Counter("wavestream_projector_batches", "Batch transactions committed",
                               registry=self.registry)
        self.batch_seconds = Histogram("wavestream_projector_batch_seconds", "Duration of one batch transaction",
                                       registry=self.registry,
                                       buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.outages = Counter("wavestream_projector_postgres_outages",
                               "Batches redone after a transient PostgreSQL error (outage, lock timeout, deadlock, ...)",
                               registry=self.registry)
        self.reseeks = Counter("wavestream_projector_reseeks", "Re-seeks to the stored offsets",
                               registry=self.registry)
        self.position = Gauge("wavestream_projector_next_offset", "Next offset stored per partition",
                              ["partition"], registry=self.registry)
        self.lag = Gauge("wavestream_projector_consumer_lag", "High-water mark minus stored offset",
                         ["partition"], registry=self.registry)

    def serve(self, port: int, addr: str | None = None) -> int | None:
        """Serve this registry's ``/metrics`` with the ``/healthz`` and ``/readyz`` probes;
        ``addr`` defaults to ``WAVESTREAM_METRICS_HOST`` (loopback unless configured)."""
        return serve(port, addr=metrics_host() if addr is None else addr, registry=self.registry)

    def batch(self, result: ApplyResult, seconds: float) -> None:
        self.batches.inc()
        self.batch_seconds.observe(seconds)
        for outcome, count in (("applied", result.applied), ("duplicate", result.duplicates),
                               ("error", result.errors), ("skipped", result.skipped)):
            if count:
                self.events.labels(outcome).inc(count)
        for partition, offset in result.positions.items():
            self.position.labels(str(partition)).set(offset)
