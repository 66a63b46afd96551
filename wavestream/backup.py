"""``wavestream export DIR``: every topic of the deployment to files (DESIGN §10).

1. The committed offsets of every consumer group are read FIRST, then the high-water
   marks: so every exported group offset lies within the exported records (a group
   that moved on meanwhile re-reads a little after a restore; it never skips).
2. Every partition of every topic (internal ``__*`` topics aside) is read from its
   start up to that high-water mark with a ``read_committed`` consumer: records of
   aborted transactions and transaction markers are left out, so offsets may have
   gaps; the import translates group offsets over them.
3. Records go to one file per partition (format: :mod:`wavestream.archive`), with a
   progress bar on stderr; the manifest is written last.
4. With a PostgreSQL DSN and ``pg_dump`` on the PATH, the read-model schema is dumped
   too (``--format=custom``); the password travels in ``PGPASSWORD``, never on the
   command line.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import ConfigResource, ConfigSource

from wavestream.archive import Entry, PartitionWriter, file_sha256, partition_path, write_manifest
from wavestream.clients import build_admin, build_consumer, watermark_offsets
from wavestream.config import KafkaSettings, PostgresSettings
from wavestream.exceptions import BackupError

log = logging.getLogger(__name__)

_TIMEOUT_S = 30.0
DUMP_FILE = "read_models.dump"


def user_topics(admin: Any) -> dict[str, Any]:
    """name -> metadata of every topic but Kafka's internal ``__*`` ones."""
    topics = admin.list_topics(timeout=_TIMEOUT_S).topics
    return {name: md for name, md in sorted(topics.items()) if not name.startswith("__")}


def group_offsets(settings: KafkaSettings, admin: Any, partitions: list[tuple[str, int]]
                  ) -> dict[str, dict[str, dict[str, int]]]:
    """group -> topic -> partition (as a string) -> committed offset, for ``partitions``.
    Offsets are fetched by a consumer of each group that joins nothing (plain offset
    fetch; the admin API's group-offset calls crashed confluent-kafka 2.16 in places).

    Raises:
        BackupError: the groups or their offsets cannot be read.
    """
    try:
        listed = admin.list_consumer_groups(request_timeout=_TIMEOUT_S).result()
    except KafkaException as exc:
        raise BackupError(f"cannot list consumer groups: {exc}") from exc
    result: dict[str, dict[str, dict[str, int]]] = {}
    for group in sorted(g.group_id for g in listed.valid):
        consumer = build_consumer(settings, group)
        try:
            committed = consumer.committed([TopicPartition(t, p) for t, p in partitions], _TIMEOUT_S)
        except KafkaException as exc:
            raise BackupError(f"cannot read the offsets of group {group}: {exc}") from exc
        finally:
            consumer.close()
        for tp in committed:
            if tp.offset >= 0:
                result.setdefault(group, {}).setdefault(tp.topic, {})[str(tp.partition)] = tp.offset
    return result


def topic_settings(admin: Any, names: list[str]) -> dict[str, dict[str, str]]:
    """topic -> its settings that were set on the topic (not broker defaults)."""
    if not names:
        return {}
    resources = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in names]
    settings: dict[str, dict[str, str]] = {}
    for resource, future in admin.describe_configs(resources, request_timeout=_TIMEOUT_S).items():
        try:
            entries = future.result()
        except KafkaException as exc:
            raise BackupError(f"cannot describe topic {resource.name}: {exc}") from exc
        settings[resource.name] = {k: e.value for k, e in sorted(entries.items())
                                   if getattr(e.source, "value", e.source) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
                                   and e.value is not None}
    return settings


