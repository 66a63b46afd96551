"""Where a consumer group without committed offsets starts: an explicit choice.

The router (on ``postings``) and the command processor (on ``commands``) read topics
that hold history. A group of theirs with no committed offsets (a new workflow, or
offsets the broker expired after ``offsets.retention.minutes`` while nothing ran) must
neither replay that history nor skip it silently: it refuses to start until the
operator says ``--from earliest`` or ``--from latest``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from consumers.exceptions import StartPositionError
from wavestream.config import KafkaSettings
from wavestream.exceptions import KafkaClientError

log = logging.getLogger(__name__)

START_CHOICES = ("earliest", "latest")

#: Coordinator errors of a broker that just started or moved a group: asked again.
_COORDINATOR_ERRORS = ("NOT_COORDINATOR", "COORDINATOR_LOAD_IN_PROGRESS", "COORDINATOR_NOT_AVAILABLE",
                       "_TIMED_OUT", "_TRANSPORT")
_COMMITTED_ATTEMPTS = 60


def resolve_start(settings: KafkaSettings, group_id: str, topic: str, start: str | None, *, what: str) -> None:
    """Decide where ``group_id`` starts on ``topic``, before its loop joins the group
    (whose ``auto.offset.reset`` is ``earliest``: it applies only where this allows it).

    - The group has committed offsets: it resumes from them; a partition without one
      (no record had reached it) starts at its beginning.
    - It has none and ``topic`` is empty: nothing to replay, start at the beginning.
    - It has none and ``topic`` holds records: ``start`` decides. ``earliest`` takes every
      record (``what`` says what that means, for the refusal's message); ``latest``
      commits the current ends as the group's offsets first, so only new records are
      read. Both are logged as warnings.

    Raises:
        StartPositionError: the group has no offsets, ``topic`` holds records and
            ``start`` is None; or ``start`` is not ``earliest``/``latest``.
        KafkaClientError: offsets or watermarks cannot be read or committed.
    """
    from confluent_kafka import KafkaException, TopicPartition

    from wavestream.clients import build_consumer, watermark_offsets

    if start is not None and start not in START_CHOICES:
        raise StartPositionError(f"unknown start position {start!r} ({' or '.join(START_CHOICES)})")
    consumer = build_consumer(settings, group_id)
    try:
        count = len(consumer.list_topics(topic, timeout=30).topics[topic].partitions)
        partitions = [TopicPartition(topic, p) for p in range(count)]
        committed = _committed(consumer, partitions)
        if any(tp.offset >= 0 for tp in committed):
            log.info("group %s resumes from its committed offsets on %s", group_id, topic)
            return
        marks = {tp.partition: watermark_offsets(consumer, tp) for tp in partitions}
        behind = sum(high - low for low, high in marks.values())
        if behind == 0:
            return
        if start is None:
            raise StartPositionError(
                f"consumer group {group_id} has no committed offsets on {topic}, which holds {behind} "
                f"records: a new workflow, or offsets that expired while nothing ran. Choose where it starts: "
                f"--from earliest {what}, --from latest only new ones")
        if start == "latest":
            ends = [TopicPartition(topic, p, high) for p, (_, high) in marks.items()]
            consumer.commit(offsets=ends, asynchronous=False)
        log.warning("group %s has no committed offsets on %s (%d records): starting from the %s offsets as "
                    "--from %s says", group_id, topic, behind, start, start)
    except KafkaException as exc:
        raise KafkaClientError(f"cannot decide where group {group_id} starts on {topic}: {exc}") from exc
    finally:
        consumer.close()


def _committed(consumer: Any, partitions: list) -> list:
    """The group's committed offsets of ``partitions``, asked again (up to a minute)
    while the group coordinator is loading or moving.

    Raises:
        KafkaException: the offsets cannot be read.
    """
    from confluent_kafka import KafkaError, KafkaException

    retry = {getattr(KafkaError, name) for name in _COORDINATOR_ERRORS if hasattr(KafkaError, name)}
    for attempt in range(_COMMITTED_ATTEMPTS):
        try:
            return consumer.committed(partitions, timeout=30)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if not isinstance(err, KafkaError) or attempt == _COMMITTED_ATTEMPTS - 1 or not (
                    err.retriable() or err.code() in retry):
                raise
            log.info("committed offsets of %d partitions not readable yet (%s): asking again", len(partitions), err)
            time.sleep(1.0)
    raise AssertionError("unreachable")
