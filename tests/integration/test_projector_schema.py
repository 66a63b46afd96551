"""Read-model migrations, roles and the batch repository against a real PostgreSQL."""

from __future__ import annotations

import secrets
import zlib
from typing import Iterator

import psycopg2
import pytest
from psycopg2 import errors, sql
from psycopg2.extensions import make_dsn

from projector.pgschema import connect_schema, migrate_schema, table_checksums
from projector.records import decode
from projector.repository import Repository
from projector.synthetic import encode_events, synthetic_events
from tests.unit.test_codec import event
from wavestream.codec import AvroCodec
from wavestream.config import PostgresSettings
from wavestream.db import Connection, connect

pytestmark = pytest.mark.integration

SCHEMA = "wavestream"


@pytest.fixture
def conn(fresh_db: str) -> Iterator[Connection]:
    connection = connect(PostgresSettings(fresh_db))
    migrate_schema(connection, SCHEMA)
    try:
        yield connection
    finally:
        connection.close()


def _records(codec: AvroCodec, count: int, partitions: int = 3) -> list:
    pairs = encode_events(codec, synthetic_events(count))
    by_partition: dict[int, int] = {}
    records = []
    for key, value in pairs:
        p = zlib.crc32(key) % partitions
        offset = by_partition.get(p, 0)
        by_partition[p] = offset + 1
        records.append(decode(codec, "events", p, offset, key, value))
    return sorted(records, key=lambda r: (r.partition, r.offset))


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    return AvroCodec()


def test_migrations_create_the_read_models_and_the_legacy_view(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = %s",
                    (SCHEMA,))
        tables = dict(cur.fetchall())
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
                    " AND table_name = 'llm_interactions'", (SCHEMA,))
        legacy = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'execution_events'",
                    (SCHEMA,))
        indexes = " ".join(r[0] for r in cur.fetchall())
    conn.rollback()
    for name in ("postings", "posting_state_checkpoints", "execution_events", "actor_performance", "actors",
                 "projector_errors", "projector_offsets"):
        assert tables[name] == "BASE TABLE"
    for name in ("llm_interactions", "actor_performance_report", "actor_drift"):
        assert tables[name] == "VIEW"
    assert {"id", "posting_id", "conversation_name", "prompt", "response", "model", "duration_ms",
            "prompt_tokens", "completion_tokens", "total_tokens", "status", "created_at"} <= legacy
    assert "(event_id)" in indexes and "(posting_id, created_at)" in indexes and "created_at DESC" in indexes


def test_applying_the_same_batch_twice_changes_nothing(conn, codec):
    repo = Repository(conn, bulk_threshold=500)
    records = _records(codec, 3000)
    first = repo.apply_all(records)
    before = table_checksums(conn, SCHEMA)
    again = repo.apply_all(records)  # redelivery: below the stored offsets
    assert (first.applied, again.applied, again.skipped) == (3000, 0, 3000)
    assert table_checksums(conn, SCHEMA) == before
    with conn.cursor() as cur:  # even with the offsets lost, event_id keeps it a no-op
        cur.execute("DELETE FROM projector_offsets")
    conn.commit()
    third = repo.apply_all(records)
    assert (third.applied, third.duplicates) == (0, 3000)
    after = table_checksums(conn, SCHEMA)
    assert {t: v for t, v in after.items() if t != "projector_offsets"} == {
        t: v for t, v in before.items() if t != "projector_offsets"}


def test_bulk_and_small_batches_build_identical_tables(fresh_db, codec):
    records = _records(codec, 2500)
    sums = []
    for schema, batch, threshold in (("small", 97, 10_000), ("bulk", 2500, 100)):
        conn = connect(PostgresSettings(fresh_db))
        try:
            migrate_schema(conn, schema)
            repo = Repository(conn, bulk_threshold=threshold)
            for i in range(0, len(records), batch):
                repo.apply_all(records[i:i + batch])
            sums.append(table_checksums(conn, schema))
        finally:
            conn.close()
    assert sums[0] == sums[1] and sums[0]["execution_events"][0] == 2500


def test_views_report_interactions_and_actor_performance(conn, codec):
    Repository(conn).apply_all(_records(codec, 1500))
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), count(*) FILTER (WHERE status = 'completed'), min(id) >= 0 FROM llm_interactions")
        total, completed, ids_ok = cur.fetchone()
        cur.execute("SELECT count(*) FROM execution_events WHERE event_type LIKE 'Interaction%%'")
        assert cur.fetchone()[0] == total and completed > 0 and ids_ok
        cur.execute("SELECT calls, successes + failures, p95_duration_ms, tokens_per_s FROM actor_performance_report"
                    " WHERE actor_name = 'smollm2'")
        calls, outcomes, p95, tps = cur.fetchone()
        assert calls == outcomes and p95 is not None and tps > 0
        cur.execute("SELECT versions FROM actor_drift WHERE actor_name = 'smollm2'")
        assert cur.fetchone() == (2,)  # the synthetic stream upgrades the model half-way
    conn.rollback()


def test_a_record_the_database_refuses_is_isolated_into_projector_errors(conn, codec):
    bad = event("InteractionCompleted")
    bad["payload"] = {**bad["payload"], "duration_ms": 2**62}  # sums overflow bigint in actor_performance
    good = _records(codec, 40, partitions=1)
    refused = decode(codec, "events", 0, 40, b"p-1", codec.encode("InteractionEvent", bad))
    twice = decode(codec, "events", 0, 41, b"p-1", codec.encode(
        "InteractionEvent", {**bad, "event_id": "other", "payload": {**bad["payload"]}}))
    result = Repository(conn).apply_all([*good, refused, twice])
    with conn.cursor() as cur:
        cur.execute('SELECT "offset", reason FROM projector_errors ORDER BY 1')
        errors_ = cur.fetchall()
        cur.execute("SELECT next_offset FROM projector_offsets")
        assert cur.fetchone() == (42,)
    conn.rollback()
    assert result.applied == 41 and errors_ == [(41, "apply_failed")]


def test_the_reader_role_can_read_but_not_write(conn, fresh_db, pg_dsn):
    user, password = f"reader_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    admin = psycopg2.connect(pg_dsn)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s IN ROLE wavestream_reader").format(
                sql.Identifier(user)), (password,))
        reader = connect_schema(PostgresSettings(make_dsn(fresh_db, user=user, password=password)), SCHEMA)
        try:
            with reader.cursor() as cur:
                cur.execute("SELECT count(*) FROM postings")
                cur.execute("SELECT count(*) FROM llm_interactions")
            reader.rollback()
            for statement in ("INSERT INTO projector_errors (projection, topic, partition, \"offset\", reason,"
                              " detail) VALUES ('x', 'events', 0, 0, 'r', 'd')",
                              "UPDATE postings SET status = 'failed'", "DELETE FROM execution_events",
                              "TRUNCATE projector_offsets", "CREATE TABLE sneaky (x int)"):
                with pytest.raises(errors.InsufficientPrivilege), reader.cursor() as cur:
                    cur.execute(statement)
                reader.rollback()
        finally:
            reader.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))
        admin.close()
