"""The projector loop against a real Kafka topic and a real PostgreSQL."""

from __future__ import annotations

import copy
import io
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request

import fastavro
import pytest
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from projector.loop import Projector, ProjectorOptions
from projector.pgschema import connect_schema, migrate_schema, table_checksums
from projector.synthetic import encode_events, produce, synthetic_events
from tests.unit.test_codec import RECORDS, event
from wavestream import PROJECT_ROOT
from wavestream.clients import build_admin
from wavestream.codec import AvroCodec
from wavestream.config import PostgresSettings
from wavestream.db import connect
from wavestream.topics import TopicSpec, create_topics

pytestmark = pytest.mark.integration

SCHEMA = "wavestream"


@pytest.fixture
def topic(kafka_settings, unique) -> str:
    name = f"events-{unique}"
    create_topics(build_admin(kafka_settings), [TopicSpec(name, 3, 1)])
    return name


@pytest.fixture
def db(fresh_db) -> str:
    conn = connect(PostgresSettings(fresh_db))
    try:
        migrate_schema(conn, SCHEMA)
    finally:
        conn.close()
    return fresh_db


def run_projector(kafka_settings, dsn: str, topic: str, group: str, **options) -> Projector:
    projector = Projector(kafka_settings, PostgresSettings(dsn), ProjectorOptions(
        topic=topic, group_id=group, until_caught_up=True, batch_timeout_s=0.2, **options))
    projector.run()
    return projector


def query(dsn: str, statement: str, params: tuple = ()) -> list[tuple]:
    conn = connect_schema(PostgresSettings(dsn), SCHEMA)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall()
    finally:
        conn.close()


def future_event_bytes(codec: AvroCodec) -> bytes:
    """An event of a type added by a newer schema version than this projector knows."""
    raw = copy.deepcopy(codec.schemas.current["InteractionEvent"].raw)
    fields = {f["name"]: f for f in raw["fields"]}
    symbols = fields["event_type"]["type"]["symbols"]
    symbols.insert(symbols.index("Unknown"), "PostingArchived")
    fields["payload"]["type"].append({"type": "record", "name": "PostingArchived",
                                      "fields": [{"name": "archive", "type": "string"}]})
    parsed = parse_schema(raw)
    digest = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
    value = {**event("PostingCancelled"), "event_id": "future-1", "event_type": "PostingArchived",
             "payload": ("wavestream.v1.PostingArchived", {"archive": "cold"})}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, value)
    return b"\xc3\x01" + digest + buf.getvalue()


def test_corrupt_and_unknown_records_land_in_projector_errors_and_the_loop_goes_on(kafka_settings, topic, db,
                                                                                   unique):
    codec = AvroCodec()
    events = synthetic_events(600, seed=11)
    bad = [b"\xc3\x01 corrupt body that is no avro", codec.encode("Posting", RECORDS["Posting"]),
           future_event_bytes(codec), b""]
    pairs = encode_events(codec, events[:300]) + [(b"p-0000001", v) for v in bad] + encode_events(codec, events[300:])
    produce(kafka_settings, topic, pairs)

    projector = run_projector(kafka_settings, db, topic, f"g-{unique}", batch_size=64)

    assert projector.stats.applied == 600 and projector.stats.errors == 4
    assert query(db, "SELECT count(*) FROM execution_events") == [(600,)]
    rows = query(db, "SELECT reason, partition, \"offset\", raw IS NOT NULL FROM projector_errors ORDER BY reason")
    assert [r[0] for r in rows] == ["empty_record", "unexpected_type", "unknown_schema", "unknown_schema"]
    partition = rows[0][1]
    assert all(r[1] == partition for r in rows) and len({r[2] for r in rows}) == 4
    total = query(db, "SELECT sum(next_offset) FROM projector_offsets WHERE topic = %s", (topic,))[0][0]
    assert total == 604  # every record, errors included, is behind the stored offsets


