"""One KRaft Kafka node (combined broker + controller) of the embedded cluster.

Node *i* of *n* has ``node.id`` *i*, listens on ``kafka_port + 2(i-1)`` (clients) and
``controller_port + 2(i-1)`` (controller quorum), and keeps its files under
``<stack dir>/kafka`` (node 1) or ``<stack dir>/kafka-<i>``. Internal topics
(consumer offsets, transaction state) are replicated to ``min(3, n)`` nodes with
``min.insync.replicas`` 2 once there are three, so one node may fail.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from wavestream.config import StackSettings
from wavestream.stack.exceptions import StackError
from wavestream.topics import default_replication
from wavestream.stack.process import ensure_port_free, port_in_use, read_pid, stop_pid, wait_until, write_pid

if TYPE_CHECKING:
    from wavestream.stack.kafka import KafkaDistribution

log = logging.getLogger(__name__)

_FORMAT_TIMEOUT_S = 120
_STOP_TIMEOUT_S = 60.0


class KafkaNode:
    """Starts, stops, kills and inspects one node; the cluster is
    :class:`wavestream.stack.kafka.EmbeddedKafka`."""

    def __init__(self, settings: StackSettings, dist: "KafkaDistribution", node_id: int, nodes: int) -> None:
        self._s, self._dist = settings, dist
        self.node_id, self.nodes = node_id, nodes
        suffix = "" if node_id == 1 else f"-{node_id}"
        self.name = "kafka" if nodes == 1 else f"kafka-{node_id}"
        self.home = settings.data_dir / f"kafka{suffix}"
        self.log_file = settings.data_dir / "logs" / f"kafka{suffix}.log"
        self._pid_file = self.home / "kafka.pid"
        self.port = settings.kafka_port + 2 * (node_id - 1)
        self.controller_port = settings.controller_port + 2 * (node_id - 1)

    @property
    def bootstrap_servers(self) -> str:
        return f"{self._s.host}:{self.port}"

    def ports(self) -> list[tuple[int, str]]:
        return [(self.port, f"{self.name} client"), (self.controller_port, f"{self.name} controller")]

    def pid(self) -> int | None:
        return read_pid(self._pid_file)

    def is_running(self) -> bool:
        return self.pid() is not None

    def preflight(self) -> None:
        """Raises: PortInUse: the node's client or controller port is taken."""
        ensure_port_free(self._s.host, self.port, "Kafka" if self.nodes == 1 else f"Kafka node {self.node_id}")
        ensure_port_free(self._s.host, self.controller_port,
                         "Kafka controller" if self.nodes == 1 else f"Kafka node {self.node_id} controller")

    def start(self, java: str, classpath: str, cluster_id: str) -> None:
        """Start this node alone (a restart after :meth:`kill`) and wait until it serves.

        Raises:
            PortInUse, StackError: as :meth:`spawn` and :meth:`wait_serving`.
        """
        if self.is_running():
            return
        self.preflight()
        self.wait_serving(self.spawn(java, classpath, cluster_id))

    def spawn(self, java: str, classpath: str, cluster_id: str) -> subprocess.Popen:
        """Write the config, format the storage on first use, start the process.

        Raises:
            StackError: formatting the storage failed.
        """
        config = self._write_config()
        self._format_storage(java, classpath, config, cluster_id)
        stdout_log = self.log_file.with_name(self.log_file.stem + ".stdout.log")
        cmd = [java, *self._s.kafka_heap.split(), "-XX:+UseG1GC", "-Djava.awt.headless=true",
               *self._log_opts(), "-cp", classpath, "kafka.Kafka", str(config)]
        with stdout_log.open("ab") as out:
            # A new session: the broker outlives the CLI that started it, and a Ctrl-C
            # in the caller's terminal does not reach it.
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=self.home)
        write_pid(self._pid_file, proc.pid)
        return proc

    def wait_serving(self, proc: subprocess.Popen) -> None:
        """Wait until the node answers metadata listing itself as a broker.

        Raises:
            StackError: it exited or was not ready in time (it is stopped first).
        """
        try:
            wait_until(self._serves, timeout_s=self._s.startup_timeout_s,
                       what=f"Kafka node {self.node_id} on {self.bootstrap_servers}", log_file=self.log_file,
                       alive=lambda: proc.poll() is None)
        except StackError:
            stop_pid(proc.pid, timeout_s=10)
            self._pid_file.unlink(missing_ok=True)
            raise
        log.info("Kafka node %d serving on %s (pid %d)", self.node_id, self.bootstrap_servers, proc.pid)

    def stop(self, timeout_s: float = _STOP_TIMEOUT_S) -> bool:
        """Stop the node (SIGTERM: a controlled shutdown). Returns False if it did not run."""
        return self._signal(signal.SIGTERM, timeout_s)

    def request_stop(self) -> None:
        """Send SIGTERM without waiting (:meth:`stop` waits)."""
        pid = self.pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def kill(self) -> bool:
        """SIGKILL the node, as a crash would. Returns False if it did not run."""
        return self._signal(signal.SIGKILL, 30.0)

    def _signal(self, sig: int, timeout_s: float) -> bool:
        pid = self.pid()
        if pid is None:
            self._pid_file.unlink(missing_ok=True)  # stale: that process is gone
            return False
        stop_pid(pid, timeout_s=timeout_s, sig=sig)
        self._pid_file.unlink(missing_ok=True)
        return True

    def _serves(self) -> bool:
        if not port_in_use(self._s.host, self.port):
            return False
        # The listener opens before the broker is registered with the controller;
        # only a metadata answer that lists this broker means clients can work.
        from wavestream.stack.kafka import _metadata_brokers

        return self.node_id in _metadata_brokers(self.bootstrap_servers)

    def _properties(self) -> dict[str, str]:
        host, s = self._s.host, self._s
        voters = ",".join(f"{i}@{host}:{s.controller_port + 2 * (i - 1)}" for i in range(1, self.nodes + 1))
        rf, isr = default_replication(self.nodes)
        return {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{host}:{self.port},CONTROLLER://{host}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.home / "data"),
            # Internal topics replicated as far as the node count allows: with one node
            # a single replica, or transactions and consumer groups never work.
            "offsets.topic.replication.factor": str(rf),
            "offsets.topic.num.partitions": "12",
            "transaction.state.log.replication.factor": str(rf),
            "transaction.state.log.min.isr": str(isr),
            "transaction.state.log.num.partitions": "12",
            "share.coordinator.state.topic.replication.factor": str(rf),
            "share.coordinator.state.topic.min.isr": str(isr),
            "default.replication.factor": str(rf),
            "min.insync.replicas": str(isr),
            "unclean.leader.election.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            # KIP-848 consumer groups: a member that died is noticed in 10 s, not 45 s
            # (a development stack; production brokers keep their own settings).
            "group.consumer.min.session.timeout.ms": "6000",
            "group.consumer.session.timeout.ms": "10000",
            "group.consumer.min.heartbeat.interval.ms": "1000",
            "group.consumer.heartbeat.interval.ms": "1000",
            # Topics are created explicitly by `wavestream topics create`.
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
        }

    def _write_config(self) -> Path:
        conf_dir = self.home / "config"
        conf_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        config = conf_dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in self._properties().items()))
        (conf_dir / "log4j2.properties").write_text(_LOG4J2.format(log_file=self.log_file))
        return config

    def _format_storage(self, java: str, classpath: str, config: Path, cluster_id: str) -> None:
        if (self.home / "data" / "meta.properties").exists():
            return
        cmd = [java, "-cp", classpath, *self._log_opts(), "kafka.tools.StorageTool",
               "format", f"--cluster-id={cluster_id}", "-c", str(config)]  # an id may start with "-"
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=_FORMAT_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"formatting Kafka storage timed out; see {self.log_file}") from exc
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StackError(f"formatting Kafka storage failed: {detail[0]}; see {self.log_file}")

    def _log_opts(self) -> list[str]:
        return [f"-Dlog4j2.configurationFile={self.home / 'config' / 'log4j2.properties'}",
                f"-Dkafka.logs.dir={self.log_file.parent}"]


_LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""

__all__ = ["KafkaNode"]
