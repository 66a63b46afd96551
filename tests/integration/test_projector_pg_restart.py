"""PostgreSQL stopped and started under a running projector: it pauses, reconnects with
backoff, re-seeks to the stored offsets and ends with exactly the tables of a run
without the outage (no event lost or doubled)."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import pytest

from projector.loop import Projector, ProjectorOptions
from projector.pgschema import connect_schema, migrate_schema, table_checksums
from projector.synthetic import encode_events, produce, synthetic_events
from wavestream.clients import build_admin
from wavestream.codec import AvroCodec
from wavestream.config import PostgresSettings, StackSettings
from wavestream.db import connect
from wavestream.exceptions import DatabaseUnavailable
from wavestream.stack.postgres import EmbeddedPostgres
from wavestream.stack.process import free_port
from wavestream.topics import TopicSpec, create_topics

pytestmark = pytest.mark.integration

EVENTS = 6000


@pytest.fixture
def own_postgres() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL server of this test alone (it gets stopped and started)."""
    root = Path(tempfile.mkdtemp(prefix="wavestream-projector-pg-", dir="/tmp" if os.path.isdir("/tmp") else None))
    os.chmod(root, 0o711)  # the server's service user (when run as root) must traverse it
    server = EmbeddedPostgres(StackSettings(data_dir=root, cache_dir=root / "cache", pg_port=free_port(),
                                            startup_timeout_s=60.0))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _applied(postgres: PostgresSettings) -> int:
    try:
        conn = connect_schema(postgres, "wavestream")
    except DatabaseUnavailable:
        return -1
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM execution_events")
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_postgres_restart_mid_run_loses_and_doubles_nothing(kafka_settings, own_postgres, unique):
    topic = f"events-{unique}"
    create_topics(build_admin(kafka_settings), [TopicSpec(topic, 3, 1)])
    pairs = encode_events(AvroCodec(), synthetic_events(EVENTS, seed=23))
    for i in range(0, EVENTS, 2000):
        produce(kafka_settings, topic, pairs[i:i + 2000], transactional_id=f"tx-{unique}")
    postgres = PostgresSettings(own_postgres.dsn(), connect_timeout_s=5)
    setup = connect(postgres)
    try:
        migrate_schema(setup, "reference")
        migrate_schema(setup, "wavestream")
    finally:
        setup.close()
    Projector(kafka_settings, postgres, ProjectorOptions(
        schema="reference", topic=topic, group_id=f"ref-{unique}", until_caught_up=True, batch_timeout_s=0.2)).run()

    projector = Projector(kafka_settings, postgres, ProjectorOptions(
        topic=topic, group_id=f"g-{unique}", until_caught_up=True, batch_size=100, batch_timeout_s=0.2,
        backoff_initial_s=0.1, backoff_max_s=1.0))
    failures: list[BaseException] = []

    def run() -> None:
        try:
            projector.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        while thread.is_alive() and _applied(postgres) < EVENTS // 4:
            thread.join(0.05)
        assert thread.is_alive(), failures
        own_postgres.stop()  # fast shutdown: open transactions are aborted
        while thread.is_alive() and projector.stats.outages == 0:
            thread.join(0.05)
        assert projector.stats.outages >= 1, "the projector never noticed the outage"
        own_postgres.start()
        thread.join(300)
    finally:
        projector.request_stop()
        thread.join(60)
    assert not thread.is_alive() and not failures, failures
    assert projector.stats.reseeks >= 1

    conn = connect(postgres)
    try:
        live, reference = table_checksums(conn, "wavestream"), table_checksums(conn, "reference")
    finally:
        conn.close()
    assert live["execution_events"][0] == EVENTS
    assert live == reference
