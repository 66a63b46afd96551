"""Transactions on the real broker: the exactly-once building block of the worker loop."""

from __future__ import annotations

import pytest
from confluent_kafka import TopicPartition

from wavestream.clients import build_admin, build_consumer, build_producer
from wavestream.config import KafkaSettings
from wavestream.topics import TopicSpec, create_topics

pytestmark = pytest.mark.integration


def _topic(settings: KafkaSettings, name: str, partitions: int = 1) -> str:
    create_topics(build_admin(settings), [TopicSpec(name, partitions, 1)])
    return name


def _drain(consumer, expected_at_least: int = 0, max_empty_polls: int = 10) -> list:
    """Poll until `max_empty_polls` consecutive empty polls (after at least the expected count)."""
    records, empty = [], 0
    while empty < max_empty_polls or len(records) < expected_at_least:
        msg = consumer.poll(0.5)
        if msg is None:
            empty += 1
            if empty > 120:
                break
            continue
        assert msg.error() is None, msg.error()
        records.append(msg)
        empty = 0
    return records


def test_aborted_transaction_is_invisible_and_offsets_commit_with_the_output(kafka_settings, unique):
    source = _topic(kafka_settings, f"tx-in-{unique}")
    sink = _topic(kafka_settings, f"tx-out-{unique}")
    group = f"tx-group-{unique}"

    seed = build_producer(kafka_settings)
    for i in range(4):
        seed.produce(source, key=f"k{i}", value=f"in-{i}".encode())
    assert seed.flush(30) == 0

    consumer = build_consumer(kafka_settings, group)
    consumer.subscribe([source])
    inputs = _drain(consumer, expected_at_least=4, max_empty_polls=2)
    assert [m.value() for m in inputs] == [f"in-{i}".encode() for i in range(4)]

    producer = build_producer(kafka_settings, transactional_id=f"tx-{unique}")
    producer.init_transactions(30)

    # First transaction: outputs for inputs 0-1 plus their offsets, then abort.
    producer.begin_transaction()
    for m in inputs[:2]:
        producer.produce(sink, key=m.key(), value=b"aborted-" + m.value())
    producer.send_offsets_to_transaction(
        [TopicPartition(source, 0, inputs[1].offset() + 1)], consumer.consumer_group_metadata(), 30
    )
    # Deliver the records to the log before aborting: abort purges what is still queued
    # locally, and this test wants aborted records that are in the log but invisible.
    assert producer.flush(30) == 0
    producer.abort_transaction(30)

    # Second transaction: outputs for all four inputs plus their offsets, committed.
    producer.begin_transaction()
    for m in inputs:
        producer.produce(sink, key=m.key(), value=b"committed-" + m.value())
    producer.send_offsets_to_transaction(
        [TopicPartition(source, 0, inputs[-1].offset() + 1)], consumer.consumer_group_metadata(), 30
    )
    producer.commit_transaction(30)
    consumer.close()

    reader = build_consumer(kafka_settings, f"reader-{unique}", read_committed=True)
    reader.subscribe([sink])
    seen = [m.value() for m in _drain(reader, expected_at_least=4)]
    reader.close()
    assert seen == [f"committed-in-{i}".encode() for i in range(4)]

    # The uncommitted view does contain the aborted records: the filter above is real.
    dirty = build_consumer(kafka_settings, f"dirty-{unique}", read_committed=False)
    dirty.subscribe([sink])
    dirty_values = [m.value() for m in _drain(dirty, expected_at_least=6)]
    dirty.close()
    assert b"aborted-in-0" in dirty_values

    # The group's committed offset is the one sent in the committed transaction.
    checker = build_consumer(kafka_settings, group)
    committed = checker.committed([TopicPartition(source, 0)], timeout=30)
    checker.close()
    assert committed[0].offset == inputs[-1].offset() + 1
