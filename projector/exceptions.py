"""Errors of the projector package; all derive from :class:`WavestreamError`."""

from __future__ import annotations

from wavestream.exceptions import WavestreamError


class ProjectorError(WavestreamError):
    """The projector cannot go on (e.g. its topic is missing)."""


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


class BulkUnsupported(ReplayError):
    """The bulk rebuild cannot load this topic as the live projector would (a record the
    fold or the database refuses, a posting spread over partitions): rebuild with the
    incremental path instead, which isolates such records."""
