"""Deterministic synthetic ``InteractionEvent`` streams for tests and benchmarks.

:func:`synthetic_events` emits the journeys of the default workflow (validate ->
summarize -> extract_skills -> score -> done), with retried failures, postings that end
on the error path, rejections, cancellations, a human decision, circuit events and a
model upgrade half-way (actor drift), interleaved across postings like concurrent
workers would write them. The same arguments always give the same events.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator

from wavestream.codec import AvroCodec
from wavestream.config import KafkaSettings
from wavestream.events import make_event, sha256_hex

T0 = datetime(2025, 1, 6, 8, 0, 0, tzinfo=timezone.utc)
STAGES = ("validate_posting", "summarize", "extract_skills", "score")
_MODELS = (("smollm2-135m-q8.gguf", "a1" * 32), ("smollm2-135m-q4.gguf", "b2" * 32))
_SKILLS = ("python", "sql", "kafka", "postgresql", "docker", "spark", "airflow", "go")


def _journey(i: int, rng: random.Random, start: datetime, upgraded: bool) -> list[tuple[str, str | None, int, dict]]:
    """(event_type, stage, attempt, payload) of posting number ``i``."""
    pid = f"p-{i:07d}"
    title = rng.choice(("Data Engineer", "Backend Developer", "ML Engineer", "SRE"))
    posting = {"posting_id": pid, "title": f"{title} {i}", "company": f"Company {i % 97}",
               "location": rng.choice((None, "Berlin", "Remote")), "description": f"Build things {i} " * 8,
               "url": None, "source": f"postings.jsonl:{i + 1}", "submitted_at": start,
               "summary": None, "attributes": {"n": str(i)}}
    roll = rng.random()
    if roll < 0.02:
        return [("PostingRejected", None, 0, {"reason": "no description", "source_file": "postings.jsonl",
                                               "line": i + 1, "raw": "{}"})]
    out: list[tuple[str, str | None, int, dict]] = [("PostingReceived", None, 1, {"posting": posting})]
    model_file, model_sha = _MODELS[1 if upgraded else 0]
    previous = None
    for stage in STAGES:
        out.append(("PostingRouted", stage, 1, {"from_stage": previous, "to_stage": stage, "condition": "*"}))
        if roll < 0.04 and stage == "summarize":
            out.append(("PostingCancelled", stage, 0, {"reason": "operator cancelled"}))
            return out
        attempt = 1
        kind = "script" if stage == "validate_posting" else "llm"
        actor = "validate_posting" if kind == "script" else "smollm2"
        if rng.random() < 0.08:
            out.append(("InteractionFailed", stage, attempt, {
                "error_class": "retryable", "error_type": "TimeoutError", "message": f"timed out after {60 + i % 7}s",
                "duration_ms": 60000, "actor_name": actor, "actor_kind": kind, "will_retry": True}))
            attempt += 1
        if roll < 0.07 and stage == "extract_skills":
            out.append(("InteractionFailed", stage, attempt, {
                "error_class": "permanent", "error_type": "ContractError", "message": "output is not a JSON array",
                "duration_ms": 900 + i % 50, "actor_name": actor, "actor_kind": kind, "will_retry": False}))
            out.append(("PostingRouted", "error_handler", 1, {"from_stage": stage, "to_stage": "error_handler",
                                                             "condition": "[FAILED]"}))
            out.append(("PostingCompleted", "error_handler", 1, {"final_stage": "error_handler", "status": "failed"}))
            return out
        if stage == "summarize":
            output = f"Summary of posting {i}: a {title.lower()} role."
        elif stage == "extract_skills":
            output = '["' + '", "'.join(rng.sample(_SKILLS, 3)) + '"]'
        elif stage == "score":
            output = f"{rng.randint(1, 10)} - clear role description"
        else:
            output = "valid"
        llm = kind == "llm"
        duration = rng.randint(5, 20) if not llm else rng.randint(400, 4000)
        out.append(("InteractionCompleted", stage, attempt, {
            "output": output, "output_sha256": sha256_hex(output), "duration_ms": duration,
            "prompt_tokens": rng.randint(50, 400) if llm else 0, "completion_tokens": rng.randint(5, 90) if llm else 0,
            "actor_name": actor, "actor_kind": kind, "model_file": model_file if llm else "validate.py",
            "model_sha256": model_sha if llm else "c3" * 32, "prompt_sha256": sha256_hex(f"{stage}{i}")}))
        if roll > 0.97 and stage == "score":
            out.append(("AwaitingDecision", "review", 1, {"stage": "review", "prompt": "Publish?"}))
            out.append(("DecisionRecorded", "review", 1, {"decision": "approve", "decided_by": "alice"}))
        previous = stage
    out.append(("PostingCompleted", "score", 1, {"final_stage": "score", "status": "done"}))
    return out


def synthetic_events(count: int, *, seed: int = 7, start: datetime = T0, prefix: str = "") -> list[dict[str, Any]]:
    """Exactly ``count`` events (journeys cut at the end), deterministic for a seed."""
    return list(iter_synthetic_events(count, seed=seed, start=start, prefix=prefix))


def iter_synthetic_events(count: int, *, seed: int = 7, start: datetime = T0,
                          prefix: str = "") -> Iterator[dict[str, Any]]:
    """:func:`synthetic_events` one at a time (for streams too large to hold)."""
    rng = random.Random(seed)
    active: list[Iterator[tuple[int, tuple]]] = []
    emitted = 0
    i = 0
    clock = start
    while emitted < count:
        while len(active) < 16:
            steps = _journey(i, rng, clock, upgraded=emitted > count // 2)
            active.append(iter([(i, step) for step in steps]))
            i += 1
            if emitted > 0 and i % 50 == 0 and emitted < count:
                yield _circuit(emitted, clock, "CircuitOpened" if i % 100 else "CircuitClosed")
                emitted += 1
        k = rng.randrange(len(active))
        step = next(active[k], None)
        if step is None:
            active.pop(k)
            continue
        if emitted >= count:
            break
        n, (kind, stage, attempt, payload) = step
        clock += timedelta(milliseconds=rng.randint(1, 400))
        pid = f"{prefix}p-{n:07d}"
        if kind == "PostingReceived":
            payload = {"posting": {**payload["posting"], "posting_id": pid}}
        yield make_event(kind, payload, posting_id=pid, stage=stage, attempt=attempt,
                         correlation_id=f"corr-{prefix}{n}", causation_id=f"cmd-{prefix}{n}-{stage}-{attempt}",
                         worker_id=f"{stage or 'ingest'}-0", command_id=f"cmd-{prefix}{n}-{stage}-{attempt}",
                         occurred_at=clock, workflow_sha256="ab" * 32)
        emitted += 1


def _circuit(n: int, at: datetime, kind: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"actor_name": "smollm2"}
    if kind == "CircuitOpened":
        payload.update(failures=5, open_until=at + timedelta(seconds=30))
    return make_event(kind, payload, posting_id="", stage=None, attempt=0, correlation_id="circuit",
                      causation_id=f"circuit-{n}", worker_id="summarize-0", occurred_at=at)


def encode_events(codec: AvroCodec, events: Iterable[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs: key = posting_id (the actor name for actor-only events)."""
    return list(iter_encoded(codec, events))


def iter_encoded(codec: AvroCodec, events: Iterable[dict[str, Any]]) -> Iterator[tuple[bytes, bytes]]:
    for e in events:
        key = e["posting_id"] or e["payload"].get("actor_name", "")
        yield key.encode(), codec.encode("InteractionEvent", e)


def produce(settings: KafkaSettings, topic: str, pairs: Iterable[tuple[bytes, bytes | None]], *,
            transactional_id: str | None = None) -> int:
    """Produce (key, value) pairs to ``topic`` (in one transaction when an id is given);
    returns how many. Raises KafkaException when delivery fails."""
    from confluent_kafka import KafkaException

    from wavestream.clients import build_producer

    producer = build_producer(settings, transactional_id=transactional_id, **{"linger.ms": 20})
    failures: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    count = 0
    if transactional_id:
        producer.init_transactions(30)
        producer.begin_transaction()
    for key, value in pairs:
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
    if transactional_id:
        producer.commit_transaction(60)
    if producer.flush(60) != 0 or failures:
        raise KafkaException(f"delivery to {topic} failed: {failures[:3]}")
    return count
