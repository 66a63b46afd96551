"""The submit ledger: which postings ``wavestream submit`` has already delivered.

Running a file again (after a run that stopped partway, or by mistake) must not redo the
LLM work of postings already on ``postings``: every submission starts a new journey
(DESIGN §6). So ``submit`` skips a posting whose idempotency key is in the ledger, and
records a posting's key once the broker has acknowledged it (its delivery report).

The idempotency key is a hash of what the posting says: its posting_id, title,
description, company, location, url, summary and attributes, not the file, line or
submission time. The same posting in another file is recognised; a posting whose id
stays but whose content changed is new and is submitted. ``submit --resubmit`` submits
every row again (new journeys) and keeps the ledger up to date.

The ledger is local to the machine that submits: one append-only file per Kafka cluster
and postings topic under ``WAVESTREAM_SUBMIT_LEDGER_DIR``, one key (32 hex digits) a line,
read into memory when a submission starts (about 100 bytes per posting).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping, TextIO

from producers.exceptions import IngestError

_CONTENT = ("posting_id", "title", "description", "company", "location", "url", "summary")


def idempotency_key(posting: Mapping[str, Any]) -> str:
    """The key that identifies a posting's content: 32 hex digits of a sha256 over its
    fields and attributes (in key order), never over ``source`` or ``submitted_at``."""
    content = [posting.get(name) for name in _CONTENT]
    content.append(sorted((posting.get("attributes") or {}).items()))
    return hashlib.sha256(json.dumps(content, separators=(",", ":")).encode("utf-8")).hexdigest()[:32]


def ledger_scope(bootstrap_servers: str, postings_topic: str) -> str:
    """What a ledger file is for: the cluster (its bootstrap servers, in any order) and
    the topic postings go to."""
    servers = ",".join(sorted(s.strip() for s in bootstrap_servers.split(",") if s.strip()))
    return f"{servers}/{postings_topic}"


class Ledger:
    """The keys delivered for one scope; use :meth:`open` as a context manager."""

    def __init__(self, path: Path, keys: set[str], fh: TextIO) -> None:
        self.path, self._keys, self._fh = path, keys, fh

    @classmethod
    def open(cls, directory: Path, scope: str) -> "Ledger":
        """Open (or create) the ledger of ``scope`` under ``directory``.

        Raises:
            IngestError: the directory or file cannot be created, read or written.
        """
        name = hashlib.sha256(scope.encode("utf-8")).hexdigest()[:16]
        path = Path(directory).expanduser() / f"{name}.keys"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            keys: set[str] = set()
            if path.exists():
                with path.open("r", encoding="ascii", errors="replace") as fh:
                    keys = {line.strip() for line in fh if len(line.strip()) == 32}
            handle = path.open("a", encoding="ascii", buffering=1)  # a line reaches the file at once
        except OSError as exc:
            raise IngestError(f"cannot use the submit ledger {path}: {exc}") from exc
        return cls(path, keys, handle)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def record(self, key: str) -> None:
        """Add a delivered posting's key.

        Raises:
            IngestError: the ledger file cannot be written.
        """
        if key in self._keys:
            return
        try:
            self._fh.write(key + "\n")
        except OSError as exc:
            raise IngestError(f"cannot write the submit ledger {self.path}: {exc}") from exc
        self._keys.add(key)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
