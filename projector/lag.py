"""Consumer lag for ``wavestream status``: records behind, per group and topic.

Stuck work never hides (DESIGN §9):

- Every group Kafka lists is described too: a partition a member holds (e.g. one paused
  by its loop) or any partition of a topic the group reads counts, committed or not.
- The groups a workflow implies (one per stage, reading ``stage.<s>`` and
  ``stage.<s>.retry``) count even when they never committed or do not exist yet.
- A partition without a committed offset is behind by every record it holds (high -
  low watermark): its group starts there (``auto.offset.reset=earliest``).
- Lag counts records, not transaction markers: each Kafka transaction leaves a commit
  marker after its records, so an idle transactional partition sits one offset (the
  marker) below its high watermark. For every partition that is behind by offsets, a
  ``read_committed`` probe reads from the group's position: when it reaches the end
  without a record, nothing but markers (or aborted records) is left and the lag is 0.
  Otherwise the lag is the offsets behind, an upper bound that includes the markers
  between the records.

Kafka errors are reported in the result (``error``), never raised: the dashboard still
renders.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from wavestream.config import KafkaSettings

log = logging.getLogger(__name__)

_PROBE_CONFIG = {"enable.partition.eof": True, "fetch.max.bytes": 1 << 20,
                 "max.partition.fetch.bytes": 64 << 10}


@dataclass
class _Partition:
    group: str | None  # None: the projector's offsets stored in PostgreSQL
    topic: str
    partition: int
    start: int  # the group's position: committed offset, or the low watermark when none
    committed: bool
    low: int
    high: int

    @property
    def offsets_behind(self) -> int:
        return max(self.high - max(self.start, self.low), 0)


def kafka_lag(settings: KafkaSettings, offsets: list[dict[str, Any]], *,
              expected: Mapping[str, Iterable[str]] | None = None, timeout_s: float = 10.0) -> dict[str, Any]:
    """Lag per consumer group and topic, and the projector's own lag per partition from
    the offsets it stores in PostgreSQL (``offsets``: rows of topic, partition,
    next_offset).

    ``expected`` maps group -> topics it must read (from the workflow): those count even
    when the group never committed or does not exist. Never raises: a Kafka failure is
    returned as ``error``.
    """
    from confluent_kafka import KafkaException

    from wavestream.clients import build_admin, build_consumer

    result: dict[str, Any] = {"groups": [], "projector": []}
    try:
        admin = build_admin(settings)
        consumer = build_consumer(settings, "wavestream-status", **_PROBE_CONFIG)
        try:
            reader = _Reader(admin, consumer, timeout_s)
            rows = reader.group_partitions(dict(expected or {}))
            rows += [reader.partition(None, r["topic"], r["partition"], r["next_offset"]) for r in offsets]
            rows = [r for r in rows if r is not None]
            only_markers = _only_markers(consumer, [r for r in rows if r.offsets_behind > 0], min(timeout_s, 5.0))
            result["groups"] = _per_group(rows, only_markers)
            result["projector"] = [
                {"topic": r.topic, "partition": r.partition, "next_offset": r.start, "high_watermark": r.high,
                 "lag": 0 if (r.topic, r.partition, r.start) in only_markers else r.offsets_behind}
                for r in rows if r.group is None]
            if reader.problems:
                result["problems"] = reader.problems
        finally:
            consumer.close()
    except (KafkaException, Exception) as exc:  # noqa: BLE001 - any Kafka failure is shown, not fatal
        log.warning("consumer lag unavailable", extra={"error": str(exc)})
        result["error"] = str(exc)
    return result


class _Reader:
    """Groups, their committed offsets and assignments, and watermarks (cached)."""

    def __init__(self, admin: Any, consumer: Any, timeout_s: float) -> None:
        self.admin, self.consumer, self.timeout_s = admin, consumer, timeout_s
        self.problems: list[str] = []
        self._marks: dict[tuple[str, int], tuple[int, int]] = {}
        self._partitions: dict[str, list[int]] = {}

    def group_partitions(self, expected: dict[str, Iterable[str]]) -> list[_Partition | None]:
        listed = sorted(g.group_id for g in self.admin.list_consumer_groups(request_timeout=self.timeout_s)
                        .result().valid)
        assigned = self._assignments(listed)
        rows: list[_Partition | None] = []
        for group in sorted(set(listed) | set(expected)):
            committed = self._committed(group)
            topics = {t for t, _ in committed} | {t for t, _ in assigned.get(group, ())} | set(expected.get(group, ()))
            for topic in sorted(topics):
                for p in self._topic_partitions(topic):
                    rows.append(self.partition(group, topic, p, committed.get((topic, p))))
        return rows

    def partition(self, group: str | None, topic: str, partition: int, position: int | None) -> _Partition | None:
        marks = self._watermarks(topic, partition)
        if marks is None:
            return None
        low, high = marks
        committed = position is not None and position >= 0
        return _Partition(group, topic, partition, position if committed else low, committed, low, high)

    def _assignments(self, groups: list[str]) -> dict[str, set[tuple[str, int]]]:
        if not groups:
            return {}
        assigned: dict[str, set[tuple[str, int]]] = {}
        for group, future in self.admin.describe_consumer_groups(groups, request_timeout=self.timeout_s).items():
            try:
                description = future.result()
            except Exception as exc:  # noqa: BLE001 - one group's failure is shown, not fatal
                self.problems.append(f"cannot describe group {group}: {exc}")
                continue
            assigned[group] = {(tp.topic, tp.partition) for member in description.members
                               for tp in (member.assignment.topic_partitions if member.assignment else ())}
        return assigned

    def _committed(self, group: str) -> dict[tuple[str, int], int]:
        from confluent_kafka import ConsumerGroupTopicPartitions

        future = self.admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                        request_timeout=self.timeout_s)[group]
        try:
            return {(tp.topic, tp.partition): tp.offset for tp in future.result().topic_partitions}
        except Exception as exc:  # noqa: BLE001 - e.g. a group that does not exist yet: nothing committed
            log.debug("no committed offsets", extra={"group": group, "error": str(exc)})
            return {}

    def _topic_partitions(self, topic: str) -> list[int]:
        if topic not in self._partitions:
            metadata = self.consumer.list_topics(topic, timeout=self.timeout_s).topics.get(topic)
            if metadata is None or metadata.error is not None:
                self.problems.append(f"topic {topic} does not exist")
                self._partitions[topic] = []
            else:
                self._partitions[topic] = sorted(metadata.partitions)
        return self._partitions[topic]

    def _watermarks(self, topic: str, partition: int) -> tuple[int, int] | None:
        from confluent_kafka import KafkaException, TopicPartition

        key = (topic, partition)
        if key not in self._marks:
            try:
                self._marks[key] = self.consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                                       timeout=self.timeout_s, cached=False)
            except KafkaException as exc:
                self.problems.append(f"cannot read the offsets of {topic}[{partition}]: {exc}")
                return None
        return self._marks[key]


def _only_markers(consumer: Any, rows: list[_Partition], timeout_s: float) -> set[tuple[str, int, int]]:
    """(topic, partition, start) of the rows a ``read_committed`` reader finds no record
    after: only transaction markers or aborted records lie between start and the end.
    A probe that neither sees a record nor reaches the end in ``timeout_s`` (e.g. an
    open transaction holds the end back) leaves the row as offsets behind."""
    from confluent_kafka import KafkaError, TopicPartition

    positions: dict[tuple[str, int], set[int]] = {}
    for r in rows:
        positions.setdefault((r.topic, r.partition), set()).add(r.start)
    found: set[tuple[str, int, int]] = set()
    # Groups may sit at different positions of one partition: one round per position.
    for i in range(max((len(s) for s in positions.values()), default=0)):
        wanted = {key: sorted(s)[i] for key, s in positions.items() if len(s) > i}
        consumer.assign([TopicPartition(t, p, o) for (t, p), o in sorted(wanted.items())])
        waiting = set(wanted)
        deadline = time.monotonic() + timeout_s
        while waiting and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.2):
                key = (msg.topic(), msg.partition())
                err = msg.error()
                if key not in waiting or (err is not None and err.code() != KafkaError._PARTITION_EOF):
                    continue
                waiting.discard(key)
                if err is not None:  # the end, before any record
                    found.add((*key, wanted[key]))
        consumer.unassign()
    return found


def _per_group(rows: list[_Partition], only_markers: set[tuple[str, int, int]]) -> list[dict[str, Any]]:
    """One row per (group, topic): lag (records behind), partitions, uncommitted (those
    without a committed offset) and behind (those with records behind)."""
    per: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if r.group is None:
            continue
        lag = 0 if (r.topic, r.partition, r.start) in only_markers else r.offsets_behind
        entry = per.setdefault((r.group, r.topic), {"group": r.group, "topic": r.topic, "lag": 0, "partitions": 0,
                                                     "uncommitted": 0, "behind": 0})
        entry["lag"] += lag
        entry["partitions"] += 1
        entry["uncommitted"] += 0 if r.committed else 1
        entry["behind"] += 1 if lag else 0
    return [per[k] for k in sorted(per)]
