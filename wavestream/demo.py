"""``make demo``: start the embedded stack, create the topics, and send a posting and its
``PostingReceived`` event through the real topics as Avro inside a Kafka transaction,
then read them back with a ``read_committed`` consumer and show them.

Stage workers running the model and the projector are not part of the demo until the
worker and projector issues land. Services this run started are stopped at the end.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid

from wavestream import PROJECT_ROOT
from wavestream.clients import build_admin, build_consumer, build_producer
from wavestream.codec import AvroCodec
from wavestream.config import KafkaSettings, LogSettings, PostgresSettings, StackSettings
from wavestream.db import connect
from wavestream.events import make_event, new_correlation_id, utcnow
from wavestream.exceptions import WavestreamError
from wavestream.logs import configure_logging
from wavestream.migrations import migrate
from wavestream.stack.manager import Stack
from wavestream.topics import EVENTS, POSTINGS, create_topics, topic_specs, workflow_stages

log = logging.getLogger("wavestream.demo")

SAMPLE = {
    "title": "Senior Data Engineer",
    "company": "Acme Logistics",
    "location": "Berlin (hybrid)",
    "description": "Build streaming pipelines with Kafka and PostgreSQL; Python and SQL required.",
    "url": None,
    "source": "demo",
    "summary": None,
    "attributes": {},
}


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _round_trip(settings: KafkaSettings) -> list[tuple[str, dict]]:
    codec = AvroCodec.from_settings(settings)
    posting = {**SAMPLE, "posting_id": f"demo-{uuid.uuid4().hex[:8]}", "submitted_at": utcnow()}
    correlation = new_correlation_id()
    event = make_event(
        "PostingReceived",
        {"posting": posting},
        posting_id=posting["posting_id"],
        stage=None,
        attempt=1,
        correlation_id=correlation,
        causation_id=posting["posting_id"],
        worker_id="demo",
    )
    producer = build_producer(settings, transactional_id=f"wavestream-demo-{uuid.uuid4().hex[:6]}")
    producer.init_transactions(30)
    producer.begin_transaction()
    key = posting["posting_id"].encode()
    producer.produce(POSTINGS, key=key, value=codec.encode("Posting", posting, topic=POSTINGS))
    producer.produce(EVENTS, key=key, value=codec.encode("InteractionEvent", event, topic=EVENTS))
    producer.commit_transaction(30)

    consumer = build_consumer(settings, f"wavestream-demo-{uuid.uuid4().hex[:6]}")
    consumer.subscribe([POSTINGS, EVENTS])
    found: list[tuple[str, dict]] = []
    try:
        for _ in range(120):
            msg = consumer.poll(0.5)
            if msg is None or msg.error() or msg.key() != key:
                continue
            decoded = codec.decode(msg.value())
            found.append((msg.topic(), decoded.value))
            if len(found) == 2:
                break
    finally:
        consumer.close()
    if len(found) != 2:
        raise WavestreamError(f"round trip incomplete: read back {len(found)} of 2 records")
    return found


def run() -> None:
    """Raises: WavestreamError when any step fails (the message names it)."""
    stack = Stack(StackSettings.from_env())
    already = stack.status()
    started_here = not (already.kafka_running or already.postgres_running)
    status = stack.up()
    try:
        for line in status.lines():
            _say(line)
        os.environ.update(stack.env())
        conn = connect(PostgresSettings.from_env())
        try:
            applied = migrate(conn)
        finally:
            conn.close()
        _say(f"migrations applied: {applied or 'none (up to date)'}")
        settings = KafkaSettings.from_env()
        stages = workflow_stages(PROJECT_ROOT / "workflows" / "default.yaml")
        outcomes = create_topics(build_admin(settings), topic_specs(stages, settings))
        _say(f"topics: {sum(v == 'created' for v in outcomes.values())} created, "
             f"{sum(v == 'exists' for v in outcomes.values())} already there")
        for topic, value in _round_trip(settings):
            _say(f"\n--- read back from '{topic}' (read_committed, Avro single-object encoding) ---")
            _say(json.dumps(value, indent=2, default=str))
    finally:
        if started_here:
            _say(f"\nstopping what the demo started: {', '.join(stack.down()) or 'nothing'}")


def main() -> None:
    configure_logging(LogSettings(level=os.environ.get("WAVESTREAM_LOG_LEVEL", "WARNING"), fmt="text"))
    try:
        run()
    except WavestreamError as exc:
        _say(f"error: {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
