"""JSON logging: one line per event, with wavestream context fields.

Context (posting_id, stage, correlation_id, run_id, ...) is passed with ``extra=`` or
bound with :func:`bind`; the JSON formatter emits every extra field as a key.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from typing import Any, Mapping

from pythonjsonlogger.json import JsonFormatter

from wavestream.config import LogSettings, redact_dsn

#: One id per process run, stamped on every log line.
RUN_ID = os.environ.get("WAVESTREAM_RUN_ID") or uuid.uuid4().hex[:12]


class _RunIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "run_id"):
            record.run_id = RUN_ID
        return True


class _RedactFilter(logging.Filter):
    """Masks passwords in DSNs that slip into a message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and ("password" in record.msg or "@" in record.msg):
            record.msg = redact_dsn(record.msg)
        return True


def configure_logging(settings: LogSettings | None = None, stream: Any = None) -> None:
    """Install the root handler (idempotent): JSON lines, or text for humans."""
    settings = settings or LogSettings.from_env()
    handler = logging.StreamHandler(stream or sys.stderr)
    if settings.fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(run_id)s",
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s"))
    handler.addFilter(_RunIdFilter())
    handler.addFilter(_RedactFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_wavestream", False):
            root.removeHandler(old)
    handler._wavestream = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.level)


def bind(logger: logging.Logger, **context: Any) -> logging.LoggerAdapter:
    """A logger that adds ``context`` to every line it writes."""
    return _ContextAdapter(logger, context)


class _ContextAdapter(logging.LoggerAdapter):
    def process(self, msg: str, kwargs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        kwargs = dict(kwargs)
        kwargs["extra"] = {**self.extra, **kwargs.get("extra", {})}
        return msg, kwargs
