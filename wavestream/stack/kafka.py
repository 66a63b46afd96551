"""The embedded KRaft Apache Kafka on loopback: one node by default, or a cluster of
``--brokers N`` nodes (each a combined broker + controller, see :mod:`.node`).

The jars of the brokers and of Kafka's command line tools come from ``KAFKA_HOME/libs``
when ``KAFKA_HOME`` is set, else they are resolved from Maven Central with
``mvn dependency:copy-dependencies`` into the cache directory once and reused.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import shutil
import subprocess
import uuid
from importlib import resources
from pathlib import Path
from typing import Iterator

from wavestream.config import StackSettings
from wavestream.stack.exceptions import StackError
from wavestream.stack.node import KafkaNode
from wavestream.stack.process import require_tool, tail, wait_until

log = logging.getLogger(__name__)

_MVN_TIMEOUT_S = 900
_TOOLS_JAR = "kafka-tools"  # org.apache.kafka:kafka-tools, resolved with the broker


class KafkaDistribution:
    """Where the broker's and the command line tools' jars are, resolving them from
    Maven Central when needed (both in one ``libs`` directory, as Kafka's own
    distribution has them)."""

    def __init__(self, settings: StackSettings) -> None:
        self._settings = settings

    @property
    def libs_dir(self) -> Path:
        if self._settings.kafka_home is not None:
            return self._settings.kafka_home / "libs"
        return self._settings.cache_dir / f"kafka_{self._settings.scala_version}-{self._settings.kafka_version}" / "libs"

    def classpath(self) -> str:
        """The classpath of the broker and of Kafka's tools, resolving the jars first if
        they are not cached (or a cache from before the tools were added lacks them).

        Raises:
            MissingTool: ``mvn`` is needed and not installed.
            StackError: ``KAFKA_HOME`` has no libs, or Maven failed (names its log).
        """
        libs = self.libs_dir
        if self._settings.kafka_home is not None:
            if not any(libs.glob("kafka_*.jar")):
                raise StackError(f"KAFKA_HOME={self._settings.kafka_home} has no libs/kafka_*.jar")
            return str(libs / "*")
        if not self._complete(libs):
            with _lock(libs.parent / ".resolve.lock"):
                if not self._complete(libs):  # another process may have resolved meanwhile
                    self._resolve(libs)
        return str(libs / "*")

    def _complete(self, libs: Path) -> bool:
        tools_jar = libs / f"{_TOOLS_JAR}-{self._settings.kafka_version}.jar"
        return (libs.parent / ".complete").exists() and tools_jar.exists()

    def _resolve(self, libs: Path) -> None:
        """Resolve into a scratch directory, then move the jars into ``libs``: jars that
        are there already stay untouched, so brokers running from them are not disturbed."""
        mvn = require_tool("mvn", "install Maven (apt-get install maven) or set KAFKA_HOME")
        work = libs.parent
        scratch = work / f"libs.partial-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        pom = work / "pom.xml"
        pom.write_text(resources.files("wavestream.stack").joinpath("kafka-pom.xml").read_text())
        log_file = work / "mvn.log"
        log.info("resolving Kafka %s jars from Maven Central into %s", self._settings.kafka_version, libs)
        cmd = [
            mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
            f"-DoutputDirectory={scratch}", "-DincludeScope=runtime",
            f"-Dkafka.version={self._settings.kafka_version}",
            f"-Dscala.binary={self._settings.scala_version}",
        ]
        try:
            with log_file.open("w") as out:
                try:
                    result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=_MVN_TIMEOUT_S)
                except subprocess.TimeoutExpired as exc:
                    raise StackError(f"mvn did not resolve the Kafka jars in {_MVN_TIMEOUT_S}s; see {log_file}") from exc
            if result.returncode != 0 or not any(scratch.glob("kafka_*.jar")):
                raise StackError(f"mvn could not resolve the Kafka jars; see {log_file}: {tail(log_file)}")
            libs.mkdir(exist_ok=True)
            for jar in scratch.iterdir():
                if not (libs / jar.name).exists():
                    os.replace(jar, libs / jar.name)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        (work / ".complete").write_text(self._settings.kafka_version + "\n")


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if missing) while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class EmbeddedKafka:
    """The embedded Kafka cluster: ``brokers`` KRaft nodes, each a combined broker and
    controller, forming one cluster with a ``brokers``-voter controller quorum.

    Node 1 lives under ``<stack dir>/kafka`` (logs in ``logs/kafka.log``), node *i* > 1
    under ``<stack dir>/kafka-<i>``; node *i* listens on ``kafka_port + 2(i-1)`` and its
    controller on ``controller_port + 2(i-1)``. The broker count is recorded in
    ``<stack dir>/kafka.json`` when the storage is formatted, so ``status``/``stop``
    find every node without being told; ``settings.brokers`` None means "what the
    directory holds, else 1".
    """

    def __init__(self, settings: StackSettings) -> None:
        self._s = settings
        self._state_file = settings.data_dir / "kafka.json"
        self._dist = KafkaDistribution(settings)
        stored = self._stored_brokers()
        self.brokers = settings.brokers or stored or 1
        self.nodes = [KafkaNode(settings, self._dist, node_id, self.brokers) for node_id in range(1, self.brokers + 1)]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes)

    @property
    def log_file(self) -> Path:
        return self.nodes[0].log_file

    def pid(self) -> int | None:
        """Node 1's pid (the single-node stack's broker)."""
        return self.nodes[0].pid()

    def pids(self) -> dict[int, int | None]:
        return {node.node_id: node.pid() for node in self.nodes}

    def is_running(self) -> bool:
        """True when every node runs."""
        return all(node.is_running() for node in self.nodes)

    def ports(self) -> list[tuple[int, str]]:
        """(port, what) of every listener of every node."""
        return [pair for node in self.nodes for pair in node.ports()]

    def start(self) -> str:
        """Start the nodes that are not running and wait until the cluster serves with
        every broker registered (a no-op when all run).

        Returns:
            The bootstrap servers string (every node).

        Raises:
            PortInUse: a client or controller port is taken by another process.
            MissingTool: ``java`` (or ``mvn`` for a first resolve) is not installed.
            StackError: two listeners share a port, the directory holds a cluster of
                another size, or a node failed to start or was not ready in time
                (every node this call started is stopped again).
        """
        self.check_layout()
        todo = [node for node in self.nodes if not node.is_running()]
        if not todo:
            return self.bootstrap_servers
        java = require_tool("java", "install a Java 17+ runtime (apt-get install openjdk-17-jre-headless)")
        for node in todo:
            node.preflight()
        classpath = self._dist.classpath()
        cluster_id = self._cluster_id()
        started = []
        try:
            for node in todo:
                started.append((node, node.spawn(java, classpath, cluster_id)))
            for node, proc in started:
                node.wait_serving(proc)
            wait_until(self._all_registered, timeout_s=self._s.startup_timeout_s,
                       what=f"{self.brokers} Kafka brokers on {self.bootstrap_servers}", log_file=self.log_file)
        except BaseException:
            for node, _proc in started:
                node.stop(timeout_s=10)
            raise
        log.info("Kafka %s serving on %s (%d node(s))", self.version(), self.bootstrap_servers, self.brokers)
        return self.bootstrap_servers

    def stop(self) -> list[str]:
        """Stop every node this stack started (by pid); returns the names of those that ran.

        Every node is asked at once: stopped one after another, the last nodes would
        lose the controller quorum and wait out their controlled shutdown.
        """
        running = [node for node in self.nodes if node.is_running()]
        for node in running:
            node.request_stop()
        for node in running:
            node.stop()  # waits (SIGKILL after the timeout); a node may be gone already
        return [node.name for node in running]

    def version(self) -> str:
        """The Kafka version of the jars in use (from the kafka_<scala>-<version>.jar name)."""
        try:
            jar = next(self._dist.libs_dir.glob("kafka_*-*.jar"))
        except StopIteration:
            return self._s.kafka_version
        return jar.stem.split("-", 1)[1]

    def _all_registered(self) -> bool:
        return len(_metadata_brokers(self.bootstrap_servers)) >= self.brokers

    def check_layout(self) -> None:
        """Raises: StackError: two listeners would share a port, or the directory holds
        a cluster of another size."""
        ports = self.ports()
        taken: dict[int, str] = {}
        for port, what in ports:
            if port in taken:
                raise StackError(f"{what} and {taken[port]} would share port {port}: choose other "
                                 f"WAVESTREAM_STACK_KAFKA_PORT/CONTROLLER_PORT")
            taken[port] = what
        stored = self._stored_brokers()
        if stored is not None and stored != self.brokers:
            raise StackError(f"{self._s.data_dir} holds a {stored}-broker Kafka; run `wavestream stack down` and "
                             f"remove that directory to change the broker count, or use --brokers {stored}")

    def _stored_brokers(self) -> int | None:
        try:
            return int(json.loads(self._state_file.read_text())["brokers"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        # A single-node stack formatted before the count was recorded.
        return 1 if (self._s.data_dir / "kafka" / "data" / "meta.properties").exists() else None

    def _cluster_id(self) -> str:
        """The id every node is formatted with; recorded with the broker count."""
        try:
            state = json.loads(self._state_file.read_text())
            return str(state["cluster_id"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        cluster_id = _new_cluster_id()
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        self._state_file.write_text(json.dumps({"brokers": self.brokers, "cluster_id": cluster_id}) + "\n")
        return cluster_id


def _metadata_brokers(bootstrap: str) -> dict:
    """Brokers the cluster's metadata lists ({} when it does not answer)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": _quiet_logger()})
    try:
        return admin.list_topics(timeout=2).brokers
    except Exception:  # noqa: BLE001 - any client error here just means "not yet"
        return {}


def _new_cluster_id() -> str:
    """16 random bytes in URL-safe base64 without padding, as KRaft wants. Never one
    starting with "-" (1 in 64 would): kafka-storage would read it as an option, and
    Kafka's own Uuid.randomUuid() skips those too."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _quiet_logger() -> logging.Logger:
    probe = logging.getLogger("wavestream.stack.probe")
    probe.setLevel(logging.CRITICAL)
    probe.propagate = False
    return probe


__all__ = ["EmbeddedKafka", "KafkaDistribution"]
