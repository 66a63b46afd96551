"""A single-node KRaft Apache Kafka broker (combined broker + controller) on loopback.

The jars of the broker and of Kafka's command line tools come from ``KAFKA_HOME/libs``
when ``KAFKA_HOME`` is set, else they are resolved from Maven Central with
``mvn dependency:copy-dependencies`` into the cache directory once and reused. Internal topics (offsets, transaction state) are
configured for one broker so transactions work.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
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
from wavestream.stack.process import (
    ensure_port_free,
    port_in_use,
    read_pid,
    require_tool,
    stop_pid,
    tail,
    wait_until,
    write_pid,
)

log = logging.getLogger(__name__)

_MVN_TIMEOUT_S = 900
_FORMAT_TIMEOUT_S = 120
_STOP_TIMEOUT_S = 60.0
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
    """Starts, stops and inspects the embedded broker. Its files live under
    ``<stack dir>/kafka`` (config, data, pid) and ``<stack dir>/logs/kafka.log``."""

    def __init__(self, settings: StackSettings) -> None:
        self._s = settings
        self.home = settings.data_dir / "kafka"
        self.log_file = settings.data_dir / "logs" / "kafka.log"
        self._pid_file = self.home / "kafka.pid"
        self._dist = KafkaDistribution(settings)

    @property
    def bootstrap_servers(self) -> str:
        return f"{self._s.host}:{self._s.kafka_port}"

    def pid(self) -> int | None:
        return read_pid(self._pid_file)

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self) -> str:
        """Start the broker (a no-op when it already runs) and wait until it serves.

        Returns:
            The bootstrap servers string.

        Raises:
            PortInUse: the client or controller port is taken by another process.
            MissingTool: ``java`` (or ``mvn`` for a first resolve) is not installed.
            StackError: the broker failed to start or was not ready in time.
        """
        if self.is_running():
            return self.bootstrap_servers
        java = require_tool("java", "install a Java 17+ runtime (apt-get install openjdk-17-jre-headless)")
        ensure_port_free(self._s.host, self._s.kafka_port, "Kafka")
        ensure_port_free(self._s.host, self._s.controller_port, "Kafka controller")
        classpath = self._dist.classpath()
        config = self._write_config()
        self._format_storage(java, classpath, config)
        proc = self._spawn(java, classpath, config)
        write_pid(self._pid_file, proc.pid)
        try:
            wait_until(
                self._serves,
                timeout_s=self._s.startup_timeout_s,
                what=f"Kafka on {self.bootstrap_servers}",
                log_file=self.log_file,
                alive=lambda: proc.poll() is None,
            )
        except StackError:
            stop_pid(proc.pid, timeout_s=10)
            self._pid_file.unlink(missing_ok=True)
            raise
        log.info("Kafka %s serving on %s (pid %d)", self.version(), self.bootstrap_servers, proc.pid)
        return self.bootstrap_servers

    def stop(self) -> bool:
        """Stop the broker this stack started (by its pid). Returns False if none ran."""
        pid = self.pid()
        if pid is None:
            self._pid_file.unlink(missing_ok=True)  # stale: that process is gone
            return False
        stop_pid(pid, timeout_s=_STOP_TIMEOUT_S)
        self._pid_file.unlink(missing_ok=True)
        return True

    def version(self) -> str:
        """The Kafka version of the jars in use (from the kafka_<scala>-<version>.jar name)."""
        try:
            jar = next(self._dist.libs_dir.glob("kafka_*-*.jar"))
        except StopIteration:
            return self._s.kafka_version
        return jar.stem.split("-", 1)[1]

    def _serves(self) -> bool:
        if not port_in_use(self._s.host, self._s.kafka_port):
            return False
        # The listener opens before the broker is registered with the controller;
        # only a metadata answer that lists the broker means clients can work.
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "logger": _quiet_logger()})
        try:
            return len(admin.list_topics(timeout=2).brokers) > 0
        except Exception:  # noqa: BLE001 - any client error here just means "not yet"
            return False

    def _write_config(self) -> Path:
        conf_dir = self.home / "config"
        conf_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        host, port, cport = self._s.host, self._s.kafka_port, self._s.controller_port
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{host}:{cport}",
            "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
            "advertised.listeners": f"PLAINTEXT://{host}:{port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.home / "data"),
            # One broker: every internal topic must live with a single replica, or
            # transactions and consumer groups never become available.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "12",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "12",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
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
        config = conf_dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (conf_dir / "log4j2.properties").write_text(_LOG4J2.format(log_file=self.log_file))
        return config

    def _format_storage(self, java: str, classpath: str, config: Path) -> None:
        if (self.home / "data" / "meta.properties").exists():
            return
        cluster_id = _cluster_id()
        cmd = [java, "-cp", classpath, *self._log_opts(), "kafka.tools.StorageTool",
               "format", f"--cluster-id={cluster_id}", "-c", str(config)]  # an id may start with "-"
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=_FORMAT_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"formatting Kafka storage timed out; see {self.log_file}") from exc
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StackError(f"formatting Kafka storage failed: {detail[0]}; see {self.log_file}")

    def _spawn(self, java: str, classpath: str, config: Path) -> subprocess.Popen:
        stdout_log = self.log_file.with_name("kafka.stdout.log")
        cmd = [java, *self._s.kafka_heap.split(), "-XX:+UseG1GC", "-Djava.awt.headless=true",
               *self._log_opts(), "-cp", classpath, "kafka.Kafka", str(config)]
        with stdout_log.open("ab") as out:
            # A new session: the broker outlives the CLI that started it, and a Ctrl-C
            # in the caller's terminal does not reach it.
            return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=self.home)

    def _log_opts(self) -> list[str]:
        return [f"-Dlog4j2.configurationFile={self.home / 'config' / 'log4j2.properties'}",
                f"-Dkafka.logs.dir={self.log_file.parent}"]


def _cluster_id() -> str:
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

__all__ = ["EmbeddedKafka", "KafkaDistribution"]
