"""The topics of DESIGN §2: their names, settings, creation and description.

``postings``, ``events`` and ``commands`` keep records forever: they are the replay
sources every read model is rebuilt from. ``deadletter`` keeps records forever too,
so nothing routed there is lost before an operator looks at it. ``commands.state.<workflow>``
is compacted: the latest ``PostingControl`` per posting is the command processor's state
(cancel epoch, commands already applied), read by the stage workers of that workflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from wavestream.config import KafkaSettings
from wavestream.exceptions import TopicError

POSTINGS = "postings"
COMMANDS = "commands"
EVENTS = "events"
DEADLETTER = "deadletter"

_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
_WEEK_MS = str(7 * 24 * 3600 * 1000)
_WORK = {"retention.ms": _WEEK_MS, "cleanup.policy": "delete"}
_COMPACTED = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "compact"}
_CONTROL_PREFIX = "commands.state."
_DESCRIBED_KEYS = ("cleanup.policy", "retention.ms", "min.insync.replicas")
_TIMEOUT_S = 30.0


def stage_topic(stage: str) -> str:
    return f"stage.{stage}"


def retry_topic(stage: str) -> str:
    return f"stage.{stage}.retry"


def control_topic(workflow: str) -> str:
    """The compacted topic of workflow ``workflow``'s ``PostingControl`` records."""
    return f"{_CONTROL_PREFIX}{workflow}"


def is_control_topic(topic: str) -> bool:
    return topic.startswith(_CONTROL_PREFIX) and len(topic) > len(_CONTROL_PREFIX)


def stage_group(stage: str) -> str:
    """The consumer group of a stage's workers (reads its stage and retry topics)."""
    return f"wavestream-stage-{stage}"


def router_group(workflow: str) -> str:
    """The consumer group of the ingest router of a workflow (reads ``postings``)."""
    return f"wavestream-router-{workflow}"


def commands_group(workflow: str) -> str:
    """The consumer group of the command processor of a workflow (reads ``commands``)."""
    return f"wavestream-commands-{workflow}"


