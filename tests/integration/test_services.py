"""The session services themselves: a real PostgreSQL and a real Kafka broker answer."""

from __future__ import annotations

import pytest

from wavestream.clients import build_admin
from wavestream.config import PostgresSettings
from wavestream.db import connect
from wavestream.migrations import applied, migrate

pytestmark = pytest.mark.integration


def test_postgres_is_real_and_migrations_apply_once(fresh_db):
    conn = connect(PostgresSettings(dsn=fresh_db))
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version_num")
            assert int(cur.fetchone()[0]) >= 150000
        conn.rollback()  # migrate() runs each migration in a transaction of its own
        first = migrate(conn)
        assert first and first[0] == "001_projector_offsets"
        assert migrate(conn) == []
        assert [m.name for m in applied(conn)] == first
    finally:
        conn.close()


def test_kafka_is_a_real_single_node_cluster(kafka_settings):
    admin = build_admin(kafka_settings)
    cluster = admin.describe_cluster(request_timeout=30).result()
    assert cluster.cluster_id  # KRaft storage was formatted with a cluster id
    assert len(cluster.nodes) == 1
