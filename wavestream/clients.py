"""Kafka client factories: our defaults merged under the librdkafka pass-through settings.

Settings from ``WAVESTREAM_KAFKA_*`` (security, timeouts, ...) apply to every client;
role-specific settings that correctness depends on (isolation level, auto commit,
idempotence) are set here and win over the environment.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from wavestream.config import KafkaSettings, redact_config
from wavestream.exceptions import KafkaClientError

log = logging.getLogger(__name__)
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


def consumer_config(
    settings: KafkaSettings, group_id: str, *, read_committed: bool = True, **overrides: Any
) -> dict[str, Any]:
    """Config for a consumer that commits offsets itself (never auto-commit)."""
    return _base(
        settings,
        {
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed" if read_committed else "read_uncommitted",
            **overrides,
        },
    )


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
