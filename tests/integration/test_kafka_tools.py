"""`wavestream kafka TOOL` (issue 13.3): Kafka's own tools from the stack's cached jars,
pointed at the session's broker by WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS alone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from wavestream.clients import build_admin
from wavestream.topics import TopicSpec, create_topics

pytestmark = pytest.mark.integration


def _kafka(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wavestream.cli", "kafka", *args], env=env,
                          capture_output=True, text=True, timeout=600)


def test_consumer_groups_and_topics_list_what_exists(kafka_bootstrap, kafka_settings, unique):
    topic, group = f"tools-{unique}", f"tools-group-{unique}"
    create_topics(build_admin(kafka_settings), [TopicSpec(topic, 2, 1)])
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(3):
        producer.produce(topic, key=b"k", value=str(i).encode())
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 1), TopicPartition(topic, 1, 0)], asynchronous=False)
    finally:
        consumer.close()

    env = {k: v for k, v in os.environ.items() if not k.startswith("WAVESTREAM_KAFKA_")}
    env["WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS"] = kafka_bootstrap
    listed = _kafka(env, "consumer-groups", "--list")
    assert listed.returncode == 0, listed.stderr
    assert group in listed.stdout.split(), listed.stdout

    described = _kafka(env, "consumer-groups", "--describe", "--group", group)
    assert described.returncode == 0, described.stderr
    rows = [line.split() for line in described.stdout.splitlines() if line.startswith(group)]
    assert {(r[1], r[2], r[3]) for r in rows} == {(topic, "0", "1"), (topic, "1", "0")}, described.stdout

    topics = _kafka(env, "topics", "--list")
    assert topics.returncode == 0 and topic in topics.stdout.split(), topics.stderr

    # The tool's own failure comes back as wavestream's exit status.
    missing = _kafka(env, "topics", "--describe", "--topic", f"missing-{unique}")
    assert missing.returncode != 0 and "does not exist" in missing.stdout + missing.stderr