def default_replication(brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for a cluster of ``brokers`` brokers:
    ``min(3, brokers)`` replicas, and two of three in sync for a write (one broker may
    fail without stopping producers)."""
    rf = min(3, max(1, brokers))
    return rf, min_insync_for(rf)


def min_insync_for(replication_factor: int) -> int:
    """2 for three or more replicas, else 1 (a write must not need every replica)."""
    return 2 if replication_factor >= 3 else 1


@dataclass(frozen=True)
class TopicSpec:
    """One topic; ``replication_factor`` None (and no ``min.insync.replicas`` in
    ``config``) means "chosen from the cluster" by :func:`create_topics`."""

    name: str
    partitions: int
    replication_factor: int | None
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(stages: Iterable[str], settings: KafkaSettings, workflow: str | None = None) -> list[TopicSpec]:
    """Every topic wavestream needs for the given stages (and, with ``workflow``, that
    workflow's control topic), with explicit settings (replication left to the cluster
    unless the settings fix it)."""
    isr = {}
    if settings.min_insync_replicas is not None:
        isr["min.insync.replicas"] = str(settings.min_insync_replicas)
    elif settings.replication_factor is not None:
        isr["min.insync.replicas"] = str(min_insync_for(settings.replication_factor))

    def spec(name: str, config: dict[str, str]) -> TopicSpec:
        return TopicSpec(name, settings.partitions, settings.replication_factor, {**config, **isr})

    specs = [spec(POSTINGS, _FOREVER), spec(COMMANDS, _FOREVER), spec(EVENTS, _FOREVER), spec(DEADLETTER, _FOREVER)]
    for stage in stages:
        specs.append(spec(stage_topic(stage), _WORK))
        specs.append(spec(retry_topic(stage), _WORK))
    if workflow is not None:
        specs.append(spec(control_topic(workflow), _COMPACTED))
    return specs


def workflow_name(path: Path) -> str:
    """The ``name`` a workflow YAML file declares.

    Raises:
        TopicError: the file is missing, not YAML, or declares no name.
    """
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TopicError(f"cannot read workflow {path}: {exc}") from exc
    name = doc.get("name") if isinstance(doc, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise TopicError(f"workflow {path} declares no name")
    return name


def workflow_stages(path: Path) -> list[str]:
    """The stage names declared in a workflow YAML file (its ``stages`` mapping).

    Raises:
        TopicError: the file is missing, not YAML, or declares no stages.
    """
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TopicError(f"cannot read workflow {path}: {exc}") from exc
    stages = (doc or {}).get("stages") if isinstance(doc, dict) else None
    if not isinstance(stages, dict) or not stages:
        raise TopicError(f"workflow {path} declares no stages")
    return [str(name) for name in stages]


def resolve_replication(specs: Iterable[TopicSpec], brokers: int) -> list[TopicSpec]:
    """``specs`` with every replication left to the cluster chosen for ``brokers``
    brokers (:func:`default_replication`)."""
    rf, isr = default_replication(brokers)
    resolved = []
    for s in specs:
        config = dict(s.config)
        replication = s.replication_factor if s.replication_factor is not None else rf
        if "min.insync.replicas" not in config:
            config["min.insync.replicas"] = str(isr if s.replication_factor is None else min_insync_for(replication))
        resolved.append(TopicSpec(s.name, s.partitions, replication, config))
    return resolved


def create_topics(admin: AdminClient, specs: Iterable[TopicSpec]) -> dict[str, str]:
    """Create the topics that do not exist yet; idempotent. Replication left to the
    cluster is ``min(3, brokers)`` with ``min.insync.replicas`` 2 of 3.

    Returns:
        topic name -> "created" or "exists".

    Raises:
        TopicError: the broker refused a topic for another reason than that it exists.
    """
    metadata = admin.list_topics(timeout=_TIMEOUT_S)
    specs = resolve_replication(specs, len(metadata.brokers))
    existing = set(metadata.topics)
    result = {s.name: "exists" for s in specs if s.name in existing}
    new = [
        NewTopic(s.name, num_partitions=s.partitions, replication_factor=s.replication_factor, config=s.config)
        for s in specs
        if s.name not in existing
    ]
    if not new:
        return result
    for name, future in admin.create_topics(new, request_timeout=_TIMEOUT_S).items():
        try:
            future.result()
            result[name] = "created"
        except KafkaException as exc:
            if exc.args and getattr(exc.args[0], "name", lambda: "")() == "TOPIC_ALREADY_EXISTS":
                result[name] = "exists"  # created concurrently by another process
                continue
            raise TopicError(f"cannot create topic {name}: {exc}") from exc
    return result


def missing_topics(admin: AdminClient, names: Iterable[str]) -> list[str]:
    existing = set(admin.list_topics(timeout=_TIMEOUT_S).topics)
    return [n for n in names if n not in existing]


def require_topics(admin: AdminClient, names: Iterable[str]) -> None:
    """Raises: TopicError naming every topic that does not exist."""
    missing = missing_topics(admin, names)
    if missing:
        raise TopicError(f"missing topics: {', '.join(missing)} (run `wavestream topics create`)")


def describe_topics(admin: AdminClient, names: Iterable[str]) -> list[dict]:
    """Partitions, replication and the retention/cleanup settings of each topic.

    Raises:
        TopicError: a topic does not exist or its config cannot be read.
    """
    names = list(names)
    require_topics(admin, names)
    metadata = admin.list_topics(timeout=_TIMEOUT_S).topics
    resources = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in names]
    rows = []
    for resource, future in admin.describe_configs(resources, request_timeout=_TIMEOUT_S).items():
        try:
            entries = future.result()
        except KafkaException as exc:
            raise TopicError(f"cannot describe topic {resource.name}: {exc}") from exc
        partitions = metadata[resource.name].partitions
        rows.append(
            {
                "topic": resource.name,
                "partitions": len(partitions),
                "replication_factor": len(next(iter(partitions.values())).replicas) if partitions else 0,
                **{key: entries[key].value for key in _DESCRIBED_KEYS if key in entries},
            }
        )
    order = {n: i for i, n in enumerate(names)}
    return sorted(rows, key=lambda r: order[r["topic"]])
