"""The compose deployment's database access, run for real against PostgreSQL: the owner
applies the migrations (`wavestream migrate`), deploy/postgres-logins.sql gives the
projector and reader roles their logins, and the services log in with those, their
passwords (with URL-special characters) passed in WAVESTREAM_PG_PASSWORD."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from psycopg2.extensions import parse_dsn

from projector.synthetic import encode_events, produce, synthetic_events
from wavestream import PROJECT_ROOT
from wavestream.clients import build_admin
from wavestream.codec import AvroCodec
from wavestream.config import PostgresSettings, url_dsn
from wavestream.db import connect
from wavestream.exceptions import DatabaseUnavailable
from wavestream.topics import TopicSpec, create_topics

pytestmark = pytest.mark.integration

LOGINS_SQL = PROJECT_ROOT / "deploy" / "postgres-logins.sql"
PROJECTOR_PASSWORD = "p@ss:w/rd#%?& x'\"1"
READER_PASSWORD = "r:e@a/d#er%20 2"


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("WAVESTREAM_")}
    return subprocess.run([sys.executable, "-m", "wavestream.cli", *args], cwd=PROJECT_ROOT,
                          env={**base, "WAVESTREAM_LOG_FORMAT": "text", **env},
                          capture_output=True, text=True, timeout=300)


def _psql_logins(owner_dsn: str, projector: str, reader: str, projector_pw: str,
                 reader_pw: str) -> subprocess.CompletedProcess:
    parts = parse_dsn(owner_dsn)
    env = {**os.environ, "PGHOST": parts["host"], "PGPORT": str(parts["port"]), "PGUSER": parts["user"],
           "PGPASSWORD": parts["password"], "PGDATABASE": parts["dbname"],
           "PROJECTOR_DB_PASSWORD": projector_pw, "READER_DB_PASSWORD": reader_pw}
    return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"projector_login={projector}",
                           "-v", f"reader_login={reader}", "-f", str(LOGINS_SQL)],
                          env=env, capture_output=True, text=True, timeout=120)


def _login_dsn(owner_dsn: str, user: str) -> str:
    parts = parse_dsn(owner_dsn)
    return url_dsn(user, None, parts["host"], int(parts["port"]), parts["dbname"])


@pytest.fixture
def logins(fresh_db, unique):
    """Migrations applied by the owner, then the logins script; dropped afterwards."""
    import psycopg2
    from psycopg2 import sql

    migrated = _cli("migrate", WAVESTREAM_PG_DSN=fresh_db)
    assert migrated.returncode == 0, migrated.stderr
    assert "applied 001_projector_offsets" in migrated.stdout, migrated.stdout
    names = (f"projector_{unique}", f"reader_{unique}")
    try:
        made = _psql_logins(fresh_db, *names, PROJECTOR_PASSWORD, READER_PASSWORD)
        assert made.returncode == 0, made.stderr
        yield names
    finally:
        admin = psycopg2.connect(fresh_db)
        admin.autocommit = True
        try:
            with admin.cursor() as cur:
                for name in names:
                    cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        finally:
            admin.close()


def test_services_run_with_their_logins(kafka_settings, fresh_db, unique, logins):
    import psycopg2
    from psycopg2 import errors

    projector_login, reader_login = logins
    topic = f"events-{unique}"
    create_topics(build_admin(kafka_settings), [TopicSpec(topic, 3, 1)])
    produce(kafka_settings, topic, encode_events(AvroCodec(), synthetic_events(40, seed=5)))
    env = {"WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers}

    projected = _cli("projector", "--no-migrate", "--until-caught-up", "--topic", topic, "--group", f"g-{unique}",
                     WAVESTREAM_PG_DSN=_login_dsn(fresh_db, projector_login),
                     WAVESTREAM_PG_PASSWORD=PROJECTOR_PASSWORD, **env)
    assert projected.returncode == 0, projected.stderr[-3000:]
    assert '"applied": 40' in projected.stdout, projected.stdout

    status = _cli("status", "--json", WAVESTREAM_PG_DSN=_login_dsn(fresh_db, reader_login),
                  WAVESTREAM_PG_PASSWORD=READER_PASSWORD, **env)
    assert status.returncode == 0, status.stderr[-3000:]

    reader = connect(PostgresSettings(_login_dsn(fresh_db, reader_login), password=READER_PASSWORD))
    try:
        with reader.cursor() as cur:
            cur.execute("SHOW search_path")
            assert cur.fetchone()[0] == "wavestream"
            cur.execute("SELECT count(*) FROM execution_events")
            assert cur.fetchone()[0] == 40
            with pytest.raises(errors.InsufficientPrivilege):
                cur.execute("DELETE FROM execution_events")
    finally:
        reader.close()
    with pytest.raises(psycopg2.Error):  # the projector login cannot change the schema either
        projector = connect(PostgresSettings(_login_dsn(fresh_db, projector_login), password=PROJECTOR_PASSWORD))
        try:
            with projector.cursor() as cur:
                cur.execute("DROP TABLE postings")
        finally:
            projector.close()


def test_running_the_logins_script_again_sets_new_passwords(fresh_db, logins):
    projector_login, reader_login = logins
    again = _psql_logins(fresh_db, projector_login, reader_login, "rotated@1", READER_PASSWORD)
    assert again.returncode == 0, again.stderr
    connect(PostgresSettings(_login_dsn(fresh_db, projector_login), password="rotated@1")).close()
    with pytest.raises(DatabaseUnavailable) as refused:
        connect(PostgresSettings(_login_dsn(fresh_db, projector_login), password=PROJECTOR_PASSWORD))
    assert PROJECTOR_PASSWORD not in str(refused.value)


def test_the_logins_script_refuses_a_missing_password(fresh_db, unique):
    made = _psql_logins(fresh_db, f"nopw_{unique}", f"nopw2_{unique}", "", READER_PASSWORD)
    assert made.returncode != 0 and "PROJECTOR_DB_PASSWORD is not set" in made.stderr
