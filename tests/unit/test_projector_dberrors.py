"""Which database errors make a record bad and which only make the batch wait."""

from __future__ import annotations

import psycopg2
import psycopg2.errors
import pytest

from projector.dberrors import refused_or_transient
from projector.exceptions import RecordRefused, TransientDatabaseError
from wavestream.db import to_wavestream_error

pytestmark = pytest.mark.unit


def _server_error(code: str) -> psycopg2.Error:
    """A psycopg2 error as the server would raise it (its class and SQLSTATE)."""
    kind = type(f"Server{code}", (psycopg2.errors.lookup(code),), {"pgcode": code})
    return kind(f"server said {code}")


def _ours(driver: psycopg2.Error):
    try:
        raise to_wavestream_error(driver) from driver
    except Exception as exc:  # noqa: BLE001 - the chained error is what we classify
        return refused_or_transient(exc)


@pytest.mark.parametrize("code", [
    "55P03",  # lock_not_available (lock_timeout)
    "40P01",  # deadlock_detected
    "40001",  # serialization_failure
    "57014",  # query_canceled (statement_timeout)
    "53100",  # disk_full
    "53200",  # out_of_memory
    "53300",  # too_many_connections
    "25006",  # read_only_sql_transaction (after a failover to a replica)
    "57P01",  # admin_shutdown
    "08006",  # connection_failure
    "42P01",  # undefined_table (a schema swap in progress)
    "42501",  # insufficient_privilege (fixed by an operator)
    "XX000",  # internal_error
])
def test_errors_about_the_database_are_transient(code):
    error = _ours(_server_error(code))
    assert isinstance(error, TransientDatabaseError) and error.sqlstate == code


@pytest.mark.parametrize("code", ["22003", "22P02", "22021", "23505", "23514", "23502", "54000"])
def test_errors_about_the_data_refuse_the_record(code):
    error = _ours(_server_error(code))
    assert isinstance(error, RecordRefused) and error.sqlstate == code and code in str(error)


def test_a_value_the_driver_cannot_adapt_refuses_the_record():
    assert isinstance(_ours(psycopg2.ProgrammingError("can't adapt type 'object'")), RecordRefused)


def test_a_dropped_connection_without_sqlstate_is_transient():
    assert isinstance(_ours(psycopg2.InterfaceError("connection already closed")), TransientDatabaseError)
