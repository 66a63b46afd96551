"""Errors of the producers package (``wavestream submit`` and ``wavestream command``)."""

from __future__ import annotations

from wavestream.exceptions import WavestreamError


class IngestError(WavestreamError):
    """The input file cannot be read at all (missing, unknown format, unreadable CSV
    header), the submit ledger cannot be used, or records could not be delivered to Kafka."""


class RowError(ValueError):
    """One row cannot become a posting; the message is the rejection reason."""
