"""The PostgreSQL repository boundary: connections, transactions, error mapping.

Every psycopg2 error that leaves this module (or a block run under
:func:`translate_errors` / :func:`transaction`) is one of ours, chained with
``raise ... from exc``:

- the server cannot be reached, or the connection was lost -> :class:`DatabaseUnavailable`
- anything else (SQL errors, constraint violations, ...)    -> :class:`DatabaseError`

Messages never contain the password: DSNs are shown redacted and the password is
scrubbed from libpq's text.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import unquote, urlsplit

import psycopg2
import psycopg2.extensions

from wavestream.config import PostgresSettings
from wavestream.exceptions import DatabaseError, DatabaseUnavailable

log = logging.getLogger(__name__)

Connection = psycopg2.extensions.connection

# SQLSTATE classes/codes that mean "the server went away", not "the SQL was wrong":
# 08 connection exception, 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot
# connect now (starting up / shutting down).
_UNAVAILABLE_CODES = ("57P01", "57P02", "57P03")


def connect(settings: PostgresSettings, *, application_name: str = "wavestream") -> Connection:
    """A new psycopg2 connection (autocommit off) to ``settings.dsn``, with
    ``settings.password`` (when set) passed beside it.

    Raises:
        DatabaseUnavailable: the server cannot be reached, refuses the login, or times
            out after ``settings.connect_timeout_s``.
        DatabaseError: any other driver error (e.g. a malformed DSN).
    """
    extra = {"password": settings.password} if settings.password else {}
    try:
        conn = psycopg2.connect(
            settings.dsn,
            connect_timeout=settings.connect_timeout_s,
            application_name=application_name,
            **extra,
        )
    except psycopg2.OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {settings.redacted}: {_message(exc, settings.dsn, settings.password)}"
        ) from exc
    except psycopg2.Error as exc:
        raise DatabaseError(
            f"cannot connect to PostgreSQL at {settings.redacted}: {_message(exc, settings.dsn, settings.password)}"
        ) from exc
    log.debug("connected to postgres", extra={"dsn": settings.redacted})
    return conn


@contextmanager
def translate_errors(what: str = "PostgreSQL") -> Iterator[None]:
    """Run a block, mapping psycopg2 errors to ours (other exceptions pass through).

    Raises:
        DatabaseUnavailable: the connection was lost or the server is shutting down.
        DatabaseError: any other psycopg2 error; ``what`` prefixes the message.
    """
    try:
        yield
    except psycopg2.Error as exc:
        raise to_wavestream_error(exc, what) from exc


def to_wavestream_error(exc: psycopg2.Error, what: str = "PostgreSQL") -> DatabaseError:
    """The wavestream error for a psycopg2 error (the caller raises it ``from exc``)."""
    message = f"{what}: {_message(exc)}"
    if is_unavailable(exc):
        return DatabaseUnavailable(message)
    return DatabaseError(message)


def is_unavailable(exc: psycopg2.Error) -> bool:
    """True when ``exc`` means the server cannot be used right now (not a SQL error)."""
    if isinstance(exc, psycopg2.InterfaceError):
        return True  # "connection already closed"
    code = exc.pgcode or ""
    if code.startswith("08") or code in _UNAVAILABLE_CODES:
        return True
    # A dropped socket has no SQLSTATE; psycopg2 then marks the connection closed.
    conn = getattr(getattr(exc, "cursor", None), "connection", None)
    return isinstance(exc, psycopg2.OperationalError) and not code and (conn is None or conn.closed != 0)


@contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """Commit when the block succeeds, roll back when it raises.

    Raises:
        DatabaseError: ``conn`` is in autocommit mode, or a psycopg2 error in the
            block or at commit (mapped as in :func:`translate_errors`).
        DatabaseUnavailable: the connection was lost.
    """
    if conn.autocommit:
        raise DatabaseError("transaction() needs a connection with autocommit off")
    try:
        with translate_errors():
            yield conn
    except BaseException:
        _rollback_quietly(conn)
        raise
    with translate_errors("PostgreSQL commit"):
        conn.commit()


def _rollback_quietly(conn: Connection) -> None:
    # The block's own error is the one worth raising; a failed rollback (e.g. on a
    # dead connection) only gets logged.
    if conn.closed:
        return
    try:
        conn.rollback()
    except psycopg2.Error as exc:
        log.warning("rollback failed", extra={"error": _message(exc)})


def _message(exc: BaseException, dsn: str | None = None, password: str | None = None) -> str:
    """libpq's message, one line, with the DSN's password and ``password`` (if any)
    scrubbed out."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    secrets = (_password_forms(dsn) if dsn else set()) | ({password} if password else set())
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _password_forms(dsn: str) -> set[str]:
    """The DSN's password as written and as decoded (either may show up in a message)."""
    if "://" in dsn:
        try:
            raw = urlsplit(dsn).password
        except ValueError:
            return set()
        return {raw, unquote(raw)} - {""} if raw else set()
    match = re.search(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn)
    return {match.group(1), match.group(1).strip("'")} - {""} if match else set()
