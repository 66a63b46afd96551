"""Kafka's own command line tools (``kafka-topics``, ``kafka-consumer-groups``, ...) run
from the stack's cached jars, already pointed at the cluster: ``wavestream kafka TOOL``.

``--bootstrap-server`` is added when the arguments have none (from
``WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS``, which the CLI fills from a running embedded
stack). When the ``WAVESTREAM_KAFKA_*`` settings carry SASL or TLS, they are translated
from librdkafka's names into a Java client properties file (mode 0600, in a private
temporary directory removed afterwards) passed with the tool's config option, so no
secret appears on a command line or in a log.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from wavestream.config import StackSettings, kafka_client_properties
from wavestream.stack.exceptions import StackError
from wavestream.stack.kafka import KafkaDistribution
from wavestream.stack.process import require_tool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KafkaTool:
    """One tool: its main class and the options that take the cluster and client config."""

    main_class: str
    config_option: str = "--command-config"
    bootstrap_option: str = "--bootstrap-server"


_T = "org.apache.kafka.tools."
#: ``wavestream kafka NAME`` runs what Kafka's ``bin/kafka-NAME.sh`` runs.
TOOLS: Mapping[str, KafkaTool] = {
    "acls": KafkaTool(_T + "AclCommand"),
    "broker-api-versions": KafkaTool(_T + "BrokerApiVersionsCommand"),
    "configs": KafkaTool("kafka.admin.ConfigCommand"),
    "console-consumer": KafkaTool(_T + "consumer.ConsoleConsumer", "--consumer.config"),
    "console-producer": KafkaTool(_T + "ConsoleProducer", "--producer.config"),
    "consumer-groups": KafkaTool(_T + "consumer.group.ConsumerGroupCommand"),
    "delete-records": KafkaTool(_T + "DeleteRecordsCommand"),
    "features": KafkaTool(_T + "FeatureCommand"),
    "get-offsets": KafkaTool(_T + "GetOffsetShell"),
    "groups": KafkaTool(_T + "GroupsCommand"),
    "leader-election": KafkaTool(_T + "LeaderElectionCommand", "--admin.config"),
    "log-dirs": KafkaTool(_T + "LogDirsCommand"),
    "metadata-quorum": KafkaTool(_T + "MetadataQuorumCommand"),
    "reassign-partitions": KafkaTool(_T + "reassign.ReassignPartitionsCommand"),
    "share-groups": KafkaTool(_T + "consumer.group.ShareGroupCommand"),
    "streams-groups": KafkaTool(_T + "streams.StreamsGroupCommand"),
    "topics": KafkaTool(_T + "TopicCommand"),
    "transactions": KafkaTool(_T + "TransactionsCommand"),
}

_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}
# librdkafka names with the same meaning (and value) in the Java client.
_SAME = ("security.protocol", "ssl.key.password", "ssl.endpoint.identification.algorithm", "client.id")
_TRANSLATED = {"sasl.mechanisms", "sasl.mechanism", "sasl.username", "sasl.password", "ssl.ca.location",
               "ssl.certificate.location", "ssl.key.location", "bootstrap.servers"}
_TOOLS_LOG4J2 = """status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
"""


def tool_for(name: str) -> KafkaTool:
    """Raises: StackError naming the known tools when ``name`` is not one."""
    if name.startswith("kafka-"):
        name = name[len("kafka-"):]
    name = name.removesuffix(".sh")
    if name not in TOOLS:
        raise StackError(f"unknown Kafka tool {name!r}; known: {', '.join(sorted(TOOLS))}")
    return TOOLS[name]


def java_client_properties(client: Mapping[str, str]) -> dict[str, str]:
    """The Java client properties equivalent to librdkafka's SASL/TLS ``client``
    settings; empty for a plaintext cluster.

    Raises:
        StackError: a SASL mechanism without a username/password login module here
            (GSSAPI, OAUTHBEARER): pass ``--command-config FILE`` yourself.
    """
    secure = client.get("security.protocol", "plaintext").lower() != "plaintext" or any(
        key.startswith(("sasl.", "ssl.")) for key in client)
    if not secure:
        return {}
    props = {key: client[key] for key in _SAME if key in client}
    if props.get("ssl.endpoint.identification.algorithm", "").lower() == "none":
        props["ssl.endpoint.identification.algorithm"] = ""  # Java spells "off" empty
    mechanism = client.get("sasl.mechanisms") or client.get("sasl.mechanism")
    if mechanism:
        props["sasl.mechanism"] = mechanism
        if "sasl.username" in client or "sasl.password" in client:
            module = _LOGIN_MODULES.get(mechanism.upper())
            if module is None:
                raise StackError(f"cannot translate SASL mechanism {mechanism} for Kafka's tools; "
                                 "pass --command-config FILE with its sasl.jaas.config")
            props["sasl.jaas.config"] = (f'{module} required username="{_jaas(client.get("sasl.username", ""))}" '
                                         f'password="{_jaas(client.get("sasl.password", ""))}";')
    if "ssl.ca.location" in client:
        props.update({"ssl.truststore.type": "PEM", "ssl.truststore.location": client["ssl.ca.location"]})
    if "ssl.certificate.location" in client and "ssl.key.location" in client:
        props.update({"ssl.keystore.type": "PEM",
                      "ssl.keystore.certificate.chain": _read(client["ssl.certificate.location"]),
                      "ssl.keystore.key": _read(client["ssl.key.location"])})
    left = sorted(k for k in client if k.startswith(("sasl.", "ssl.")) and k not in _TRANSLATED and k not in _SAME)
    if left:
        log.warning("not passed on to Kafka's tools (no Java equivalent here): %s", ", ".join(left))
    return props


def tool_command(name: str, args: Sequence[str], *, java: str, classpath: str, env: Mapping[str, str],
                 workdir: Path) -> list[str]:
    """The java command line for tool ``name`` with ``args``: the bootstrap option is
    added unless given, and SASL/TLS settings go into ``workdir/client.properties``
    (0600) unless the arguments name a config file already.

    Raises:
        StackError: unknown tool, no bootstrap anywhere, or untranslatable SASL settings.
    """
    tool = tool_for(name)
    args = list(args)
    client = kafka_client_properties(env)
    asks_help = any(a in ("--help", "-h", "--version") for a in args)
    if not asks_help and not _has(args, tool.bootstrap_option) and not _has(args, "--bootstrap-controller"):
        if "bootstrap.servers" not in client:
            raise StackError("no Kafka to point the tool at: set WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS, "
                             f"start the stack (`wavestream stack up`) or pass {tool.bootstrap_option}")
        args = [tool.bootstrap_option, client["bootstrap.servers"], *args]
    props = java_client_properties(client)
    if props and not asks_help and not _has(args, tool.config_option):
        args = [tool.config_option, str(_write_private(workdir / "client.properties", props)), *args]
    log4j = workdir / "log4j2.properties"
    log4j.write_text(_TOOLS_LOG4J2)
    return [java, "-Xmx512m", f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath, tool.main_class, *args]


def run_tool(name: str, args: Sequence[str], *, settings: StackSettings, env: Mapping[str, str]) -> int:
    """Run Kafka tool ``name`` in the foreground (resolving the jars on first use) and
    return its exit status. The temporary config directory is removed afterwards.

    Raises:
        MissingTool: no ``java`` (or ``mvn`` for a first resolve).
        StackError: see :func:`tool_command`, or the jars could not be resolved.
    """
    tool_for(name)  # an unknown name fails before anything is resolved
    java = require_tool("java", "install a Java 17+ runtime (apt-get install openjdk-17-jre-headless)")
    classpath = KafkaDistribution(settings).classpath()
    workdir = Path(tempfile.mkdtemp(prefix="wavestream-kafka-tool-"))  # 0700
    try:
        cmd = tool_command(name, args, java=java, classpath=classpath, env=env, workdir=workdir)
        log.debug("running Kafka tool %s (%s)", name, tool_for(name).main_class)
        proc = subprocess.Popen(cmd, stdin=None)
        try:
            return proc.wait()
        except KeyboardInterrupt:  # the tool got the terminal's SIGINT too: let it finish
            return proc.wait()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _has(args: Sequence[str], option: str) -> bool:
    return any(a == option or a.startswith(option + "=") for a in args)


def _jaas(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise StackError(f"cannot read {path} for Kafka's tools: {exc.strerror}") from exc


def _escape(value: str) -> str:
    """A value as java.util.Properties reads it back unchanged."""
    out = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return "\\" + out if out.startswith(" ") else out


def _write_private(path: Path, props: Mapping[str, str]) -> Path:
    # O_EXCL + 0600 at creation: secrets are never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("".join(f"{key}={_escape(value)}\n" for key, value in props.items()))
    return path


__all__ = ["TOOLS", "KafkaTool", "java_client_properties", "run_tool", "tool_command", "tool_for"]
