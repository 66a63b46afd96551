"""record_lag: lag and position per assigned partition; revoked partitions' series go."""

from __future__ import annotations

import pytest
from confluent_kafka import TopicPartition
from prometheus_client import REGISTRY

from wavestream import metrics

pytestmark = pytest.mark.unit


class FakeConsumer:
    """position() and cached watermarks, as librdkafka answers them."""

    def __init__(self, positions: dict[tuple[str, int], int], highs: dict[tuple[str, int], int]) -> None:
        self.positions, self.highs = positions, highs

    def position(self, partitions):
        return [TopicPartition(tp.topic, tp.partition, self.positions.get((tp.topic, tp.partition), -1001))
                for tp in partitions]

    def get_watermark_offsets(self, tp, cached=False):
        return 0, self.highs[(tp.topic, tp.partition)]


def sample(name: str, topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value(name, {"component": "lagtest", "topic": topic, "partition": str(partition)})


def test_lag_and_position_per_partition_and_revoked_series_removed():
    consumer = FakeConsumer({("t", 0): 5, ("t", 1): 7}, {("t", 0): 12, ("t", 1): 7, ("t", 2): 4})
    metrics.record_lag("lagtest", consumer, [TopicPartition("t", 0), TopicPartition("t", 1)])
    assert sample("wavestream_consumer_lag", "t", 0) == 7
    assert sample("wavestream_consumer_position", "t", 0) == 5
    assert sample("wavestream_consumer_lag", "t", 1) == 0
    # A rebalance moved partition 0 away and brought partition 2 (no position yet: from low).
    metrics.record_lag("lagtest", consumer, [TopicPartition("t", 1), TopicPartition("t", 2)])
    assert sample("wavestream_consumer_lag", "t", 0) is None
    assert sample("wavestream_consumer_position", "t", 0) is None
    assert sample("wavestream_consumer_lag", "t", 2) == 4
    assert sample("wavestream_consumer_position", "t", 2) == 0
