"""Errors of the projector package; all derive from :class:`WavestreamError`."""

from __future__ import annotations

from wavestream.exceptions import WavestreamError


class ProjectorError(WavestreamError):
    """The projector cannot go on (e.g. its topic is missing)."""


class ConsumerFenced(ProjectorError):
    """The Kafka consumer hit a fatal error (e.g. a static member fenced after its session
    timed out while a broker was down): it cannot consume again; a new one must join."""


class OffsetConflict(ProjectorError):
    """The stored offsets moved under a batch (another projector instance, or a replay
    swapped the schema): the batch was rolled back; re-seek to the stored offsets."""


class ReplayError(ProjectorError):
    """A replay could not build, verify or swap the read models; live stays untouched."""


class VerificationFailed(ReplayError):
    """A rebuilt schema's row counts or checksums differ from the live ones."""

    def __init__(self, message: str, differences: dict[str, tuple]) -> None:
        super().__init__(message)
        self.differences = differences


class TransientDatabaseError(ProjectorError):
    """PostgreSQL could not apply a batch for a reason that is not the batch's data: the
    connection was lost, the server is shutting down or read-only, a lock or statement
    timed out, a deadlock or serialization failure, the disk is full, too many
    connections, ... The transaction was rolled back; the batch is redone after a
    backoff (offsets are not advanced), so no event is dropped.

    ``sqlstate`` is PostgreSQL's SQLSTATE code (None when the driver had none, e.g. a
    dropped socket)."""

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class RecordRefused(ProjectorError):
    """The database refused the data of a batch (SQLSTATE class 22 data exception, 23
    integrity constraint violation or 54 program limit exceeded, or the driver could
    not adapt a value), or the fold refused an event: a bad record, isolated and
    stored in ``projector_errors``."""

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class BulkUnsupported(ReplayError):
    """The bulk rebuild cannot load this topic as the live projector would (a record the
    fold or the database refuses, a posting spread over partitions): rebuild with the
    incremental path instead, which isolates such records."""
