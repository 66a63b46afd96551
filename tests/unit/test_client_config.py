"""Client configs built from the pass-through settings (wavestream.clients)."""

from __future__ import annotations

import pytest

from consumers.groups import group_overrides
from wavestream.clients import build_consumer, consumer_config
from wavestream.config import KafkaSettings

pytestmark = pytest.mark.unit


def _settings(**client: str) -> KafkaSettings:
    return KafkaSettings(client={"bootstrap.servers": "127.0.0.1:1", **client})


def test_a_consumer_outside_the_loops_builds_when_the_consumer_protocol_and_classic_timeouts_are_both_set():
    # WAVESTREAM_KAFKA_GROUP_PROTOCOL=consumer with WAVESTREAM_KAFKA_SESSION_TIMEOUT_MS set: the
    # control-topic reader and the command lookup (plain consumers) failed to build with
    # "`session.timeout.ms` is not supported for `group.protocol=consumer`".
    settings = _settings(**{"group.protocol": "consumer", "session.timeout.ms": "6000",
                            "heartbeat.interval.ms": "1000", "client.id": "x"})
    conf = consumer_config(settings, "g")
    assert "session.timeout.ms" not in conf and "heartbeat.interval.ms" not in conf
    assert conf["client.id"] == "x" and conf["group.protocol"] == "consumer"
    build_consumer(settings, "g").close()


def test_classic_settings_stay_for_the_classic_protocol():
    settings = _settings(**{"group.protocol": "classic", "session.timeout.ms": "6000"})
    assert consumer_config(settings, "g")["session.timeout.ms"] == "6000"
    loop = consumer_config(settings, "g", **group_overrides(settings, "range", 60000))
    assert loop["partition.assignment.strategy"] == "range" and loop["session.timeout.ms"] == "6000"


def test_the_loops_consumer_protocol_override_drops_the_classic_settings():
    settings = _settings(**{"session.timeout.ms": "6000"})  # protocol not named: consumer is the default
    conf = consumer_config(settings, "g", **group_overrides(settings, "uniform", 60000))
    assert conf["group.protocol"] == "consumer" and conf["group.remote.assignor"] == "uniform"
    assert "session.timeout.ms" not in conf
