"""A partition the projector paused (its database recovery pauses every assigned
partition) keeps flowing after a rebalance: librdkafka keeps the application's pause
flag across a revoke and a re-assign, so the projector resumes a partition when it is
revoked or (re)assigned. Before that fix the partition that moved away during the
recovery and came back stayed paused for good."""

from __future__ import annotations

import threading
import time

import pytest

from projector.loop import Projector, ProjectorOptions
from projector.pgschema import migrate_schema
from projector.synthetic import encode_events, produce, synthetic_events
from wavestream.clients import build_admin, build_consumer
from wavestream.codec import AvroCodec
from wavestream.config import PostgresSettings
from wavestream.db import connect
from wavestream.topics import TopicSpec, create_topics

pytestmark = pytest.mark.integration

#: Generous bound for a rebalance on a loaded machine; reaching it fails the test.
REBALANCE_BOUND_S = 120.0


def _poll_until(consumer, condition, what: str) -> list:
    """Poll ``consumer`` (serving its rebalance callbacks) until ``condition()``;
    returns the messages polled meanwhile."""
    messages = []
    deadline = time.monotonic() + REBALANCE_BOUND_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        messages += [m for m in consumer.consume(num_messages=100, timeout=0.2) if m.error() is None]
    return messages


def test_a_paused_partition_flows_again_after_it_is_revoked_and_reassigned(kafka_settings, fresh_db, unique):
    topic, group = f"events-{unique}", f"g-{unique}"
    create_topics(build_admin(kafka_settings), [TopicSpec(topic, 2, 1)])
    produce(kafka_settings, topic, encode_events(AvroCodec(), synthetic_events(200, seed=4)))
    conn = connect(PostgresSettings(fresh_db))
    try:
        migrate_schema(conn, "wavestream")
    finally:
        conn.close()
    projector = Projector(kafka_settings, PostgresSettings(fresh_db), ProjectorOptions(topic=topic, group_id=group))
    strategy = {"partition.assignment.strategy": "cooperative-sticky"}
    consumer = projector._consumer = build_consumer(kafka_settings, group, **strategy)
    other = build_consumer(kafka_settings, group, **strategy)
    leave = threading.Event()
    holding = threading.Event()

    def second_member() -> None:  # joins, takes a partition, leaves when told
        other.subscribe([topic])
        while not leave.is_set():
            other.consume(num_messages=10, timeout=0.2)
            if len(other.assignment()) == 1:
                holding.set()
        other.close()

    member = threading.Thread(target=second_member, daemon=True)
    try:
        consumer.subscribe([topic], on_assign=projector._on_assign, on_revoke=projector._on_revoke,
                           on_lost=projector._on_revoke)
        _poll_until(consumer, lambda: len(consumer.assignment()) == 2, "the first assignment")
        consumer.pause(consumer.assignment())  # what the recovery does first
        member.start()
        _poll_until(consumer, lambda: len(consumer.assignment()) == 1 and holding.is_set(),
                    "a partition to move to the second member")
        (kept,) = {tp.partition for tp in consumer.assignment()}
        moved = 1 - kept
        consumer.resume(consumer.assignment())  # the recovery ends: it resumes what it holds now
        leave.set()
        member.join(REBALANCE_BOUND_S)
        seen = {m.partition() for m in _poll_until(consumer, lambda: len(consumer.assignment()) == 2,
                                                   "the partition to come back")}
        deadline = time.monotonic() + REBALANCE_BOUND_S
        while moved not in seen and time.monotonic() < deadline:
            seen |= {m.partition() for m in consumer.consume(num_messages=100, timeout=0.5) if m.error() is None}
        # Back on this member it was seeked to its stored offset (none: the beginning).
        assert moved in seen, f"partition {moved} came back but delivered nothing: it stayed paused"
    finally:
        leave.set()
        member.join(60) if member.is_alive() else None
        consumer.close()
