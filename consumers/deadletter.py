"""Dead letters: a record that cannot be processed, kept raw with why and where from.

The value and key are the original bytes; headers name the error and the origin, so an
operator can inspect or replay the record: ``error.class``, ``error.reason``,
``error.message``, ``origin.topic``, ``origin.partition``, ``origin.offset``,
``origin.timestamp``.
"""

from __future__ import annotations

from typing import Any

from wavestream.topics import DEADLETTER

MAX_MESSAGE_CHARS = 2000


def deadletter_headers(msg: Any, error: BaseException) -> list[tuple[str, bytes]]:
    """Headers describing ``error`` and the origin of the consumed message ``msg``."""
    _, timestamp = msg.timestamp()
    headers = [
        ("error.class", type(error).__name__),
        ("error.reason", str(getattr(error, "reason", "") or "")),
        ("error.message", str(error)[:MAX_MESSAGE_CHARS]),
        ("origin.topic", msg.topic()),
        ("origin.partition", str(msg.partition())),
        ("origin.offset", str(msg.offset())),
        ("origin.timestamp", str(timestamp)),
    ]
    original = [(k, v if isinstance(v, bytes) else str(v).encode()) for k, v in (msg.headers() or [])]
    return [(k, v.encode("utf-8")) for k, v in headers] + [("original." + k, v) for k, v in original]


def deadletter_record(msg: Any, error: BaseException) -> tuple[str, bytes | None, bytes | None, list]:
    """(topic, key, value, headers) to produce for ``msg``."""
    return DEADLETTER, msg.key(), msg.value(), deadletter_headers(msg, error)


def header(headers: list[tuple[str, bytes]] | None, name: str) -> str | None:
    """The decoded value of header ``name``; None when absent."""
    for key, value in headers or []:
        if key == name:
            return value.decode("utf-8") if isinstance(value, bytes) else value
    return None
