"""Taking the index-backed constraints and indexes off the large read-model tables for a
bulk load, and putting them back after (:mod:`projector.bulk`).

Inserting into a table without indexes appends to the heap only; building an index
once over the loaded rows (a sort) is far cheaper than maintaining it row by row.
CHECK and NOT NULL constraints stay: they cost little per row and need no rebuild.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg2
from psycopg2 import sql

from projector.exceptions import BulkUnsupported
from wavestream.db import Connection, to_wavestream_error

log = logging.getLogger(__name__)

#: Tables that grow with the topic: loaded without indexes.
BIG_TABLES = ("execution_events", "postings", "posting_state_checkpoints")
#: SQLSTATE unique_violation: a primary key cannot be built over the loaded rows.
UNIQUE_VIOLATION = "23505"


class DuplicateKeys(Exception):
    """A primary key could not be built: ``table`` holds duplicate keys (internal)."""

    def __init__(self, table: str) -> None:
        super().__init__(table)
        self.table = table


def defer_ddl(conn: Connection, schema: str) -> list[tuple[str, str]]:
    """Drop the primary keys, unique constraints and indexes of :data:`BIG_TABLES` in
    ``schema``; returns (table, statement) pairs that restore them, keys first.

    Raises:
        DatabaseError / DatabaseUnavailable: the catalog query or a drop failed.
    """
    restore: list[tuple[str, str]] = []
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT t.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c"
                        " JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace"
                        " WHERE n.nspname = %s AND t.relname = ANY(%s) AND c.contype IN ('p', 'u', 'x')"
                        " ORDER BY c.contype, t.relname, c.conname", (schema, list(BIG_TABLES)))
            constraints = cur.fetchall()
            cur.execute("SELECT t.relname, i.relname, pg_get_indexdef(i.oid) FROM pg_index x"
                        " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
                        " JOIN pg_namespace n ON n.oid = t.relnamespace"
                        " WHERE n.nspname = %s AND t.relname = ANY(%s)"
                        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
                        " ORDER BY t.relname, i.relname", (schema, list(BIG_TABLES)))
            indexes = cur.fetchall()
            for table, name, definition in constraints:
                cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    sql.Identifier(schema, table), sql.Identifier(name)))
                restore.append((table, sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                    sql.Identifier(schema, table), sql.Identifier(name)).as_string(conn) + definition))
            for table, name, definition in indexes:
                cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, name)))
                restore.append((table, definition))
        conn.commit()
    except psycopg2.Error as exc:
        conn.rollback()
        raise to_wavestream_error(exc, f"deferring the indexes of {schema}") from exc
    log.info("indexes deferred for the bulk load", extra={"schema": schema, "statements": len(restore)})
    return restore


def restore_ddl(conn: Connection, schema: str, statements: list[tuple[str, str]]) -> None:
    """Build back what :func:`defer_ddl` dropped (one transaction). No ANALYZE: it took
    as long as the index builds, and autovacuum analyzes the loaded tables by itself.

    Raises:
        DuplicateKeys: the execution_events key cannot be built (duplicated event ids:
            the caller skips the later occurrences and loads again); nothing restored.
        BulkUnsupported: another key cannot be built (a posting spread over partitions).
        DatabaseError / DatabaseUnavailable: any other failure.
    """
    table = ""
    try:
        with conn.cursor() as cur:
            cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for table, statement in statements:
                cur.execute(statement)
        conn.commit()
    except psycopg2.Error as exc:
        conn.rollback()
        if exc.pgcode == UNIQUE_VIOLATION and table == "execution_events":
            raise DuplicateKeys(table) from exc
        if exc.pgcode == UNIQUE_VIOLATION:
            raise BulkUnsupported(f"{schema}.{table} has duplicate keys after the bulk load (a posting's"
                                  f" events in several partitions?): {exc.pgerror}") from exc
        raise to_wavestream_error(exc, f"building the indexes of {schema}") from exc


def truncate(cur: Any, schema: str, tables: tuple[str, ...]) -> None:
    """Empty ``tables`` of ``schema`` (a reload after duplicate keys)."""
    cur.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(sql.Identifier(schema, t) for t in tables)))
