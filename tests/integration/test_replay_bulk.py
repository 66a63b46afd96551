"""The bulk rebuild and what a replay leaves behind: equal to the live projection
(errors and duplicated events included), no build schema after a failure, views and
grants of other schemas following a swap and a rollback."""

from __future__ import annotations

import pytest
from projector.bulk import bulk_build
from projector.exceptions import ReplayError
from projector.pgschema import migrate_schema, table_checksums
from projector.replay import Replay
from projector.synthetic import encode_events, produce, synthetic_events
from tests.integration.test_projector_replay import _checksums, _project
from wavestream.clients import build_admin, build_consumer, high_watermarks
from wavestream.codec import AvroCodec
from wavestream.config import PostgresSettings
from wavestream.db import connect
from wavestream.exceptions import WavestreamError
from wavestream.topics import TopicSpec, create_topics

pytestmark = pytest.mark.integration


@pytest.fixture
def topic(kafka_settings, unique) -> str:
    name = f"events-{unique}"
    create_topics(build_admin(kafka_settings), [TopicSpec(name, 3, 1)])
    return name


def _targets(kafka_settings, topic: str) -> dict[int, int]:
    consumer = build_consumer(kafka_settings, "targets")
    try:
        return high_watermarks(consumer, topic)
    finally:
        consumer.close()


def _sql(dsn: str, statement: str, params: tuple = ()) -> list[tuple]:
    conn = connect(PostgresSettings(dsn))
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params or None)
            rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()


def test_bulk_build_equals_the_live_projection_with_errors_and_duplicates(kafka_settings, topic, fresh_db, unique):
    pairs = encode_events(AvroCodec(), synthetic_events(3000, seed=5))
    # Garbage and redelivered events, keyed like their neighbours: errors and duplicate ids.
    pairs += [(b"p-0000003", b"not avro"), (b"p-0000004", b"")] + pairs[100:130]
    produce(kafka_settings, topic, pairs)
    _project(kafka_settings, fresh_db, topic, f"g-{unique}")
    live = _checksums(fresh_db, "wavestream")
    assert live["projector_errors"][0] == 2 and live["execution_events"][0] == 3000

    conn = connect(PostgresSettings(fresh_db))
    try:
        migrate_schema(conn, "bulk")
    finally:
        conn.close()
    result = bulk_build(kafka_settings, PostgresSettings(fresh_db), "bulk", topic, _targets(kafka_settings, topic),
                        workers=2)
    assert (result.applied, result.duplicates, result.errors) == (3000, 30, 2)
    assert _checksums(fresh_db, "bulk") == live
    indexes = {r[0] for r in _sql(fresh_db, "SELECT indexname FROM pg_indexes WHERE schemaname = 'bulk'")}
    reference = {r[0] for r in _sql(fresh_db, "SELECT indexname FROM pg_indexes WHERE schemaname = 'wavestream'")}
    assert indexes == reference  # keys and indexes built back


def test_a_failed_build_drops_its_schema_and_the_next_replay_drops_stale_ones(kafka_settings, fresh_db, unique):
    _sql(fresh_db, "CREATE SCHEMA wavestream_build_20200101000000")  # left by a replay that was killed
    replay = Replay(kafka_settings, PostgresSettings(fresh_db), topic=f"missing-{unique}", progress=False)
    with pytest.raises(WavestreamError):
        replay.run()  # the topic does not exist: fails after the build schema was created
    assert _sql(fresh_db, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'wavestream_build_%'") == []


def test_views_and_grants_of_other_schemas_follow_swap_and_rollback(kafka_settings, topic, fresh_db, unique):
    codec = AvroCodec()
    produce(kafka_settings, topic, encode_events(codec, synthetic_events(1500, seed=6)))
    _project(kafka_settings, fresh_db, topic, f"g-{unique}")
    role = f"reporting_{unique}"
    _sql(fresh_db, "CREATE SCHEMA reports")
    _sql(fresh_db, "CREATE VIEW reports.done AS SELECT posting_id, status FROM wavestream.postings"
                   " WHERE status = 'completed'")
    _sql(fresh_db, f"CREATE ROLE {role}")
    _sql(fresh_db, f"GRANT SELECT ON wavestream.postings TO {role}")
    view_rows = "SELECT count(*) FROM reports.done"
    live_rows = "SELECT count(*) FROM wavestream.postings WHERE status = 'completed'"
    granted = f"SELECT has_table_privilege('{role}', 'wavestream.postings', 'SELECT')"
    try:
        Replay(kafka_settings, PostgresSettings(fresh_db), topic=topic, progress=False).run()
        # New events after the swap reach the new live tables only: the view must follow them.
        produce(kafka_settings, topic, encode_events(codec, synthetic_events(600, seed=7, prefix="late-")))
        _project(kafka_settings, fresh_db, topic, f"g-{unique}")
        assert _sql(fresh_db, view_rows) == _sql(fresh_db, live_rows)
        assert _sql(fresh_db, view_rows) != _sql(fresh_db, "SELECT count(*) FROM wavestream_previous.postings"
                                                          " WHERE status = 'completed'")
        assert _sql(fresh_db, granted) == [(True,)]

        Replay(kafka_settings, PostgresSettings(fresh_db), topic=topic, progress=False).rollback()
        assert _sql(fresh_db, view_rows) == _sql(fresh_db, live_rows)
        assert _sql(fresh_db, granted) == [(True,)]

        Replay(kafka_settings, PostgresSettings(fresh_db), topic=topic, progress=False, force=True).run()
        assert _sql(fresh_db, view_rows) == _sql(fresh_db, live_rows)  # dropping _previous kept the view

        _sql(fresh_db, "CREATE MATERIALIZED VIEW reports.frozen AS SELECT count(*) FROM wavestream.postings")
        before = _sql(fresh_db, "SELECT 'wavestream.postings'::regclass::oid::bigint")
        with pytest.raises(ReplayError, match="materialized view reports.frozen"):
            Replay(kafka_settings, PostgresSettings(fresh_db), topic=topic, progress=False).run()
        assert _sql(fresh_db, "SELECT 'wavestream.postings'::regclass::oid::bigint") == before
        assert _sql(fresh_db, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'wavestream_build_%'") == []
    finally:
        _sql(fresh_db, f"DROP OWNED BY {role}")
        _sql(fresh_db, f"DROP ROLE {role}")


def test_checksums_ignore_row_order_and_see_one_changed_value(fresh_db):
    _sql(fresh_db, "CREATE SCHEMA a; CREATE SCHEMA b")
    for schema, order in (("a", "ASC"), ("b", "DESC")):
        migrate = connect(PostgresSettings(fresh_db))
        try:
            migrate_schema(migrate, schema)
        finally:
            migrate.close()
        _sql(fresh_db, f"INSERT INTO {schema}.projector_offsets (projection, topic, partition, next_offset)"
                       f" SELECT 'p', 't', g, g * 7 FROM generate_series(0, 5000) g ORDER BY g {order}")
    conn = connect(PostgresSettings(fresh_db))
    try:
        assert table_checksums(conn, "a") == table_checksums(conn, "b")
        _sql(fresh_db, "UPDATE b.projector_offsets SET next_offset = next_offset + 1 WHERE partition = 4321")
        assert table_checksums(conn, "a")["projector_offsets"] != table_checksums(conn, "b")["projector_offsets"]
        assert table_checksums(conn, "a", offsets=False) == table_checksums(conn, "b", offsets=False)
    finally:
        conn.close()
