"""Broker loss on the three-node stack (`wavestream stack up --brokers 3`).

One module-scoped cluster (three KRaft nodes + PostgreSQL, started and stopped with the
CLI as a user would) and one pipeline on it: the ingest router, two script-actor stage
workers and the projector, all subprocesses. The tests, in order:

1. ``topics create`` on the cluster picks replication factor 3 and min ISR 2.
2. A clean run of 300 postings, then 300 more while the broker leading the most
   partitions of ``events`` and of the first stage's topic is SIGKILLed and restarted
   10 s later: every posting completes exactly once (read_committed) and its read-model
   rows equal those of its clean twin.
3. One broker stopped for good: postings keep completing on the two left.

Teardown: ``stack down`` leaves no Kafka or PostgreSQL process behind.

The processes run as a deployment runs them: a supervisor emulates the liveness probe
and restart policy (``/healthz`` 503 -> abort, restart with the same arguments). It is
needed: after a broker leaves for good, librdkafka can block
``send_offsets_to_transaction`` forever (confluentinc/librdkafka#5511, #5456: the
cached coordinator is decommissioned, the call's timeout is not checked). Restarts are
reported as pytest warnings (the hung process's Python stack is in its log).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
import uuid
import warnings
from collections import Counter
from dataclasses import replace

import psycopg2
import pytest

from tests.conftest import traversable_tmp
from tests.integration.broker_helpers import Feeder, StackProcs, Supervisor, cli as _cli, port_block
from tests.integration.test_worker_helpers import (
    GROUP_ENV, ROOT, EventLog, counts, create_workflow_topics, script_stage, write_workflow,
)
from wavestream.clients import build_admin
from wavestream.config import KafkaSettings, StackSettings
from wavestream.stack.kafka import EmbeddedKafka
from wavestream.stack.process import free_port, pid_alive
from wavestream.topics import EVENTS, stage_topic

pytestmark = pytest.mark.integration

POSTINGS_PER_RUN = 300


@pytest.fixture(scope="module")
def cluster():
    root = traversable_tmp("brokers3")
    base = port_block()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAVESTREAM_")}
    env.update(WAVESTREAM_STACK_DIR=str(root), WAVESTREAM_STACK_KAFKA_PORT=str(base),
               WAVESTREAM_STACK_CONTROLLER_PORT=str(base + 1), WAVESTREAM_STACK_PG_PORT=str(free_port()),
               WAVESTREAM_STACK_KAFKA_HEAP="-Xms128m -Xmx512m", WAVESTREAM_TOPIC_PARTITIONS="3",
               WAVESTREAM_LOG_FORMAT="text", PYTHONPATH=str(ROOT))
    settings = replace(StackSettings.from_env(env), brokers=3)
    kafka = EmbeddedKafka(settings)
    try:
        up = _cli(env, "stack", "up", "--brokers", "3")
        assert up.returncode == 0, up.stderr[-4000:]  # the tail says which node failed and why
        assert up.stdout.count("running") == 4, up.stdout  # three Kafka nodes and PostgreSQL
        exported = _cli(env, "stack", "env")
        assert exported.returncode == 0, exported.stderr
        for line in exported.stdout.splitlines():
            key, value = shlex.split(line[len("export "):])[0].split("=", 1)
            env[key] = value
        assert env["WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS"].count(",") == 2
        yield {"env": env, "kafka": kafka, "root": root}
        pids = [p for p in kafka.pids().values() if p is not None]
        down = _cli(env, "stack", "down")
        assert down.returncode == 0, down.stderr
        assert not [p for p in pids if pid_alive(p)], "stack down left Kafka nodes running"
        status = _cli(env, "stack", "status")
        assert status.returncode == 3 and "running" not in status.stdout, status.stdout
    finally:
        kafka.stop()  # a no-op after a successful `stack down`
        _cli(env, "stack", "down")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def settings(cluster) -> KafkaSettings:
    return KafkaSettings(client={"bootstrap.servers": cluster["env"]["WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS"]},
                         partitions=3)


@pytest.fixture(scope="module")
def pipeline(cluster, settings, tmp_path_factory):
    """a -> b -> done (script echo actors), failures -> h; router, one worker per stage
    and the projector, for the whole module."""
    u = uuid.uuid4().hex[:8]
    tmp = tmp_path_factory.mktemp("brokerloss")
    a, b, h = f"a_{u}", f"b_{u}", f"h_{u}"
    path = write_workflow(tmp, f"loss-{u}", {
        a: script_stage("echo", b, error=h),
        b: script_stage("echo", "done", error=h, prompt="{outputs.%s}|{posting.title}" % a),
        h: script_stage("consumers.actors.script:record_failure", "done"),
    }, error_handler=h)
    create_workflow_topics(settings, path)
    # /healthz fails after 45 s without a poll; the supervisor then restarts the process.
    env = {**cluster["env"], **GROUP_ENV, "WAVESTREAM_LOG_LEVEL": "INFO", "WAVESTREAM_HEALTH_MAX_POLL_AGE_S": "45"}
    procs = StackProcs(env, tmp)
    supervisor = Supervisor(procs)
    schema = f"loss_{u}"
    try:
        procs.start("router", "router", "--workflow", str(path), "--instance-id", "r1", "--from", "earliest")
        for stage in (a, b, h):
            procs.start(stage, "worker", "--stage", stage, "--workflow", str(path), "--instance-id", "1",
                        "--batch", "50", "--batch-ms", "2000")
        procs.start("projector", "projector", "--schema", schema, "--instance-id", "p1")
        procs.start("command-processor", "command-processor", "--workflow", str(path), "--instance-id", "c1",
                    "--from", "earliest")
        supervisor.start()
        yield {"path": path, "a": a, "b": b, "u": u, "procs": procs, "schema": schema,
               "dsn": cluster["env"]["WAVESTREAM_PG_DSN"]}
        supervisor.stop()
        unclean = {}
        for name in list(procs.procs):
            if name not in procs.stopped:
                try:
                    status = procs.terminate(name)
                except subprocess.TimeoutExpired:
                    status = "no exit 60 s after SIGTERM"
                if status != 0:
                    unclean[name] = (status, procs.log(name)[-1500:])
        assert not unclean, f"processes that did not stop cleanly on SIGTERM: {unclean}"
    finally:
        supervisor.done.set()
        procs.kill_all()


# --- helpers ---------------------------------------------------------------------------


def _leaders(settings: KafkaSettings, topics: list[str]) -> Counter:
    """node id -> partitions of ``topics`` it leads."""
    metadata = build_admin(settings).list_topics(timeout=30)
    return Counter(p.leader for t in topics for p in metadata.topics[t].partitions.values())


def _node(kafka: EmbeddedKafka, node_id: int):
    return next(n for n in kafka.nodes if n.node_id == node_id)


def _run(settings: KafkaSettings, pipeline: dict, ids: list[str], *, during=None, per_s: float = 25) -> EventLog:
    """Feed ``ids``; call ``during(log)`` once completions flow; wait until each posting
    completed and nothing more arrives."""
    log = EventLog(settings, ids)
    feeder = Feeder(settings, ids, per_s)
    procs = pipeline["procs"]
    try:
        feeder.start()
        try:
            if during is not None:
                log.wait_for(lambda l: len(l.of("PostingCompleted")) >= 20, procs, what="first completions")
                during(log)
            log.wait_for(lambda l: {e["posting_id"] for e in l.of("PostingCompleted")} >= set(ids),
                         procs, max_rounds=3000, what=f"{len(ids)} completions")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nstacks of the processes still running:\n{procs.dump_stacks()}") from exc
        feeder.join(180)
        assert feeder.undelivered == 0
        log.settle(rounds=25)
    finally:
        log.close()
    return log


def _assert_exactly_once(log: EventLog, ids: list[str], a: str, b: str) -> None:
    seen = counts(log.events)
    completed = Counter(e["posting_id"] for e in log.of("PostingCompleted"))
    assert all(completed[pid] == 1 for pid in ids), {p: n for p, n in completed.items() if n != 1}
    for pid in ids:
        for key in [(None, "PostingReceived"), (a, "InteractionCompleted"), (b, "InteractionCompleted")]:
            assert seen[(pid, *key)] == 1, (pid, key, seen[(pid, *key)])
    assert all(n == 1 for n in seen.values()), [k for k, n in seen.items() if n != 1]
    assert len({e["event_id"] for e in log.events}) == len(log.events)


def _report_restarts(procs: StackProcs) -> None:
    if procs.restarts:
        warnings.warn(f"the liveness supervisor restarted hung processes: {procs.restarts}; "
                      f"stacks in {procs.log_dir}", stacklevel=2)


_POSTING_COLS = ("status", "final_status", "current_stage", "summary", "skills", "score", "outputs", "last_error",
                 "error_count", "execution_seq", "event_count", "last_event_type")
_CHECKPOINT_COLS = ("stage", "execution_seq", "attempt", "status", "outputs", "terminal")


def _read_models(pipeline: dict, ids: list[str]) -> dict[str, tuple]:
    """posting id -> its postings row and checkpoints, with the id itself masked, once
    every posting is completed in the read models (bounded wait)."""
    conn = psycopg2.connect(pipeline["dsn"])
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'SET search_path TO "{pipeline["schema"]}"')
            for _ in range(600):
                try:
                    cur.execute("SELECT count(*) FROM postings WHERE posting_id = ANY(%s) AND status = 'completed'",
                                (ids,))
                    if cur.fetchone()[0] == len(ids):
                        break
                except psycopg2.errors.UndefinedTable:
                    pass  # the projector has not migrated its schema yet
                pipeline["procs"].assert_alive()
                time.sleep(0.5)
            cur.execute(f"SELECT posting_id, {', '.join(_POSTING_COLS)} FROM postings WHERE posting_id = ANY(%s)",
                        (ids,))
            rows = {r[0]: r[1:] for r in cur.fetchall()}
            cur.execute(f"SELECT posting_id, {', '.join(_CHECKPOINT_COLS)} FROM posting_state_checkpoints "
                        "WHERE posting_id = ANY(%s) ORDER BY posting_id, stage", (ids,))
            checkpoints: dict[str, list] = {}
            for r in cur.fetchall():
                checkpoints.setdefault(r[0], []).append(r[1:])
    finally:
        conn.close()

    def masked(pid: str, value: object) -> str:
        return json.dumps(value, sort_keys=True, default=str).replace(pid, "<id>")

    return {pid: masked(pid, [rows.get(pid), checkpoints.get(pid)]) for pid in ids}


# --- tests -----------------------------------------------------------------------------


def test_topics_on_three_brokers_get_rf3_and_min_isr_2(cluster):
    env = cluster["env"]
    created = _cli(env, "topics", "create")
    assert created.returncode == 0, created.stderr
    described = _cli(env, "topics", "describe", "--json")
    assert described.returncode == 0, described.stderr
    rows = json.loads(described.stdout)
    assert rows and {(r["replication_factor"], r["min.insync.replicas"]) for r in rows} == {(3, "2")}, rows


def test_every_process_is_live_and_ready(pipeline):
    """/healthz and /readyz answer 200 on the router, the workers, the command
    processor and the projector once each has its partitions."""
    procs = pipeline["procs"]
    answers: dict = {}
    for _ in range(600):
        answers = {(name, path): procs.probe(name, path) for name in procs.procs for path in ("/healthz", "/readyz")}
        if all(a is not None and a[0] == 200 for a in answers.values()):
            break
        procs.assert_alive()
        time.sleep(0.2)
    assert all(a is not None and a[0] == 200 for a in answers.values()), answers
    assert all(a[1].startswith("ok: ") for a in answers.values()), answers
    assert "wavestream_" in procs.probe("router", "/metrics")[1]


def test_sigkill_of_the_busiest_leader_loses_and_doubles_nothing(cluster, settings, pipeline):
    u, a, b, kafka = pipeline["u"], pipeline["a"], pipeline["b"], cluster["kafka"]
    clean = [f"{u}-clean-{i:03d}" for i in range(POSTINGS_PER_RUN)]
    _assert_exactly_once(_run(settings, pipeline, clean, per_s=200), clean, a, b)
    expected = _read_models(pipeline, clean)

    victims: list[int] = []

    def kill_and_restart(log: EventLog) -> None:
        leaders = _leaders(settings, [EVENTS, stage_topic(a)])
        victim = leaders.most_common(1)[0][0]
        victims.append(victim)
        assert _node(kafka, victim).kill()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10:  # keep reading while the broker is down
            log.poll()
        kafka.start()  # restarts the node that is not running and waits until it registers

    loss = [f"{u}-loss-{i:03d}" for i in range(POSTINGS_PER_RUN)]
    log = _run(settings, pipeline, loss, during=kill_and_restart)
    assert victims and kafka.is_running()
    _assert_exactly_once(log, loss, a, b)
    _report_restarts(pipeline["procs"])
    got = _read_models(pipeline, loss)
    mismatched = [pid for pid, clean_pid in zip(loss, clean) if got[pid] != expected[clean_pid]]
    assert not mismatched, (len(mismatched), got[mismatched[0]], expected[clean[loss.index(mismatched[0])]])
    # The internal topics the transactions rely on are replicated three ways.
    metadata = build_admin(settings).list_topics(timeout=30)
    for internal in ("__transaction_state", "__consumer_offsets"):
        assert {len(p.replicas) for p in metadata.topics[internal].partitions.values()} == {3}, internal


def test_pipeline_keeps_completing_on_two_brokers(cluster, settings, pipeline):
    u, a, b, kafka = pipeline["u"], pipeline["a"], pipeline["b"], cluster["kafka"]
    victim = _leaders(settings, [EVENTS, stage_topic(a)]).most_common(1)[0][0]
    assert _node(kafka, victim).stop()
    ids = [f"{u}-two-{i:03d}" for i in range(100)]
    log = _run(settings, pipeline, ids, per_s=100)
    _assert_exactly_once(log, ids, a, b)
    _report_restarts(pipeline["procs"])
    rows = _read_models(pipeline, ids)
    assert all('"completed"' in row for row in rows.values())
    assert victim not in _leaders(settings, [EVENTS, stage_topic(a), stage_topic(b)])
