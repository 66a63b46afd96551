"""Disaster-recovery drill (DESIGN §10): postings through a script-only workflow on a
stack of its own, ``export``, the stack destroyed, a fresh stack, ``import``,
``replay``; the read models equal the original's, and new postings complete exactly
once while no old posting is processed again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from projector.pgschema import table_checksums
from tests.conftest import traversable_tmp
from tests.integration.test_worker_helpers import (ROOT, CODEC, EventLog, Procs, posting, produce_postings,
                                                   script_stage, write_workflow)
from wavestream.clients import build_consumer, high_watermarks
from wavestream.config import KafkaSettings, PostgresSettings
from wavestream.db import connect
from wavestream.stack.process import free_port

pytestmark = pytest.mark.integration

WAVESTREAM = [sys.executable, "-m", "wavestream.cli"]


class Stack:
    """An embedded stack of its own (``wavestream stack``), on free ports."""

    def __init__(self, name: str) -> None:
        self.root = traversable_tmp(name)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("WAVESTREAM_")}
        self.env.update(WAVESTREAM_STACK_DIR=str(self.root), WAVESTREAM_STACK_KAFKA_PORT=str(free_port()),
                        WAVESTREAM_STACK_CONTROLLER_PORT=str(free_port()), WAVESTREAM_STACK_PG_PORT=str(free_port()),
                        WAVESTREAM_TOPIC_PARTITIONS="3", WAVESTREAM_LOG_FORMAT="text", PYTHONPATH=str(ROOT))

    def up(self) -> None:
        assert self.run("stack", "up").returncode == 0
        import shlex

        for line in self.run("stack", "env").stdout.splitlines():
            key, value = shlex.split(line[len("export "):])[0].split("=", 1)
            self.env[key] = value

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([*WAVESTREAM, *args], env=self.env, cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)

    def ok(self, *args: str) -> dict:
        done = self.run(*args)
        assert done.returncode == 0, (args, done.stderr[-4000:])
        last = (done.stdout.strip().splitlines() or [""])[-1]
        return json.loads(last) if last.startswith("{") else {}

    @property
    def kafka(self) -> KafkaSettings:
        return KafkaSettings(client={"bootstrap.servers": self.env["WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS"]},
                             partitions=3)

    def destroy(self) -> None:
        self.run("stack", "down", timeout=180)
        shutil.rmtree(self.root, ignore_errors=True)


def _pipeline(stack: Stack, workflow: Path, stages: list[str], log_dir: Path) -> Procs:
    procs = Procs(stack.env["WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS"], log_dir)
    procs.start("router", "router", "--workflow", str(workflow), "--instance-id", "r1", "--from", "earliest")
    for stage in stages:
        procs.start(stage, "worker", "--stage", stage, "--workflow", str(workflow), "--instance-id", "1",
                    "--batch", "20", "--batch-ms", "500")
    return procs


def _complete(stack: Stack, procs: Procs, ids: list[str]) -> list[dict]:
    log = EventLog(stack.kafka, ids)
    try:
        produce_postings(stack.kafka, [posting(i) for i in ids])
        log.wait_for(lambda l: {e["posting_id"] for e in l.of("PostingCompleted")} == set(ids), procs,
                     what=f"{len(ids)} completions")
        log.settle()
    finally:
        log.close()
    return log.events


def _stop(procs: Procs) -> None:
    try:
        procs.terminate_all()
    finally:
        procs.kill_all()


def _all_events(settings: KafkaSettings) -> list[dict]:
    consumer = build_consumer(settings, "drill-reader", **{"enable.partition.eof": True})
    try:
        highs = high_watermarks(consumer, "events")
        consumer.assign([TopicPartition("events", p, OFFSET_BEGINNING) for p in highs])
        events, todo = [], {p for p, h in highs.items() if h > 0}
        while todo:
            for m in consumer.consume(500, 0.5):
                if m.error() is None:
                    value = CODEC.decode(m.value()).value
                    value["_partition"] = m.partition()
                    events.append(value)
                    if m.offset() + 1 >= highs[m.partition()]:
                        todo.discard(m.partition())
                elif m.offset() >= highs[m.partition()]:
                    todo.discard(m.partition())
        return events
    finally:
        consumer.close()


def _read_models(stack: Stack) -> tuple[dict, dict[int, list[str]]]:
    """(checksums without Kafka offsets, event ids per partition in offset order)."""
    conn = connect(PostgresSettings(stack.env["WAVESTREAM_PG_DSN"]))
    try:
        sums = table_checksums(conn, "wavestream", offsets=False)
        with conn.cursor() as cur:
            cur.execute("SELECT kafka_partition, event_id FROM wavestream.execution_events"
                        " ORDER BY kafka_partition, kafka_offset")
            order: dict[int, list[str]] = {}
            for p, event_id in cur.fetchall():
                order.setdefault(p, []).append(event_id)
        conn.rollback()
        return sums, order
    finally:
        conn.close()


def test_export_destroy_import_replay_then_new_postings_flow_once(tmp_path):
    u = os.urandom(4).hex()
    a, b = f"a_{u}", f"b_{u}"
    workflow = write_workflow(tmp_path, f"drill-{u}", {a: script_stage("echo", b), b: script_stage("echo", "done")})
    backup = tmp_path / "backup"
    first, second = Stack("drill-1"), Stack("drill-2")
    try:
        first.up()
        assert first.run("topics", "create", "--workflow", str(workflow)).returncode == 0
        procs = _pipeline(first, workflow, [a, b], tmp_path)
        try:
            old_ids = [f"{u}-old-{i:02d}" for i in range(30)]
            _complete(first, procs, old_ids)
        finally:
            _stop(procs)
        first.ok("projector", "--until-caught-up")
        original, original_order = _read_models(first)
        original_events = Counter(e["posting_id"] for e in _all_events(first.kafka))
        assert original["postings"][0] == 30 and sum(original_events.values()) == original["execution_events"][0]

        exported = first.ok("export", str(backup), "--no-progress")
        assert exported["read_models"] is True and exported["records"] > 0
        manifest = json.loads((backup / "manifest.json").read_text())
        assert {g for g in manifest["groups"] if manifest["groups"][g]}, "stage groups' offsets were exported"
        first.destroy()

        second.up()
        imported = second.ok("import", str(backup), "--no-progress")
        assert imported["records"] == exported["records"] and imported["groups"] == exported["groups"]
        again = second.run("import", str(backup), "--no-progress")
        assert again.returncode == 1 and "not empty" in again.stderr
        second.ok("replay", "--no-progress")
        restored, restored_order = _read_models(second)
        assert restored == original
        assert restored_order == original_order  # same partitions, same order

        procs = _pipeline(second, workflow, [a, b], tmp_path)
        try:
            new_ids = [f"{u}-new-{i:02d}" for i in range(10)]
            _complete(second, procs, new_ids)
        finally:
            _stop(procs)
        after = Counter((e["posting_id"], e["event_type"], e["stage"]) for e in _all_events(second.kafka))
        for pid in new_ids:
            assert after[(pid, "PostingCompleted", b)] == 1, pid
            assert all(n == 1 for (p, _, _), n in after.items() if p == pid), pid
        per_posting = Counter()
        for (pid, _, _), n in after.items():
            per_posting[pid] += n
        assert {p: per_posting[p] for p in original_events} == dict(original_events), "an old posting ran again"
    finally:
        first.destroy()
        second.destroy()
