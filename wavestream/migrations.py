"""Numbered SQL migrations: ``sql/NNN_name.sql``, each applied once, in order.

Each migration runs in its own transaction together with the row that records it in
``schema_migrations``, so a migration is either applied and recorded or neither. Every
such transaction first takes a transaction-level advisory lock, so processes migrating
the same database at once apply each migration exactly once.

Rules, each enforced with :class:`MigrationError`:

- file names are ``NNN_name.sql`` (three or more digits, lower-case name); a version
  number is used once;
- an applied migration's file must not change (its sha256 is recorded);
- a new migration must be numbered above every applied one (no back-filling);
- a migration file must not end the transaction it runs in (``COMMIT``/``ROLLBACK``);
  statements that cannot run in a transaction (``CREATE INDEX CONCURRENTLY``) fail.

Files in the directory that do not end in ``.sql`` are ignored (README, notes).
Tables are not schema-qualified: they go to the connection's ``search_path``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg2
import psycopg2.extensions

from wavestream.db import Connection, is_unavailable, to_wavestream_error, transaction, translate_errors
from wavestream.exceptions import MigrationError
from wavestream.resources import resource_dir

log = logging.getLogger(__name__)

SQL_DIR = resource_dir("sql")

# Constant key of the advisory lock that serializes migrators ("wavestre" in ASCII).
LOCK_KEY = 0x7761766573747265

_FILE_NAME = re.compile(r"^(?P<version>\d{3,})_(?P<label>[a-z0-9]+(?:_[a-z0-9]+)*)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    int PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    """One migration file: ``version`` from its number, ``name`` is the file stem."""

    version: int
    name: str
    path: Path
    checksum: str

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class AppliedMigration:
    """One row of ``schema_migrations``."""

    version: int
    name: str
    checksum: str
    applied_at: datetime


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    """The migrations in ``sql_dir``, ordered by version.

    Raises:
        MigrationError: the directory is missing, a ``.sql`` file is misnamed, or two
            files share a version number.
    """
    if not sql_dir.is_dir():
        raise MigrationError(f"migrations directory {sql_dir} does not exist")
    by_version: dict[int, Migration] = {}
    for path in sorted(sql_dir.iterdir()):
        if path.suffix != ".sql" or not path.is_file():
            continue
        migration = _parse(path)
        other = by_version.get(migration.version)
        if other is not None:
            raise MigrationError(
                f"duplicate migration number {migration.version}: {other.path.name} and {path.name}"
            )
        by_version[migration.version] = migration
    return [by_version[v] for v in sorted(by_version)]


def _parse(path: Path) -> Migration:
    match = _FILE_NAME.match(path.name)
    if match is None:
        raise MigrationError(
            f"bad migration file name {path.name!r}: expected NNN_lower_case_name.sql"
        )
    checksum = hashlib.sha256(path.read_bytes()).hexdigest()
    return Migration(int(match["version"]), path.stem, path, checksum)


def applied(conn: Connection) -> list[AppliedMigration]:
    """The migrations recorded in ``schema_migrations``, by version (empty if none).

    Raises:
        DatabaseError: the query failed; DatabaseUnavailable when the server is gone.
    """
    was_idle = conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    with translate_errors("reading schema_migrations"):
        rows = _read_applied(conn)
        if was_idle and not conn.autocommit:
            conn.rollback()  # end the read-only transaction we opened; the caller's stays
    return rows


def migrate(conn: Connection, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply the pending migrations of ``sql_dir``; return the names applied, in order.

    ``conn`` must not have a transaction open; its autocommit setting is restored.

    Raises:
        MigrationError: see the module rules, or a migration's SQL failed (that
            migration is rolled back, earlier ones stay applied).
        DatabaseUnavailable: the server went away.
    """
    migrations = discover(sql_dir)
    if conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
        raise MigrationError("migrate() needs a connection without an open transaction")
    autocommit = conn.autocommit
    conn.autocommit = False
    try:
        with transaction(conn):
            _lock(conn)
            with conn.cursor() as cur:
                cur.execute(_CREATE_TABLE)
            _verify(migrations, {row.version: row for row in _read_applied(conn)})
        done = [m.name for m in migrations if _apply_one(conn, m)]
    finally:
        conn.autocommit = autocommit
    if done:
        log.info("migrations applied", extra={"migrations": done})
    return done


def _apply_one(conn: Connection, migration: Migration) -> bool:
    """Apply ``migration`` unless already applied (by us or a concurrent migrator)."""
    with transaction(conn):
        _lock(conn)
        rows = {row.version: row for row in _read_applied(conn)}
        if migration.version in rows:
            _verify([migration], {migration.version: rows[migration.version]})
            return False
        newer = [v for v in rows if v > migration.version]
        if newer:
            raise MigrationError(
                f"migration {migration.name} is numbered below the applied migration "
                f"{max(newer)}: renumber it above {max(rows)}"
            )
        _execute(conn, migration)
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
    log.info("migration applied", extra={"migration": migration.name})
    return True


def _execute(conn: Connection, migration: Migration) -> None:
    """Raises:
    MigrationError: the SQL failed or ended our transaction itself.
    DatabaseUnavailable: the server went away.
    """
    try:
        with conn.cursor() as cur:
            # No parameters: psycopg2 sends the file as is ("%" needs no escaping) and
            # the server runs its statements in order inside our transaction.
            cur.execute(migration.sql())
    except psycopg2.Error as exc:
        if is_unavailable(exc):
            raise to_wavestream_error(exc, f"migration {migration.name}") from exc
        raise MigrationError(f"migration {migration.name} failed: {' '.join(str(exc).split())}") from exc
    if conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_INTRANS:
        raise MigrationError(
            f"migration {migration.name} ended the transaction it runs in (COMMIT/ROLLBACK in the file): "
            "remove the transaction control statements"
        )


def _verify(migrations: list[Migration], rows: dict[int, AppliedMigration]) -> None:
    """Raises:
    MigrationError: an applied migration's file changed since it was applied.
    """
    known = {m.version: m for m in migrations}
    for version, row in sorted(rows.items()):
        migration = known.get(version)
        if migration is None:
            # The database is ahead of this checkout (e.g. an older deploy): say so.
            log.warning("applied migration has no file", extra={"migration": row.name})
            continue
        if migration.checksum != row.checksum:
            raise MigrationError(
                f"migration {migration.name} was changed after it was applied "
                f"(checksum {row.checksum[:12]} in the database, {migration.checksum[:12]} on disk): "
                "add a new migration instead of editing an applied one"
            )
        if migration.name != row.name:
            log.warning("applied migration renamed", extra={"was": row.name, "now": migration.name})


def _lock(conn: Connection) -> None:
    # Released at commit/rollback, so a crashed migrator never leaves it held.
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))


def _read_applied(conn: Connection) -> list[AppliedMigration]:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", ("schema_migrations",))
        if not cur.fetchone()[0]:
            return []
        cur.execute("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
        return [AppliedMigration(*row) for row in cur.fetchall()]
