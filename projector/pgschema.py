"""The read-model schema: connections bound to it, migrations into it, checksums.

The read models live in one PostgreSQL schema (default ``wavestream``) chosen through
``search_path``, so the same migrations build the live schema and every replay
schema, and a replay can swap schemas by renaming them. A login whose name is the
schema's finds it without any setting (``"$user"`` comes first in the default
search_path); other logins set it: ``ALTER ROLE alice SET search_path = wavestream``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from psycopg2 import sql

from wavestream.config import PostgresSettings
from wavestream.db import Connection, connect, transaction
from wavestream.exceptions import DatabaseError
from wavestream.migrations import migrate

log = logging.getLogger(__name__)

DEFAULT_SCHEMA = "wavestream"

#: The read-model tables, with the columns a checksum leaves out (wall-clock times)
#: and the ordering key of their rows.
TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "execution_events": (("projected_at",), "event_id"),
    "postings": ((), "posting_id"),
    "posting_state_checkpoints": ((), "posting_id, stage"),
    "actor_performance": ((), "actor_name, actor_kind"),
    "actors": ((), "actor_name, actor_kind, model_file, model_sha256"),
    "projector_errors": (("at",), "projection, topic, partition, \"offset\""),
    "projector_offsets": (("updated_at",), "projection, topic, partition"),
}

#: Columns holding Kafka offsets. An import into another cluster moves offsets (the
#: source's transaction markers took some), so a restore compares without them.
OFFSET_COLUMNS: dict[str, tuple[str, ...]] = {
    "execution_events": ("kafka_offset",), "postings": ("last_offset",), "projector_errors": ("offset",),
    "projector_offsets": ("next_offset",),
}

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_schema_name(name: str) -> str:
    """``name`` if it is a plain lower-case identifier (what replay can derive names from).

    Raises:
        DatabaseError: it is not.
    """
    if not _NAME.match(name):
        raise DatabaseError(f"schema name {name!r} must match {_NAME.pattern}")
    return name


def use_schema(conn: Connection, schema: str, *, create: bool = False) -> None:
    """Point ``conn``'s search_path at ``schema`` (for the session), creating it if asked."""
    with transaction(conn), conn.cursor() as cur:
        if create:
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))


def connect_schema(settings: PostgresSettings, schema: str, *, application_name: str = "wavestream-projector",
                   create: bool = False) -> Connection:
    """A connection whose search_path is ``schema``.

    Raises:
        DatabaseUnavailable: PostgreSQL cannot be reached.
        DatabaseError: the schema cannot be selected or created.
    """
    conn = connect(settings, application_name=application_name)
    try:
        use_schema(conn, check_schema_name(schema), create=create)
    except BaseException:
        conn.close()
        raise
    return conn


def migrate_schema(conn: Connection, schema: str) -> list[str]:
    """Create ``schema`` if needed and apply the pending migrations into it."""
    use_schema(conn, check_schema_name(schema), create=True)
    applied = migrate(conn)
    if applied:
        log.info("read-model migrations applied", extra={"schema": schema, "migrations": applied})
    return applied


def schema_exists(conn: Connection, schema: str) -> bool:
    with transaction(conn), conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
        return cur.fetchone() is not None


def table_checksums(conn: Connection, schema: str, *, offsets: bool = True) -> dict[str, tuple[int, str]]:
    """table -> (row count, digest) for the read-model tables of ``schema``, in a
    transaction of its own; see :func:`checksums`."""
    with transaction(conn), conn.cursor() as cur:
        return checksums(cur, schema, offsets=offsets)


#: md5 of one row, split into two signed 64-bit halves; summed as numeric (no overflow).
_DIGEST_SQL = (
    "SELECT count(*), coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint), 0),"
    " coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint), 0)"
    " FROM (SELECT md5(row({cols})::text) AS h FROM {table}) rows"
)
_MOD = 2 ** 64


def checksums(cur: Any, schema: str, *, offsets: bool = True) -> dict[str, tuple[int, str]]:
    """:func:`table_checksums` inside the caller's transaction.

    The digest of a table is the 128-bit sum (mod 2^64 per half) of the md5 of every
    row: a multiset hash, so it needs no ordering, no text aggregate and no memory
    that grows with the table (a ``string_agg`` of row hashes hit PostgreSQL's 1 GB
    text limit near 33M rows), and PostgreSQL may compute it with parallel workers.
    Rows carry their keys, so equal digests mean equal tables (up to md5
    collisions). Wall-clock and generated columns are left out, so a replay's tables
    compare equal to the live ones; ``offsets=False`` leaves out the Kafka offset
    columns too (:data:`OFFSET_COLUMNS`: what a restore into another cluster moves).

    Raises:
        DatabaseError: a read-model table is missing from ``schema``.
    """
    result: dict[str, tuple[int, str]] = {}
    for table, (excluded, _order) in TABLES.items():
        result[table] = table_digest(cur, schema, table, excluded + (() if offsets else OFFSET_COLUMNS.get(table, ())))
    return result


def table_digest(cur: Any, schema: str, table: str, excluded: tuple[str, ...] = ()) -> tuple[int, str]:
    """(row count, 32 hex digits) of ``schema.table`` over its stored, non-generated
    columns except ``excluded``; see :func:`checksums`.

    Raises:
        DatabaseError: the table (or view) does not exist.
    """
    cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
                " AND table_name = %s AND is_generated = 'NEVER' ORDER BY ordinal_position",
                (schema, table))
    columns = [r[0] for r in cur.fetchall() if r[0] not in excluded]
    if not columns:
        raise DatabaseError(f"{schema}.{table} does not exist")
    cur.execute(sql.SQL(_DIGEST_SQL).format(cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                                            table=sql.Identifier(schema, table)))
    count, high, low = cur.fetchone()
    return int(count), f"{int(high) % _MOD:016x}{int(low) % _MOD:016x}" if count else ""
