"""The embedded Kafka's layout for one and for three nodes, and replication chosen from
the broker count (no process is started here)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from wavestream.config import KafkaSettings, StackSettings
from wavestream.stack.exceptions import StackError
from wavestream.stack.kafka import EmbeddedKafka
from wavestream.topics import default_replication, resolve_replication, topic_specs

pytestmark = pytest.mark.unit


def settings(tmp_path: Path, brokers: int | None) -> StackSettings:
    return replace(StackSettings.from_env({}), data_dir=tmp_path, kafka_port=30000, controller_port=30001,
                   brokers=brokers)


def test_three_nodes_one_quorum_rf3_min_isr_2(tmp_path):
    kafka = EmbeddedKafka(settings(tmp_path, 3))
    assert kafka.bootstrap_servers == "127.0.0.1:30000,127.0.0.1:30002,127.0.0.1:30004"
    assert [n.name for n in kafka.nodes] == ["kafka-1", "kafka-2", "kafka-3"]
    assert [n.home.name for n in kafka.nodes] == ["kafka", "kafka-2", "kafka-3"]
    props = [n._properties() for n in kafka.nodes]
    assert {p["controller.quorum.voters"] for p in props} == {"1@127.0.0.1:30001,2@127.0.0.1:30003,3@127.0.0.1:30005"}
    assert [p["node.id"] for p in props] == ["1", "2", "3"]
    for p in props:
        assert p["offsets.topic.replication.factor"] == p["transaction.state.log.replication.factor"] == "3"
        assert p["transaction.state.log.min.isr"] == p["min.insync.replicas"] == "2"
    kafka.check_layout()


def test_single_node_keeps_its_layout(tmp_path):
    kafka = EmbeddedKafka(settings(tmp_path, None))
    (node,) = kafka.nodes
    assert (node.name, node.home, node.log_file.name) == ("kafka", tmp_path / "kafka", "kafka.log")
    props = node._properties()
    assert props["controller.quorum.voters"] == "1@127.0.0.1:30001"
    assert props["transaction.state.log.replication.factor"] == "1" and props["min.insync.replicas"] == "1"


def test_listeners_sharing_a_port_are_refused(tmp_path):
    clash = replace(settings(tmp_path, 3), controller_port=30002)  # node 2's client port
    with pytest.raises(StackError, match="share port 30002"):
        EmbeddedKafka(clash).check_layout()


def test_the_directory_remembers_its_broker_count(tmp_path):
    (tmp_path / "kafka.json").write_text(json.dumps({"brokers": 3, "cluster_id": "x"}))
    assert EmbeddedKafka(settings(tmp_path, None)).brokers == 3  # status/down find every node
    with pytest.raises(StackError, match="holds a 3-broker Kafka"):
        EmbeddedKafka(settings(tmp_path, 1)).check_layout()


@pytest.mark.parametrize("brokers,expected", [(1, (1, 1)), (2, (2, 1)), (3, (3, 2)), (5, (3, 2))])
def test_default_replication(brokers, expected):
    assert default_replication(brokers) == expected


def test_topics_take_replication_from_the_cluster_unless_set():
    unset = topic_specs(["s"], KafkaSettings(client={"bootstrap.servers": "x"}))
    assert {(s.replication_factor, s.config["min.insync.replicas"]) for s in resolve_replication(unset, 3)} == {(3, "2")}
    assert {(s.replication_factor, s.config["min.insync.replicas"]) for s in resolve_replication(unset, 1)} == {(1, "1")}
    fixed = topic_specs(["s"], KafkaSettings.from_env({"WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS": "x",
                                                        "WAVESTREAM_TOPIC_REPLICATION_FACTOR": "2"}))
    assert {(s.replication_factor, s.config["min.insync.replicas"]) for s in resolve_replication(fixed, 3)} == {(2, "1")}
    both = topic_specs(["s"], KafkaSettings.from_env({"WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS": "x",
                                                       "WAVESTREAM_TOPIC_REPLICATION_FACTOR": "3",
                                                       "WAVESTREAM_TOPIC_MIN_INSYNC_REPLICAS": "3"}))
    assert {(s.replication_factor, s.config["min.insync.replicas"]) for s in resolve_replication(both, 3)} == {(3, "3")}
