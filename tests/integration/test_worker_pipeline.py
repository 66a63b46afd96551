"""A 3-stage workflow on a real broker with script actors, one worker process per stage
plus the ingest router: exactly once, retries that do not block a partition, the error
handler, dead letters."""

from __future__ import annotations

import pytest

from tests.integration.test_worker_helpers import (
    EventLog, Procs, TopicReader, counts, create_workflow_topics, posting, produce_commands, produce_postings,
    script_stage, write_workflow,
)
from consumers.deadletter import header

pytestmark = pytest.mark.integration

FLAKY = "tests.integration.test_worker_helpers:flaky"


@pytest.fixture(scope="module")
def pipeline(kafka_settings, kafka_bootstrap, tmp_path_factory):
    """Workflow a -> b -> done, failures -> h; router + one worker per stage, running
    for the whole module."""
    import uuid

    u = uuid.uuid4().hex[:8]
    tmp = tmp_path_factory.mktemp("pipeline")
    a, b, h = f"a_{u}", f"b_{u}", f"h_{u}"
    retry = {"max_attempts": 3, "backoff_base_ms": 300, "backoff_cap_ms": 2000}
    path = write_workflow(tmp, f"pipe-{u}", {
        a: script_stage(FLAKY, b, error=h, retry=retry),
        b: script_stage("echo", "done", error=h, prompt="{outputs.%s}|{posting.title}" % a),
        h: script_stage("consumers.actors.script:record_failure", "done"),
    }, error_handler=h)
    create_workflow_topics(kafka_settings, path)
    procs = Procs(kafka_bootstrap, tmp)
    try:
        procs.start("router", "router", "--workflow", str(path), "--instance-id", "r1", "--from", "earliest")
        for stage in (a, b, h):
            procs.start(stage, "worker", "--stage", stage, "--workflow", str(path), "--instance-id", "1",
                        "--batch", "50", "--batch-ms", "2000")
        yield {"path": path, "a": a, "b": b, "h": h, "u": u, "procs": procs}
        procs.terminate_all()
    finally:
        procs.kill_all()


def test_200_postings_complete_exactly_once(pipeline, kafka_settings):
    u, a, b = pipeline["u"], pipeline["a"], pipeline["b"]
    ids = [f"{u}-bulk-{i:03d}" for i in range(200)]
    log = EventLog(kafka_settings, ids)
    try:
        produce_postings(kafka_settings, [posting(i) for i in ids])
        log.wait_for(lambda l: len({e["posting_id"] for e in l.of("PostingCompleted")}) == 200,
                     pipeline["procs"], what="200 completions")
        log.settle()
    finally:
        log.close()
    seen = counts(log.events)
    for pid in ids:
        for key in [(None, "PostingReceived"), (None, "PostingRouted"), (a, "InteractionCompleted"),
                    (a, "PostingRouted"), (b, "InteractionCompleted"), (b, "PostingCompleted")]:
            assert seen[(pid, *key)] == 1, (pid, key, seen[(pid, *key)])
    assert all(n == 1 for n in seen.values()), [k for k, n in seen.items() if n != 1]
    assert len({e["event_id"] for e in log.events}) == len(log.events)
    done = log.of("InteractionCompleted", b)
    assert {e["payload"]["output"] for e in done} == {f"Title {pid}|Title {pid}" for pid in ids}
    assert all(e["workflow_sha256"] and e["worker_id"] for e in log.events)
    assert all(e["payload"]["model_sha256"] for e in log.of("InteractionCompleted"))


def test_fail2_completes_on_attempt_3_without_delaying_the_partition(pipeline, kafka_settings):
    u, a = pipeline["u"], pipeline["a"]
    flaky = posting(f"{u}-flaky", attributes={"mode": "flaky"})
    behind = [posting(f"{u}-behind-{i}") for i in range(10)]
    ids = [flaky["posting_id"]] + [p["posting_id"] for p in behind]
    log = EventLog(kafka_settings, ids)
    try:
        produce_commands(kafka_settings, pipeline["path"], a, [flaky, *behind], partition=0)
        log.wait_for(lambda l: len(l.of("PostingCompleted")) == len(ids), pipeline["procs"], what="completions")
        log.settle()
    finally:
        log.close()
    mine = [e for e in log.events if e["posting_id"] == flaky["posting_id"] and e["stage"] == a]
    failures = sorted((e for e in mine if e["event_type"] == "InteractionFailed"), key=lambda e: e["attempt"])
    assert [(e["attempt"], e["payload"]["will_retry"]) for e in failures] == [(1, True), (2, True)]
    (done,) = [e for e in mine if e["event_type"] == "InteractionCompleted"]
    assert done["attempt"] == 3
    others = [e for e in log.of("InteractionCompleted", a) if e["posting_id"] != flaky["posting_id"]]
    assert len(others) == 10 and all(e["attempt"] == 1 for e in others)
    # Order, not durations: every posting behind the flaky one finished stage a before the
    # flaky one's second attempt even ran.
    assert max(e["occurred_at"] for e in others) < failures[1]["occurred_at"] < done["occurred_at"]
    assert all(n == 1 for k, n in counts(log.events).items() if k[2] != "InteractionFailed")


def test_fail_permanent_reaches_the_error_handler(pipeline, kafka_settings):
    u, a, h = pipeline["u"], pipeline["a"], pipeline["h"]
    bad = posting(f"{u}-permanent", attributes={"mode": "permanent"})
    log = EventLog(kafka_settings, [bad["posting_id"]])
    try:
        produce_commands(kafka_settings, pipeline["path"], a, [bad])
        log.wait_for(lambda l: len(l.of("PostingCompleted")) == 1, pipeline["procs"], what="completion")
        log.settle(5)
    finally:
        log.close()
    (failed,) = log.of("InteractionFailed", a)
    assert failed["payload"]["error_class"] == "permanent" and failed["payload"]["will_retry"] is False
    (routed,) = log.of("PostingRouted", a)
    assert routed["payload"] == {"from_stage": a, "to_stage": h, "condition": "[FAILED]"}
    (handled,) = log.of("InteractionCompleted", h)
    assert handled["payload"]["output"] == f"{a} [FAILED]: PermanentActorError: fail-permanent: fails on purpose"
    (completed,) = log.of("PostingCompleted")
    assert completed["payload"] == {"final_stage": h, "status": "failed"}


def test_poison_record_goes_to_deadletter_and_the_worker_keeps_going(pipeline, kafka_settings):
    u, a = pipeline["u"], pipeline["a"]
    after = posting(f"{u}-after-poison")
    dead = TopicReader(kafka_settings, "deadletter")
    log = EventLog(kafka_settings, [after["posting_id"]])
    try:
        produce_commands(kafka_settings, pipeline["path"], a, [after], partition=1,
                         raw_before={after["posting_id"]: b"not avro at all"})
        log.wait_for(lambda l: len(l.of("PostingCompleted")) == 1, pipeline["procs"], what="completion")
        mine = []
        for _ in range(300):
            dead.poll()
            mine = [m for m in dead.records if header(m.headers(), "origin.topic") == f"stage.{a}"]
            if mine:
                break
    finally:
        log.close()
        dead.close()
    (record,) = mine
    assert record.value() == b"not avro at all" and record.key() == after["posting_id"].encode()
    assert header(record.headers(), "error.class") == "CodecError"
    assert header(record.headers(), "error.reason") == "bad_magic"
    assert header(record.headers(), "origin.partition") == "1"
    assert int(header(record.headers(), "origin.offset")) >= 0
    pipeline["procs"].assert_alive()
