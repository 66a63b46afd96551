"""The exception hierarchy shared by every wavestream package.

Every error raised on purpose by wavestream derives from :class:`WavestreamError`, so a
caller can catch one class. Library errors are wrapped with ``raise ... from exc`` at
the boundary where they occur.
"""


class WavestreamError(Exception):
    """Root of every error wavestream raises on purpose."""


class ConfigError(WavestreamError):
    """A required setting is missing or a setting has an invalid value."""


class CodecError(WavestreamError):
    """A record could not be encoded or decoded.

    Decoding errors carry enough context for the caller to route the raw record to the
    dead-letter topic; the ``reason`` attribute is a short machine-friendly label.
    """

    def __init__(self, message: str, *, reason: str = "decode_error") -> None:
        super().__init__(message)
        self.reason = reason


class SchemaError(WavestreamError):
    """An Avro schema file is missing or invalid."""


class TopicError(WavestreamError):
    """A topic could not be created or described, or a required topic is missing."""


class KafkaClientError(WavestreamError):
    """A Kafka client could not be built or failed in a way the caller must handle."""


class DatabaseError(WavestreamError):
    """PostgreSQL failed; wraps psycopg2 errors at the repository boundary."""


class DatabaseUnavailable(DatabaseError):
    """PostgreSQL could not be reached (connection refused, server shut down)."""


class MigrationError(DatabaseError):
    """A SQL migration failed or the migrations directory is inconsistent."""


class BackupError(WavestreamError):
    """An export or import failed, or an export directory fails verification."""
