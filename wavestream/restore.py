"""``wavestream import DIR``: an export (:mod:`wavestream.backup`) into an empty cluster.

1. The manifest and every file are verified (sizes, sha256) before anything changes.
2. The target must have no topics (internal ``__*`` ones aside) unless ``force``.
3. Topics are created with the exported partition counts, replication factors
   (``replication_factor`` overrides; ``min.insync.replicas`` is capped at it) and
   settings.
4. Every partition's records go to the same partition, in the same order, with
   their keys, values, headers and timestamps, through an idempotent producer
   (ordered, no duplicates on retries).
5. Offsets move (markers and aborted records of the source took offsets; a
   ``force`` import appends after existing records), so every consumer group's
   committed offset is translated: to the new offset of the first record at or after
   it (delivery reports come in order per partition), or to the new end when it was
   at the end. Then the groups' offsets are set.

Afterwards ``wavestream replay`` rebuilds the read models from the new ``events``
topic (the read-model dump's stored offsets belong to the old cluster).
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from wavestream.archive import read_entries, read_manifest, verify
from wavestream.backup import user_topics
from wavestream.clients import build_admin, build_consumer, build_producer, watermark_offsets
from wavestream.config import KafkaSettings
from wavestream.exceptions import BackupError
from wavestream.topics import TopicSpec, create_topics

log = logging.getLogger(__name__)

_TIMEOUT_S = 30.0


@dataclass
class ImportReport:
    topics: int = 0
    records: int = 0
    groups: int = 0
    seconds: float = 0.0
    #: (topic, partition) -> {old committed offset: new offset}
    translated: dict[tuple[str, int], dict[int, int]] = field(default_factory=dict)


class _Translator:
    """Old -> new offsets of one partition for the committed offsets of its groups."""

    def __init__(self, wanted: set[int]) -> None:
        self.pending = sorted(wanted)
        self.done: dict[int, int] = {}
        self.last_old = -1
        self.failures: list[str] = []

    def delivered(self, err: Any, msg: Any, old: int) -> None:
        if err is not None:
            self.failures.append(str(err))
            return
        if old < self.last_old:
            self.failures.append(f"delivery reports out of order at offset {old}")
        self.last_old = old
        while self.pending and self.pending[0] <= old:
            self.done[self.pending.pop(0)] = msg.offset()

    def finish(self, new_end: int) -> dict[int, int]:
        """The map, with offsets past the last record going to ``new_end``."""
        for old in self.pending:
            self.done[old] = new_end
        self.pending = []
        return self.done


class Importer:
    """One import of ``directory`` into the cluster of ``kafka``."""

    def __init__(self, kafka: KafkaSettings, directory: Path, *, force: bool = False,
                 replication_factor: int | None = None, progress: bool = True) -> None:
        self.kafka = kafka
        self.directory = Path(directory)
        self.force = force
        self.replication_factor = replication_factor
        self.progress = progress

    def run(self) -> ImportReport:
        """Verify, create topics, produce, carry the group offsets over.

        Raises:
            BackupError: the export fails verification, the target is not empty (and
                not ``force``), an existing topic has another partition count, or a
                record could not be delivered.
        """
        started = time.monotonic()
        manifest = read_manifest(self.directory)
        total = verify(self.directory, manifest)
        admin = build_admin(self.kafka)
        self._check_target(admin, manifest)
        create_topics(admin, [self._spec(t) for t in manifest["topics"]])
        wanted = _wanted_offsets(manifest["groups"])
        translators = {tp: _Translator(wanted.get(tp, set())) for tp in
                       ((t["name"], f["partition"]) for t in manifest["topics"] for f in t["files"])}
        report = ImportReport(topics=len(manifest["topics"]))
        report.records = self._produce(manifest, translators, total)
        consumer = build_consumer(self.kafka, "wavestream-import")
        try:
            for (topic, partition), translator in translators.items():
                end = watermark_offsets(consumer, TopicPartition(topic, partition))[1]
                report.translated[(topic, partition)] = translator.finish(end)
        finally:
            consumer.close()
        report.groups = self._set_group_offsets(manifest["groups"], report.translated)
        report.seconds = time.monotonic() - started
        log.info("import done", extra={"directory": str(self.directory), "records": report.records,
                                       "groups": report.groups, "seconds": round(report.seconds, 2)})
        return report

    def _check_target(self, admin: Any, manifest: dict[str, Any]) -> None:
        existing = user_topics(admin)
        if existing and not self.force:
            raise BackupError(f"the target cluster is not empty (topics: {', '.join(sorted(existing)[:10])}"
                              f"{' ...' if len(existing) > 10 else ''}); import into an empty cluster or pass --force")
        for topic in manifest["topics"]:
            md = existing.get(topic["name"])
            if md is not None and len(md.partitions) != topic["partitions"]:
                raise BackupError(f"topic {topic['name']} exists with {len(md.partitions)} partitions; the export"
                                  f" has {topic['partitions']}")

    def _spec(self, topic: dict[str, Any]) -> TopicSpec:
        config = dict(topic["config"])
        rf = self.replication_factor or topic["replication_factor"]
        if "min.insync.replicas" in config and int(config["min.insync.replicas"]) > rf:
            config["min.insync.replicas"] = str(rf)
        return TopicSpec(topic["name"], topic["partitions"], rf, config)

    def _produce(self, manifest: dict[str, Any], translators: dict, total: int) -> int:
        producer = build_producer(self.kafka, **{"linger.ms": 50, "batch.size": 1_000_000,
                                                 "queue.buffering.max.messages": 500_000})
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=total, desc="import", unit="rec", unit_scale=True, file=sys.stderr, mininterval=0.5)
        count = 0
        try:
            for topic in manifest["topics"]:
                for part in topic["files"]:
                    translator = translators[(topic["name"], part["partition"])]
                    n = self._produce_partition(producer, topic["name"], part, translator)
                    if n != part["records"]:
                        raise BackupError(f"{part['file']} holds {n} records; the manifest says {part['records']}")
                    count += n
                    if bar is not None:
                        bar.update(n)
            if producer.flush(120) != 0:
                raise BackupError("records were still undelivered after 120 s")
        finally:
            if bar is not None:
                bar.close()
        failures = [f for t in translators.values() for f in t.failures]
        if failures:
            raise BackupError(f"{len(failures)} records were not delivered: {failures[:3]}")
        return count

    def _produce_partition(self, producer: Any, topic: str, part: dict[str, Any], translator: _Translator) -> int:
        n = 0
        for e in read_entries(self.directory / part["file"]):
            def report(err: Any, msg: Any, old: int = e.offset) -> None:
                translator.delivered(err, msg, old)

            kwargs: dict[str, Any] = {"partition": part["partition"], "key": e.key, "value": e.value,
                                      "on_delivery": report}
            if e.headers:
                kwargs["headers"] = e.headers
            if e.timestamp > 0:
                kwargs["timestamp"] = e.timestamp
            while True:
                try:
                    producer.produce(topic, **kwargs)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
            n += 1
        return n

    def _set_group_offsets(self, groups: dict[str, Any], translated: dict) -> int:
        for group, topics in sorted(groups.items()):
            offsets = {(topic, int(p)): translated[(topic, int(p))][old]
                       for topic, parts in sorted(topics.items()) for p, old in sorted(parts.items())}
            _set_offsets(self.kafka, group, offsets)
        return len(groups)


_SET_ATTEMPTS = 60


def _set_offsets(settings: KafkaSettings, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit ``offsets`` for ``group`` with a consumer of that group that joins nothing
    (a plain offset commit), and read them back. A fresh cluster's group coordinator
    may still be loading, so both are retried until the read-back matches. (The admin
    API's alter/list of group offsets crashed confluent-kafka 2.16 against a group that
    did not exist yet: a consumer does the same with the protocol's plain calls.)

    Raises:
        BackupError: the offsets did not stick (e.g. the group has active members).
    """
    tps = [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]
    consumer = build_consumer(settings, group)
    problem = ""
    try:
        for _ in range(_SET_ATTEMPTS):
            try:
                consumer.commit(offsets=tps, asynchronous=False)
                stored = {(tp.topic, tp.partition): tp.offset
                          for tp in consumer.committed([TopicPartition(t, p) for t, p in offsets], _TIMEOUT_S)}
                if stored == offsets:
                    return
                problem = f"read back {stored}"
            except KafkaException as exc:
                problem = str(exc)
            time.sleep(1.0)
    finally:
        consumer.close()
    raise BackupError(f"cannot set the offsets of group {group} (is it running?): {problem}")


def _wanted_offsets(groups: dict[str, Any]) -> dict[tuple[str, int], set[int]]:
    wanted: dict[tuple[str, int], set[int]] = {}
    for topics in groups.values():
        for topic, parts in topics.items():
            for p, offset in parts.items():
                wanted.setdefault((topic, int(p)), set()).add(offset)
    return wanted