def test_two_instances_share_the_partitions_and_build_the_same_tables(kafka_settings, topic, db, fresh_db,
                                                                      pg_dsn, unique):
    codec = AvroCodec()
    produce(kafka_settings, topic, encode_events(codec, synthetic_events(3000, seed=5)), transactional_id=f"t-{unique}")
    # Reference: one instance alone, in a schema of its own.
    conn = connect(PostgresSettings(db))
    try:
        migrate_schema(conn, "reference")
    finally:
        conn.close()
    reference = Projector(kafka_settings, PostgresSettings(db), ProjectorOptions(
        schema="reference", topic=topic, group_id=f"ref-{unique}", until_caught_up=True, batch_timeout_s=0.2))
    reference.run()

    # Two instances of one group; the second joins while the first runs (a rebalance).
    group = f"g-{unique}"
    first = Projector(kafka_settings, PostgresSettings(db), ProjectorOptions(
        topic=topic, group_id=group, batch_size=50, batch_timeout_s=0.2))
    second = Projector(kafka_settings, PostgresSettings(db), ProjectorOptions(
        topic=topic, group_id=group, batch_size=50, batch_timeout_s=0.2))
    threads = [threading.Thread(target=p.run, daemon=True) for p in (first, second)]
    try:
        threads[0].start()
        threads[1].start()
        conn = connect_schema(PostgresSettings(db), SCHEMA)
        try:
            while True:
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM execution_events")
                    applied = cur.fetchone()[0]
                conn.rollback()
                if applied == 3000:
                    break
                threads[0].join(0.2)
        finally:
            conn.close()
    finally:
        first.request_stop()
        second.request_stop()
        for thread in threads:
            thread.join(60)
    assert not any(t.is_alive() for t in threads)
    conn = connect(PostgresSettings(db))
    try:
        live, ref = table_checksums(conn, SCHEMA), table_checksums(conn, "reference")
    finally:
        conn.close()
    assert live["execution_events"][0] == 3000
    assert {t: v for t, v in live.items() if t != "projector_offsets"} == {
        t: v for t, v in ref.items() if t != "projector_offsets"}


def test_sigterm_finishes_the_batch_and_exits_cleanly(kafka_settings, topic, db, unique):
    codec = AvroCodec()
    produce(kafka_settings, topic, encode_events(codec, synthetic_events(500, seed=2)))
    env = {**os.environ, "WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
           "WAVESTREAM_PG_DSN": db, "WAVESTREAM_LOG_LEVEL": "INFO", "WAVESTREAM_LOG_FORMAT": "json"}
    from wavestream.stack.process import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "wavestream.cli", "projector", "--topic", topic,
                             "--group", f"g-{unique}", "--batch-size", "50", "--batch-timeout", "0.2", "--no-migrate",
                             "--metrics-port", str(port)],
                            cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for_offsets(db, 500, proc)
        applied = 'wavestream_projector_events_total{outcome="applied"} 500.0'
        metrics = ""
        while proc.poll() is None and applied not in metrics:  # counted just after the commit
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
                metrics = response.read().decode()
        assert applied in metrics and "wavestream_projector_batch_seconds_bucket" in metrics
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert json.loads(out.strip().splitlines()[-1])["applied"] == 500
    assert '"message": "projector progress"' in err  # JSON log lines


def _wait_for_offsets(dsn: str, total: int, proc: subprocess.Popen) -> bool:
    """Wait until the stored offsets add up to ``total``; False if the process died first."""
    conn = connect_schema(PostgresSettings(dsn), SCHEMA)
    try:
        while proc.poll() is None:
            with conn.cursor() as cur:
                cur.execute("SELECT coalesce(sum(next_offset), 0) FROM projector_offsets")
                done = cur.fetchone()[0]
            conn.rollback()
            if done >= total:
                return True
            threading.Event().wait(0.2)
        return False
    finally:
        conn.close()


def test_the_projector_role_is_enough_to_run_the_projector(kafka_settings, topic, db, pg_dsn, unique):
    import secrets

    import psycopg2
    from psycopg2 import errors, sql
    from psycopg2.extensions import make_dsn

    produce(kafka_settings, topic, encode_events(AvroCodec(), synthetic_events(300, seed=3)))
    user, password = f"projector_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    admin = psycopg2.connect(pg_dsn)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s IN ROLE wavestream_projector").format(
                sql.Identifier(user)), (password,))
        dsn = make_dsn(db, user=user, password=password)
        projector = run_projector(kafka_settings, dsn, topic, f"g-{unique}", bulk_threshold=50)
        assert projector.stats.applied == 300
        assert query(db, "SELECT count(*) FROM execution_events") == [(300,)]
        conn = connect_schema(PostgresSettings(dsn), SCHEMA)
        try:
            for statement in ("DROP TABLE postings", "CREATE TABLE sneaky (x int)", "TRUNCATE execution_events"):
                with pytest.raises((errors.InsufficientPrivilege, errors.WrongObjectType)), conn.cursor() as cur:
                    cur.execute(statement)
                conn.rollback()
        finally:
            conn.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))
        admin.close()
