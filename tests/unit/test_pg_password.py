"""Database passwords: a DSN built by the code percent-encodes every part, and a password
given in WAVESTREAM_PG_PASSWORD travels beside the DSN (never in its repr or messages)."""

from __future__ import annotations

import pytest
from psycopg2.extensions import parse_dsn

from wavestream.config import PostgresSettings, redact_dsn, url_dsn
from wavestream.db import _message

pytestmark = pytest.mark.unit

NASTY = "p@ss:w/rd#%?& x'\"1"


def test_url_dsn_encodes_every_part():
    dsn = url_dsn("we@ird", NASTY, "db.example", 5432, "read models")
    parts = parse_dsn(dsn)
    assert (parts["user"], parts["password"], parts["host"], parts["port"], parts["dbname"]) == (
        "we@ird", NASTY, "db.example", "5432", "read models")
    assert NASTY not in redact_dsn(dsn) and "***" in redact_dsn(dsn)
    assert parse_dsn(url_dsn("u", None, "::1", 5432, "d"))["host"] == "::1"
    assert parse_dsn(url_dsn("u", None, "h", 1, "d")).get("password") is None


def test_the_password_setting_travels_beside_the_dsn():
    settings = PostgresSettings.from_env({"WAVESTREAM_PG_DSN": "postgresql://projector@db/wavestream",
                                          "WAVESTREAM_PG_PASSWORD": NASTY})
    assert settings.password == NASTY and settings.dsn == "postgresql://projector@db/wavestream"
    assert NASTY not in repr(settings)
    assert PostgresSettings.from_env({"WAVESTREAM_PG_DSN": "x", "WAVESTREAM_PG_PASSWORD": ""}).password is None


def test_error_messages_scrub_the_password_setting():
    error = RuntimeError(f"FATAL: password {NASTY} rejected")
    assert NASTY not in _message(error, "postgresql://projector@db/wavestream", NASTY)
