"""Transient database errors never drop an event; only data errors are bad records.

A lock held by another session (the projector's ``lock_timeout`` makes it fail with
SQLSTATE 55P03), a read-only transaction (25006) and a full table rewrite are the
database's state, not the records': the projector redoes the batch after a backoff and
every event ends up applied, none in ``projector_errors``. A record that breaks a
constraint (23514) or overflows a column (22003) is still isolated into
``projector_errors`` while the rest of its batch is applied.
"""

from __future__ import annotations

import threading

import psycopg2
import pytest
from psycopg2.extensions import make_dsn

from projector.exceptions import RecordRefused, TransientDatabaseError
from projector.loop import Projector, ProjectorOptions
from projector.pgschema import connect_schema, migrate_schema
from projector.records import decode
from projector.repository import Repository
from projector.synthetic import encode_events, produce, synthetic_events
from tests.unit.test_codec import event
from wavestream.clients import build_admin
from wavestream.codec import AvroCodec
from wavestream.config import PostgresSettings
from wavestream.db import connect
from wavestream.topics import TopicSpec, create_topics

pytestmark = pytest.mark.integration

SCHEMA = "wavestream"
EVENTS = 1500


@pytest.fixture
def db(fresh_db: str) -> str:
    conn = connect(PostgresSettings(fresh_db))
    try:
        migrate_schema(conn, SCHEMA)
    finally:
        conn.close()
    return fresh_db


def _count(dsn: str, table: str) -> int:
    conn = connect_schema(PostgresSettings(dsn), SCHEMA)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed table names of this test
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_a_lock_timeout_redoes_the_batch_and_drops_no_event(kafka_settings, db, unique):
    topic = f"events-{unique}"
    create_topics(build_admin(kafka_settings), [TopicSpec(topic, 3, 1)])
    produce(kafka_settings, topic, encode_events(AvroCodec(), synthetic_events(EVENTS, seed=5)))
    # The projector's session gives up on a lock after 100 ms: SQLSTATE 55P03.
    projector_dsn = make_dsn(db, options="-c lock_timeout=100")
    holder = psycopg2.connect(db)
    with holder.cursor() as cur:
        cur.execute(f"LOCK TABLE {SCHEMA}.execution_events IN ACCESS EXCLUSIVE MODE")
    projector = Projector(kafka_settings, PostgresSettings(projector_dsn), ProjectorOptions(
        topic=topic, group_id=f"g-{unique}", until_caught_up=True, batch_size=200, batch_timeout_s=0.2,
        backoff_initial_s=0.1, backoff_max_s=0.5))
    failures: list[BaseException] = []

    def run() -> None:
        try:
            projector.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        # Hold the lock until the projector has met it (as an outage, or, before the
        # fix, as records it stored as errors), then a while longer: several retries.
        while thread.is_alive() and projector.stats.outages < 3 and projector.stats.errors == 0:
            thread.join(0.05)
        holder.rollback()
        thread.join(300)
    finally:
        holder.close()
        projector.request_stop()
        thread.join(60)
    assert not thread.is_alive() and not failures, failures
    assert _count(db, "projector_errors") == 0
    assert projector.stats.errors == 0 and projector.stats.outages >= 3
    assert _count(db, "execution_events") == EVENTS


def test_a_read_only_session_is_retried_not_recorded(kafka_settings, db, unique):
    """25006 (read-only transaction, as after a failover to a replica) is transient."""
    codec = AvroCodec()
    records = _records(codec, 30)
    conn = connect_schema(PostgresSettings(make_dsn(db, options="-c default_transaction_read_only=on")), SCHEMA)
    try:
        with pytest.raises(TransientDatabaseError) as info:
            Repository(conn).apply_all(records)
        assert info.value.sqlstate == "25006"
    finally:
        conn.close()
    assert _count(db, "projector_errors") == 0 and _count(db, "execution_events") == 0


def _records(codec: AvroCodec, count: int) -> list:
    pairs = encode_events(codec, synthetic_events(count, seed=3))
    return [decode(codec, "events", 0, offset, key, value) for offset, (key, value) in enumerate(pairs)]


def _evil(codec: AvroCodec, offset: int):
    """A record the constraint :func:`_forbid_evil` adds refuses (SQLSTATE 23514)."""
    evil = {**event("PostingRouted", {"from_stage": None, "to_stage": "x", "condition": "*"}),
            "posting_id": "evil", "event_id": f"evil-{offset}"}
    return decode(codec, "events", 0, offset, b"evil", codec.encode("InteractionEvent", evil))


def _forbid_evil(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE execution_events ADD CONSTRAINT no_evil CHECK (posting_id <> 'evil')")
    conn.commit()


def test_a_constraint_violation_is_still_isolated(db):
    """23514 (check violation) is the record's data: that record alone becomes a
    projector_errors row, the rest of the batch is applied."""
    codec = AvroCodec()
    good = _records(codec, 40)
    refused = _evil(codec, 40)
    conn = connect_schema(PostgresSettings(db), SCHEMA)
    try:
        _forbid_evil(conn)
        repo = Repository(conn)
        with pytest.raises(RecordRefused) as info:
            repo.apply([refused])
        assert info.value.sqlstate == "23514"
        result = repo.apply_all([*good, refused])
        with conn.cursor() as cur:
            cur.execute('SELECT "offset", reason, detail FROM projector_errors')
            rows = cur.fetchall()
            cur.execute("SELECT next_offset FROM projector_offsets")
            assert cur.fetchone() == (41,)
        conn.rollback()
    finally:
        conn.close()
    assert result.applied == 40 and result.errors == 1
    assert [(o, r) for o, r, _ in rows] == [(40, "apply_failed")] and "23514" in rows[0][2]


def test_a_failure_while_recording_a_refused_record_is_transient(db):
    """projector_errors cannot be written (locked here): the refused record is not
    skipped, the batch fails as transient and is redone later, nothing is lost."""
    codec = AvroCodec()
    refused = _evil(codec, 0)
    holder = psycopg2.connect(db)
    conn = connect_schema(PostgresSettings(make_dsn(db, options="-c lock_timeout=100")), SCHEMA)
    try:
        _forbid_evil(conn)
        with holder.cursor() as cur:
            cur.execute(f"LOCK TABLE {SCHEMA}.projector_errors IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(TransientDatabaseError) as info:
            Repository(conn).apply_all([refused])
        assert info.value.sqlstate == "55P03"
        holder.rollback()
        result = Repository(conn).apply_all([refused])  # the redo, once the lock is gone
    finally:
        holder.close()
        conn.close()
    assert result.errors == 1
    assert _count(db, "projector_errors") == 1 and _count(db, "projector_offsets") == 1
