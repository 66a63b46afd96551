"""Which database errors are a record's fault and which are the database's state.

Used at the repository boundary (:mod:`projector.repository`) to map the errors of
:mod:`wavestream.db` (psycopg2's, chained) to :class:`RecordRefused` (a bad record: it is
isolated and stored in ``projector_errors``) or :class:`TransientDatabaseError` (the batch
is redone after a backoff; nothing is skipped).
"""

from __future__ import annotations

import psycopg2

from projector.exceptions import RecordRefused, TransientDatabaseError
from wavestream.exceptions import DatabaseError, DatabaseUnavailable

#: SQLSTATE classes that mean "this data is wrong": 22 data exception, 23 integrity
#: constraint violation, and 54 program limit exceeded (54000: a record's oversized key
#: makes an index row too large). The batch is split on them; a statement that only the
#: whole batch made too big then succeeds in halves, and a record that fails alone is
#: refused (redoing it would stall its partition for good). Any other SQLSTATE is about
#: the database's state, not the record: transient.
DATA_ERROR_CLASSES = ("22", "23", "54")
#: What the fold (and value cleaning) raises on an event it cannot fold.
FOLD_ERRORS = (ValueError, TypeError, KeyError, ArithmeticError, RecursionError)


def refused_or_transient(exc: DatabaseError) -> RecordRefused | TransientDatabaseError:
    """Our error for a database error of a batch (the caller raises it ``from exc``):
    :class:`RecordRefused` for data errors (SQLSTATE class 22, 23 or 54, or a value the
    driver could not adapt: no SQLSTATE, a ``DataError``/``ProgrammingError``),
    :class:`TransientDatabaseError` for everything else."""
    cause = exc.__cause__
    code = getattr(cause, "pgcode", None) or None
    message = f"{exc} (SQLSTATE {code})" if code else str(exc)
    if isinstance(exc, DatabaseUnavailable):
        return TransientDatabaseError(message, sqlstate=code)
    if code is not None and code[:2] in DATA_ERROR_CLASSES:
        return RecordRefused(message, sqlstate=code)
    if code is None and isinstance(cause, (psycopg2.DataError, psycopg2.ProgrammingError)):
        return RecordRefused(message)  # client side: psycopg2 could not adapt a value
    return TransientDatabaseError(message, sqlstate=code)
