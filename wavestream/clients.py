"""Kafka client factories: our defaults merged under the librdkafka pass-through settings.

Settings from ``WAVESTREAM_KAFKA_*`` (security, timeouts, ...) apply to every client;
role-specific settings that correctness depends on (isolation level, auto commit,
idempotence) are set here and win over the environment.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from wavestream.config import KafkaSettings, redact_config
from wavestream.exceptions import KafkaClientError

log = logging.getLogger(__name__)
# Right after a topic is created its partitions may have no leader for a moment.
_LEADER_ERRORS = {KafkaError.LEADER_NOT_AVAILABLE, KafkaError.NOT_LEADER_FOR_PARTITION,
                  KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._TRANSPORT, KafkaError._TIMED_OUT}
_librdkafka_log = logging.getLogger("wavestream.librdkafka")


def _error_cb(err: Any) -> None:
    # Broker-down and similar errors are retried by librdkafka itself; log them so an
    # operator sees why nothing moves, without crashing the loop.
    log.warning("kafka client error: %s", err)


def _base(settings: KafkaSettings, overrides: Mapping[str, Any]) -> dict[str, Any]:
    conf: dict[str, Any] = {"logger": _librdkafka_log, "error_cb": _error_cb}
    conf.update(settings.client)
    conf.update(overrides)
    return conf


def producer_config(
    settings: KafkaSettings, *, transactional_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """Config for a producer: idempotent always, transactional when an id is given."""
    conf = _base(settings, {"enable.idempotence": True, "acks": "all", **overrides})
    if transactional_id:
        conf["transactional.id"] = transactional_id
    return conf


#: librdkafka settings the KIP-848 consumer protocol refuses (the broker owns them there).
CLASSIC_ONLY = ("session.timeout.ms", "heartbeat.interval.ms", "partition.assignment.strategy",
                "group.protocol.type")


def consumer_config(
    settings: KafkaSettings, group_id: str, *, read_committed: bool = True, **overrides: Any
) -> dict[str, Any]:
    """Config for a consumer that commits offsets itself (never auto-commit).

    With ``group.protocol=consumer`` (KIP-848) the classic-only settings of the
    pass-through are dropped with a warning: librdkafka refuses to build such a consumer,
    and the broker's ``group.consumer.*`` settings apply instead."""
    conf = _base(
        settings,
        {
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed" if read_committed else "read_uncommitted",
            **overrides,
        },
    )
    if str(conf.get("group.protocol", "classic")).lower() == "consumer":
        dropped = [k for k in CLASSIC_ONLY if k in conf]
        if dropped:
            log.warning("group.protocol=consumer: ignoring %s (the broker's group.consumer.* settings apply)",
                        ", ".join(dropped))
            for key in dropped:
                del conf[key]
    return conf


def _build(kind: type, conf: dict[str, Any]) -> Any:
    try:
        return kind(conf)
    except (KafkaException, ValueError, TypeError) as exc:
        raise KafkaClientError(f"cannot build {kind.__name__}: {exc} (config {redact_config(conf)})") from exc


def build_producer(settings: KafkaSettings, **kwargs: Any) -> Producer:
    """Raises: KafkaClientError: librdkafka rejected the configuration."""
    return _build(Producer, producer_config(settings, **kwargs))


def build_consumer(settings: KafkaSettings, group_id: str, **kwargs: Any) -> Consumer:
    """Raises: KafkaClientError: librdkafka rejected the configuration."""
    return _build(Consumer, consumer_config(settings, group_id, **kwargs))


def build_admin(settings: KafkaSettings, **overrides: Any) -> AdminClient:
    """Raises: KafkaClientError: librdkafka rejected the configuration."""
    return _build(AdminClient, _base(settings, overrides))


_WATERMARK_ATTEMPTS = 50
_WATERMARK_TIMEOUT_S = 10.0


def watermark_offsets(consumer: Consumer, tp: TopicPartition) -> tuple[int, int]:
    """(low, high) of one partition, asked of the broker (not the fetch cache).

    A topic created a moment ago may not have a partition leader yet: retriable errors
    are retried (bounded) instead of failing the caller's start-up.

    Raises:
        KafkaClientError: the offsets cannot be read after the retries.
    """
    for attempt in range(_WATERMARK_ATTEMPTS):
        try:
            return consumer.get_watermark_offsets(tp, timeout=_WATERMARK_TIMEOUT_S, cached=False)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            retriable = isinstance(err, KafkaError) and (err.retriable() or err.code() in _LEADER_ERRORS)
            if not retriable or attempt == _WATERMARK_ATTEMPTS - 1:
                raise KafkaClientError(f"cannot read the offsets of {tp.topic}[{tp.partition}]: {exc}") from exc
            time.sleep(0.2)
    raise AssertionError("unreachable")


def high_watermarks(consumer: Consumer, topic: str) -> dict[int, int]:
    """partition -> high-water mark of every partition of ``topic``.

    Raises:
        KafkaClientError: the topic does not exist or its offsets cannot be read.
    """
    metadata = consumer.list_topics(topic, timeout=_WATERMARK_TIMEOUT_S * 3).topics.get(topic)
    if metadata is None or metadata.error is not None:
        raise KafkaClientError(f"topic {topic} does not exist")
    return {p: watermark_offsets(consumer, TopicPartition(topic, p))[1] for p in sorted(metadata.partitions)}