class Exporter:
    """One export into ``directory`` (which must not hold an export already)."""

    def __init__(self, kafka: KafkaSettings, directory: Path, *, topics: list[str] | None = None,
                 postgres: PostgresSettings | None = None, pg_schema: str = "wavestream",
                 progress: bool = True, idle_timeout_s: float = 300.0) -> None:
        self.kafka = kafka
        self.directory = Path(directory)
        self.only = set(topics) if topics else None
        self.postgres = postgres
        self.pg_schema = pg_schema
        self.progress = progress
        self.idle_timeout_s = idle_timeout_s

    def run(self) -> dict[str, Any]:
        """Export; returns the manifest.

        Raises:
            BackupError: the directory holds an export, a topic asked for does not exist,
                Kafka or pg_dump failed.
        """
        if (self.directory / "manifest.json").exists() or (self.directory / "topics").exists():
            raise BackupError(f"{self.directory} already holds an export; choose an empty directory")
        self.directory.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        admin = build_admin(self.kafka)
        metadata = user_topics(admin)
        if self.only is not None:
            missing = sorted(self.only - set(metadata))
            if missing:
                raise BackupError(f"topics not found: {', '.join(missing)}")
            metadata = {n: md for n, md in metadata.items() if n in self.only}
        partitions = [(t, p) for t, md in metadata.items() for p in sorted(md.partitions)]
        groups = group_offsets(self.kafka, admin, partitions)  # before the high-water marks: see the module doc
        settings = topic_settings(admin, list(metadata))
        topics = self._read_topics(metadata, settings)
        manifest = {"created_at": datetime.now(timezone.utc).isoformat(), "topics": topics,
                    "groups": groups, "read_models": self._dump()}
        manifest["seconds"] = round(time.monotonic() - started, 3)
        write_manifest(self.directory, manifest)
        log.info("export written", extra={"directory": str(self.directory), "topics": len(topics),
                                          "records": sum(f["records"] for t in topics for f in t["files"]),
                                          "seconds": manifest["seconds"]})
        return manifest

    def _read_topics(self, metadata: dict[str, Any], settings: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
        consumer = build_consumer(self.kafka, f"wavestream-export-{uuid.uuid4().hex[:8]}",
                                  **{"enable.partition.eof": True, "fetch.max.bytes": 64 * 1024 * 1024})
        try:
            bounds = {(t, p): watermark_offsets(consumer, TopicPartition(t, p))
                      for t, md in metadata.items() for p in md.partitions}
            writers = {tp: PartitionWriter(self.directory / partition_path(*tp)) for tp in bounds}
            self._consume(consumer, {tp: high for tp, (low, high) in bounds.items() if high > low}, writers,
                          sum(high - low for low, high in bounds.values()))
        finally:
            consumer.close()
        topics = []
        for name, md in metadata.items():
            replicas = len(next(iter(md.partitions.values())).replicas) if md.partitions else 1
            files = []
            for p in sorted(md.partitions):
                low, high = bounds[(name, p)]
                files.append({"partition": p, "file": partition_path(name, p), "low": low, "high": high,
                              **writers[(name, p)].close()})
            topics.append({"name": name, "partitions": len(md.partitions), "replication_factor": replicas,
                           "config": settings.get(name, {}), "files": files})
        return topics

    def _consume(self, consumer: Any, todo: dict[tuple[str, int], int], writers: dict, total: int) -> None:
        """Read every partition of ``todo`` up to its target into its writer."""
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=total, desc="export", unit="rec", unit_scale=True, file=sys.stderr, mininterval=0.5)
        try:
            if todo:
                consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in sorted(todo)])
            last = time.monotonic()
            while todo:
                messages = consumer.consume(num_messages=10_000, timeout=0.5)
                for m in messages:
                    tp = (m.topic(), m.partition())
                    if tp not in todo:
                        continue
                    err = m.error()
                    if err is None and m.offset() < todo[tp]:
                        ts_type, ts = m.timestamp()
                        writers[tp].append(Entry(m.offset(), ts, ts_type, m.key(), m.value(), m.headers()))
                    elif err is not None and err.code() != KafkaError._PARTITION_EOF:
                        log.warning("consumer error during export", extra={"error": str(err)})
                        continue
                    at = m.offset() if err is not None else m.offset() + 1
                    if at >= todo[tp]:
                        del todo[tp]
                        consumer.pause([TopicPartition(*tp)])
                if messages:
                    last = time.monotonic()
                    if bar is not None:
                        bar.update(sum(1 for m in messages if m.error() is None))
                elif time.monotonic() - last > self.idle_timeout_s:
                    raise BackupError(f"partitions {sorted(todo)} brought nothing for {self.idle_timeout_s:.0f}s"
                                      " (a transaction left open?)")
        finally:
            if bar is not None:
                bar.close()

    def _dump(self) -> dict[str, Any] | None:
        """pg_dump of the read-model schema, when there is a DSN and pg_dump."""
        if self.postgres is None:
            return None
        tool = shutil.which("pg_dump")
        if tool is None:
            log.warning("pg_dump is not on the PATH: the read models are not dumped (replay rebuilds them)")
            return None
        conninfo, env = libpq_args(self.postgres.dsn)
        target = self.directory / DUMP_FILE
        done = subprocess.run([tool, "--format=custom", f"--schema={self.pg_schema}", f"--file={target}",
                               f"--dbname={conninfo}"], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise BackupError(f"pg_dump failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
        return {"file": DUMP_FILE, "schema": self.pg_schema, "format": "pg_dump custom",
                "sha256": file_sha256(target), "bytes": target.stat().st_size}


def libpq_args(dsn: str) -> tuple[str, dict[str, str]]:
    """(conninfo without the password, environment with ``PGPASSWORD``) for a libpq tool,
    so the password never shows on a command line."""
    from psycopg2.extensions import make_dsn, parse_dsn

    params = parse_dsn(dsn)
    env = dict(os.environ)
    password = params.pop("password", None)
    if password:
        env["PGPASSWORD"] = password
    return make_dsn(**params), env
