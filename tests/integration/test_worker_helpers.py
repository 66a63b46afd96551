"""Helpers for the worker integration tests (no tests here): test workflows with unique
stage names, worker subprocesses, and readers of ``events`` / ``deadletter``.

Every wait is a bounded polling loop; nothing asserts on elapsed time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml
from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

from consumers.actors.script import resolve_script
from consumers.routing import Context, stage_command
from consumers.workflow import load_workflow
from wavestream.clients import build_admin, build_consumer, build_producer, watermark_offsets
from wavestream.codec import AvroCodec
from wavestream.config import KafkaSettings
from wavestream.topics import EVENTS, create_topics, topic_specs, workflow_name, workflow_stages

ROOT = Path(__file__).resolve().parents[2]
CODEC = AvroCodec()
#: Fast group settings for tests: the broker's minimum session timeout.
GROUP_ENV = {"WAVESTREAM_KAFKA_SESSION_TIMEOUT_MS": "6000", "WAVESTREAM_KAFKA_HEARTBEAT_INTERVAL_MS": "1000"}


def flaky(command: dict, stage: Any) -> str:
    """A script actor for tests: postings flagged ``attributes.mode`` = ``flaky`` behave
    like ``fail:2``, ``permanent`` like ``fail-permanent``; others like ``echo``."""
    mode = (command["posting"].get("attributes") or {}).get("mode")
    spec = {"flaky": "fail:2", "permanent": "fail-permanent"}.get(mode, "echo")
    return resolve_script(spec).fn(command, stage)


def write_workflow(tmp_path: Path, name: str, stages: dict, *, error_handler: str | None = None,
                   entry: str | None = None) -> Path:
    """A workflow file; ``stages`` maps names to stage mappings."""
    doc = {"name": name, "entry_points": [{"when": "*", "stage": entry or next(iter(stages))}], "stages": stages}
    if error_handler:
        doc["error_handler"] = error_handler
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def script_stage(callable_: str, next_stage: str, *, error: str | None = None, **extra: Any) -> dict:
    branches = ([{"when": "[FAILED]", "next": error}] if error else []) + [{"when": "*", "next": next_stage}]
    return {"actor": {"kind": "script", "callable": callable_}, "branches": branches, **extra}


def create_workflow_topics(settings: KafkaSettings, workflow: Path) -> None:
    create_topics(build_admin(settings), topic_specs(workflow_stages(workflow), settings, workflow_name(workflow)))


def worker_env(bootstrap: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAVESTREAM_KAFKA_")}
    env.update(GROUP_ENV, WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS=bootstrap, WAVESTREAM_LOG_FORMAT="text",
               WAVESTREAM_LOG_LEVEL="INFO", PYTHONPATH=str(ROOT))
    return env


class Procs:
    """Worker subprocesses of one test; :meth:`kill_all` in ``finally``."""

    def __init__(self, bootstrap: str, log_dir: Path) -> None:
        self.bootstrap, self.log_dir, self.procs = bootstrap, log_dir, {}
        self.stopped: set[str] = set()  # stopped on purpose: not a failure

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "wavestream.cli", *args], cwd=ROOT,
                                env=worker_env(self.bootstrap), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def terminate(self, name: str, timeout_s: float = 60) -> int:
        """SIGTERM and wait; returns the exit status."""
        proc = self.procs[name]
        self.stopped.add(name)
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout_s)

    def terminate_all(self) -> None:
        """SIGTERM every process; each must exit 0 (the tail of its log says why not)."""
        for name in list(self.procs):
            assert self.terminate(name) == 0, self.log(name)[-3000:]

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        self.stopped.add(name)
        proc.kill()
        proc.wait(30)

    def assert_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None and n not in self.stopped}
        assert not dead, f"workers exited: {dead}; logs: " + " | ".join(self.log(n)[-2000:] for n in dead)

    def kill_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)


def posting(posting_id: str, **extra: Any) -> dict:
    return {"posting_id": posting_id, "title": f"Title {posting_id}", "company": None, "location": None,
            "description": f"Description of {posting_id}", "url": None, "source": "test", "summary": None,
            "submitted_at": datetime(2024, 1, 1, tzinfo=timezone.utc), "attributes": {}, **extra}


def produce_commands(settings: KafkaSettings, workflow_path: Path, stage: str, postings: Iterable[dict],
                     partition: int | None = None, raw_before: dict[str, bytes] | None = None) -> None:
    """Attempt-1 commands for ``stage``; ``raw_before`` maps a posting id to garbage bytes
    produced (same key and partition) right before its command."""
    ctx = Context(load_workflow(workflow_path), "test")
    producer = build_producer(settings)
    topic = f"stage.{stage}"
    for p in postings:
        kwargs = {"partition": partition} if partition is not None else {}
        if raw_before and p["posting_id"] in raw_before:
            producer.produce(topic, key=p["posting_id"], value=raw_before[p["posting_id"]], **kwargs)
        cmd = stage_command(ctx, cause_id=f"test:{p['posting_id']}", stage=stage, posting=p,
                            correlation_id=str(uuid.uuid4()), outputs={}, now_ms=0)
        producer.produce(topic, key=p["posting_id"], value=CODEC.encode("StageCommand", cmd), **kwargs)
    assert producer.flush(30) == 0


def produce_postings(settings: KafkaSettings, postings: Iterable[dict]) -> None:
    producer = build_producer(settings)
    for p in postings:
        producer.produce("postings", key=p["posting_id"], value=CODEC.encode("Posting", p))
    assert producer.flush(30) == 0


class TopicReader:
    """Reads a topic from the high-water marks at creation (so only this test's
    records), read_committed unless told otherwise."""

    def __init__(self, settings: KafkaSettings, topic: str = EVENTS, *, read_committed: bool = True,
                 from_beginning: bool = False) -> None:
        self.consumer = build_consumer(settings, f"reader-{uuid.uuid4().hex[:8]}", read_committed=read_committed)
        parts = self.consumer.list_topics(topic, timeout=30).topics[topic].partitions
        tps = []
        for p in parts:
            high = watermark_offsets(self.consumer, TopicPartition(topic, p))[1]
            tps.append(TopicPartition(topic, p, OFFSET_BEGINNING if from_beginning else high))
        self.consumer.assign(tps)
        self.records: list[Any] = []

    def poll(self, rounds: int = 1) -> list[Any]:
        new = []
        for _ in range(rounds):
            for msg in self.consumer.consume(500, 0.2):
                if msg.error() is None:
                    new.append(msg)
        self.records.extend(new)
        return new

    def close(self) -> None:
        self.consumer.close()


class EventLog(TopicReader):
    """Decoded events of one test, filtered to its posting ids."""

    def __init__(self, settings: KafkaSettings, posting_ids: Iterable[str] | None = None, **kw: Any) -> None:
        super().__init__(settings, EVENTS, **kw)
        self.ids = set(posting_ids) if posting_ids is not None else None
        self.events: list[dict] = []

    def poll(self, rounds: int = 1) -> list[Any]:
        new = super().poll(rounds)
        for msg in new:
            value = CODEC.decode(msg.value()).value
            value["_partition"], value["_offset"] = msg.partition(), msg.offset()
            if self.ids is None or value["posting_id"] in self.ids:
                self.events.append(value)
        return new

    def of(self, event_type: str, stage: str | None = None) -> list[dict]:
        return [e for e in self.events if e["event_type"] == event_type and (stage is None or e["stage"] == stage)]

    def wait_for(self, done: Callable[["EventLog"], bool], procs: Procs | None = None, max_rounds: int = 1500,
                 what: str = "events") -> None:
        """Poll until ``done(self)``; fails after ``max_rounds`` polls (~0.2 s each when idle)."""
        for i in range(max_rounds):
            if done(self):
                return
            self.poll()
            if procs is not None and i % 25 == 0:
                procs.assert_alive()
        raise AssertionError(f"gave up waiting for {what}; have {Counter(e['event_type'] for e in self.events)}")

    def settle(self, rounds: int = 10) -> None:
        """Keep reading until ``rounds`` consecutive polls bring nothing (late duplicates)."""
        quiet = 0
        while quiet < rounds:
            quiet = quiet + 1 if not self.poll() else 0


def counts(events: list[dict]) -> Counter:
    """(posting_id, stage, event_type) -> how many records."""
    return Counter((e["posting_id"], e["stage"], e["event_type"]) for e in events)


def wait_for_members(settings: KafkaSettings, group: str, members: int, max_rounds: int = 300) -> None:
    """Poll the group until ``members`` members each hold partitions."""
    admin = build_admin(settings)
    for _ in range(max_rounds):
        try:
            desc = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
        except KafkaException:  # the group or its coordinator is not there yet
            time.sleep(0.2)
            continue
        holding = [m for m in desc.members if m.assignment and m.assignment.topic_partitions]
        if len(holding) == members and str(desc.state).endswith("STABLE"):
            return
        time.sleep(0.2)  # an admin round trip per round; nothing to consume meanwhile
    raise AssertionError(f"group {group} never had {members} members holding partitions")
