"""The embedded stack as one unit: ``up``, ``down``, ``status`` and ``env``; Kafka is
one node or, after ``up --brokers N``, a cluster of N nodes."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from wavestream.config import StackSettings, redact_dsn
from wavestream.stack.kafka import EmbeddedKafka
from wavestream.stack.postgres import EmbeddedPostgres
from wavestream.stack.process import ensure_port_free

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeStatus:
    name: str  # "kafka" for a single node, else "kafka-<node id>"
    running: bool
    address: str
    pid: int | None


@dataclass(frozen=True)
class StackStatus:
    kafka_running: bool  # every Kafka node runs
    postgres_running: bool
    bootstrap_servers: str  # every node, comma-separated
    postgres_dsn: str  # password masked
    kafka_version: str | None
    postgres_version: str | None
    data_dir: Path
    kafka_nodes: tuple[NodeStatus, ...] = ()

    def lines(self) -> list[str]:
        def state(running: bool) -> str:
            return "running" if running else "stopped"

        kafka = [f"{n.name:9} {state(n.running):8} {n.address}  (Kafka {self.kafka_version or '?'})"
                 for n in self.kafka_nodes]
        return [
            *kafka,
            f"postgres  {state(self.postgres_running):8} {self.postgres_dsn}  (PostgreSQL {self.postgres_version or '?'})",
            f"data      {self.data_dir}",
        ]


def state_file(settings: StackSettings) -> Path:
    """Where ``up`` records what it started and where it listens."""
    return settings.data_dir / "stack.json"


class Stack:
    """Both embedded services; ``down`` stops only the processes ``up`` recorded."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.kafka = EmbeddedKafka(settings)
        self.postgres = EmbeddedPostgres(settings)
        self._state_file = state_file(settings)

    def up(self) -> StackStatus:
        """Start whatever is not running yet; a second ``up`` is a no-op.

        Raises:
            PortInUse: a port is taken (checked for both services before either starts).
            MissingTool, StackError: a service could not start; anything this call
                started is stopped again before the error propagates.
        """
        self._preflight()
        started = []
        t0 = time.monotonic()
        try:
            if not self.postgres.is_running():
                self.postgres.start()
                started.append(self.postgres)
            if not self.kafka.is_running():
                self.kafka.start()
                started.append(self.kafka)
        except BaseException:
            for service in reversed(started):
                service.stop()
            raise
        status = self.status()
        self._write_state(status, time.monotonic() - t0)
        return status

    def down(self) -> list[str]:
        """Stop the services this stack started (every Kafka node). Returns the names
        of those stopped."""
        stopped = self.kafka.stop()
        if self.postgres.stop():
            stopped.append("postgres")
        self._state_file.unlink(missing_ok=True)
        return stopped

    def status(self) -> StackStatus:
        pg_running = self.postgres.is_running()
        kafka_running = self.kafka.is_running()
        return StackStatus(
            kafka_running=kafka_running,
            postgres_running=pg_running,
            bootstrap_servers=self.kafka.bootstrap_servers,
            postgres_dsn=redact_dsn(self.postgres.dsn()) if pg_running else f"{self.settings.host}:{self.settings.pg_port}",
            kafka_version=self.kafka.version(),
            postgres_version=self.postgres.version() if pg_running else None,
            data_dir=self.settings.data_dir,
            kafka_nodes=tuple(NodeStatus(n.name, n.is_running(), n.bootstrap_servers, n.pid())
                              for n in self.kafka.nodes),
        )

    def env(self) -> dict[str, str]:
        """The ``WAVESTREAM_*`` settings that point every command at this stack."""
        return {
            "WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "WAVESTREAM_PG_DSN": self.postgres.dsn(),
        }

    def _preflight(self) -> None:
        s = self.settings
        self.kafka.check_layout()
        for node in self.kafka.nodes:
            if not node.is_running():
                node.preflight()
        if not self.postgres.is_running():
            ensure_port_free(s.host, s.pg_port, "PostgreSQL")

    def _write_state(self, status: StackStatus, seconds: float) -> None:
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "bootstrap_servers": status.bootstrap_servers,
            "postgres": status.postgres_dsn,
            "kafka_version": status.kafka_version,
            "postgres_version": status.postgres_version,
            "kafka_pids": self.kafka.pids(),
            # Where it listens, so commands run without the same WAVESTREAM_STACK_*
            # settings still find it (wavestream.stack.locate).
            "host": self.settings.host,
            "kafka_port": self.settings.kafka_port,
            "controller_port": self.settings.controller_port,
            "pg_port": self.settings.pg_port,
            "up_seconds": round(seconds, 2),
        }
        self._state_file.write_text(json.dumps(state, indent=2) + "\n")
        log.info("stack up in %.1fs: %s", seconds, state)
