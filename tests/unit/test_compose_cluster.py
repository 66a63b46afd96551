"""Every compose file parses with a real compose implementation (`docker-compose config`
needs no engine), and docker-compose.cluster.yml stays in step with docker-compose.yml:
three KRaft nodes in one quorum, replication 3 / min ISR 2, and every wavestream service
pointed at all three brokers.

docker-compose comes with Debian's `docker-compose` package; `make test` installs it
when missing (scripts/ci-tools.sh)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest
import yaml

from wavestream import PROJECT_ROOT

pytestmark = pytest.mark.unit

BASE = "docker-compose.yml"
CLUSTER = "docker-compose.cluster.yml"
BROKERS = ("kafka", "kafka-2", "kafka-3")


def _compose() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    pytest.fail("no compose implementation: apt-get install docker-compose (make test runs scripts/ci-tools.sh)")


def config(*files: str) -> dict:
    """The merged configuration as the compose implementation resolves it."""
    args = [arg for f in files for arg in ("-f", f)]
    env = {**os.environ, "POSTGRES_PASSWORD": "not-a-secret", "PROJECTOR_DB_PASSWORD": "not-a-secret",
           "READER_DB_PASSWORD": "not-a-secret"}
    result = subprocess.run([*_compose(), *args, "config"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def _ours(services: dict) -> dict:
    return {name: svc for name, svc in services.items() if svc.get("image") == "wavestream:local"}


def test_base_file_parses():
    services = config(BASE)["services"]
    assert {"kafka", "postgres", "topic-init", "projector"} <= set(services)


def test_a_broken_file_is_rejected(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("services:\n  x:\n    image: busybox\n    depends_on: 7\n")
    result = subprocess.run([*_compose(), "-f", str(broken), "config"], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0


@functools.lru_cache(maxsize=1)
def merged() -> dict:
    return config(BASE, CLUSTER)


def test_three_kraft_nodes_form_one_quorum():
    services = merged()["services"]
    base_kafka = yaml.safe_load((PROJECT_ROOT / BASE).read_text())["services"]["kafka"]
    envs = [services[name]["environment"] for name in BROKERS]
    assert [str(e["KAFKA_NODE_ID"]) for e in envs] == ["1", "2", "3"]
    assert len({e["CLUSTER_ID"] for e in envs}) == 1
    voters = {e["KAFKA_CONTROLLER_QUORUM_VOTERS"] for e in envs}
    assert voters == {"1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"}
    for name, env in zip(BROKERS, envs):
        assert services[name]["image"] == base_kafka["image"], f"{name} runs another Kafka than the base file"
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        assert str(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == "3"
        assert str(env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"]) == "3"
        assert str(env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"]) == "2"
        assert str(env["KAFKA_MIN_INSYNC_REPLICAS"]) == "2"
    volumes = {v.split(":")[0] if isinstance(v, str) else v["source"] for n in BROKERS
               for v in services[n].get("volumes", [])}
    assert len(volumes) == 3, "each node needs its own data volume"


def test_every_wavestream_service_uses_all_three_brokers():
    services = merged()["services"]
    base_ours = _ours(yaml.safe_load((PROJECT_ROOT / BASE).read_text())["services"])
    ours = _ours(services)
    assert set(ours) >= set(base_ours) - {n for n, s in base_ours.items() if s.get("profiles")}
    for name, svc in ours.items():
        env = svc["environment"]
        assert env["WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092,kafka-2:9092,kafka-3:9092", name
        assert (env["WAVESTREAM_TOPIC_REPLICATION_FACTOR"], env["WAVESTREAM_TOPIC_MIN_INSYNC_REPLICAS"]) == ("3", "2")
    cluster_file = yaml.safe_load((PROJECT_ROOT / CLUSTER).read_text())["services"]
    assert set(base_ours) <= set(cluster_file), f"not in {CLUSTER}: {sorted(set(base_ours) - set(cluster_file))}"


def test_topics_are_created_once_every_broker_is_healthy():
    depends = merged()["services"]["topic-init"]["depends_on"]
    assert {name: depends[name]["condition"] for name in BROKERS} == dict.fromkeys(BROKERS, "service_healthy")
