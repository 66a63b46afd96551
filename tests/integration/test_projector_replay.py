"""``wavestream replay``: rebuild into a fresh schema, verify, swap atomically, roll back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from projector.loop import Projector, ProjectorOptions
from projector.pgschema import connect_schema, migrate_schema, table_checksums
from projector.replay import Replay
from projector.synthetic import encode_events, produce, synthetic_events
from wavestream import PROJECT_ROOT
from wavestream.clients import build_admin
from wavestream.codec import AvroCodec
from wavestream.config import PostgresSettings
from wavestream.db import connect
from wavestream.topics import TopicSpec, create_topics

pytestmark = pytest.mark.integration

EVENTS = 4000


@pytest.fixture
def topic(kafka_settings, unique) -> str:
    name = f"events-{unique}"
    create_topics(build_admin(kafka_settings), [TopicSpec(name, 3, 1)])
    return name


def _project(kafka_settings, dsn: str, topic: str, group: str, schema: str = "wavestream") -> None:
    conn = connect(PostgresSettings(dsn))
    try:
        migrate_schema(conn, schema)
    finally:
        conn.close()
    Projector(kafka_settings, PostgresSettings(dsn), ProjectorOptions(
        schema=schema, topic=topic, group_id=group, until_caught_up=True, batch_timeout_s=0.2)).run()


def _checksums(dsn: str, schema: str) -> dict:
    conn = connect(PostgresSettings(dsn))
    try:
        return table_checksums(conn, schema)
    finally:
        conn.close()


class Reader(threading.Thread):
    """Polls the live tables as a dashboard would, recording what it sees."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.conn = connect_schema(PostgresSettings(dsn), "wavestream")
        self.conn.autocommit = True  # every poll sees the latest committed catalog
        self.stop = threading.Event()
        self.seen: list[tuple[int, int, int]] = []  # (postings oid, postings rows, events rows)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.conn.cursor() as cur:
                while not self.stop.is_set():
                    cur.execute("SELECT 'postings'::regclass::oid::bigint, (SELECT count(*) FROM postings),"
                                " (SELECT count(*) FROM execution_events)")
                    self.seen.append(cur.fetchone())
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.conn.close()

    def polls_after(self, n: int, more: int) -> None:
        """Block until ``more`` polls happened after the first ``n``."""
        while self.is_alive() and len(self.seen) < n + more:
            self.join(0.01)


def test_replay_matches_live_readers_never_see_partial_tables_and_rollback_restores(
        kafka_settings, topic, fresh_db, unique):
    produce(kafka_settings, topic, encode_events(AvroCodec(), synthetic_events(EVENTS, seed=4)),
            transactional_id=f"tx-{unique}")
    _project(kafka_settings, fresh_db, topic, f"g-{unique}")
    live = _checksums(fresh_db, "wavestream")
    postings = live["postings"][0]

    reader = Reader(fresh_db)
    reader.start()
    env = {**os.environ, "WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
           "WAVESTREAM_PG_DSN": fresh_db}
    try:
        reader.polls_after(0, 5)
        done = subprocess.run([sys.executable, "-m", "wavestream.cli", "replay", "--topic", topic, "--no-progress"],
                              cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
        reader.polls_after(len(reader.seen), 5)
    finally:
        reader.stop.set()
        reader.join(30)
    assert done.returncode == 0, done.stderr[-3000:]
    assert reader.error is None, reader.error
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["events"] == EVENTS and report["differences"] == [] and report["previous"] == "wavestream_previous"
    assert report["counts"]["execution_events"] == EVENTS and report["events_per_s"] > 0

    assert {(rows, events) for _, rows, events in reader.seen} == {(postings, EVENTS)}
    oids = list(dict.fromkeys(oid for oid, _, _ in reader.seen))
    assert len(oids) == 2, "the reader should have polled before and after the swap"
    assert _checksums(fresh_db, "wavestream") == live == _checksums(fresh_db, "wavestream_previous")

    rolled = subprocess.run([sys.executable, "-m", "wavestream.cli", "replay", "--rollback"], cwd=PROJECT_ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert rolled.returncode == 0, rolled.stderr[-3000:]
    conn = connect_schema(PostgresSettings(fresh_db), "wavestream")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 'postings'::regclass::oid::bigint")
            assert cur.fetchone()[0] == oids[0]  # the original tables are live again
    finally:
        conn.close()
    assert _checksums(fresh_db, "wavestream") == live


def test_replay_catches_up_with_a_running_live_projector(kafka_settings, topic, fresh_db, unique):
    codec = AvroCodec()
    first, more = synthetic_events(3000, seed=9), synthetic_events(1500, seed=10, prefix="late-")
    produce(kafka_settings, topic, encode_events(codec, first))
    _project(kafka_settings, fresh_db, topic, f"g-{unique}")
    live = Projector(kafka_settings, PostgresSettings(fresh_db), ProjectorOptions(
        topic=topic, group_id=f"g-{unique}", batch_size=100, batch_timeout_s=0.2))
    thread = threading.Thread(target=live.run, daemon=True)
    thread.start()
    producer = threading.Thread(target=produce, args=(kafka_settings, topic, encode_events(codec, more)),
                                daemon=True)
    try:
        producer.start()  # events keep arriving while the replay builds
        result = Replay(kafka_settings, PostgresSettings(fresh_db), topic=topic, progress=False, wait_live_s=120).run()
        producer.join(60)
        assert result.swapped and result.differences == {}
        conn = connect_schema(PostgresSettings(fresh_db), "wavestream")
        try:
            while thread.is_alive():  # the live projector goes on in the swapped-in schema
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM execution_events")
                    count = cur.fetchone()[0]
                conn.rollback()
                if count == 4500:
                    break
                thread.join(0.2)
        finally:
            conn.close()
    finally:
        live.request_stop()
        thread.join(60)
    _project(kafka_settings, fresh_db, topic, f"ref-{unique}", schema="reference")
    assert _checksums(fresh_db, "wavestream") == _checksums(fresh_db, "reference")
