"""Find the latest ``StageCommand`` of a posting in a stage's topics.

``rerun`` and ``decide`` need the posting and its upstream outputs, which live in the
commands of ``stage.<s>`` / ``stage.<s>.retry``. Records are keyed by posting id and every
topic uses the same partitioner and partition count, so the posting's partition in the
``commands`` topic is tried first; the other partitions are scanned when it is not there
(different partition counts or partitioners). A scan reads from the low to the high
watermark (read_committed): meant for operator actions, not for the hot path.

Once the stage topics' retention removed the posting's commands there, the command is
rebuilt from the posting's events in ``events`` (kept for ever; same key, so the same
partition is tried first): :mod:`consumers.journey`. So rerun and decide work at any age;
past the retention they cost a scan of an ``events`` partition.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Iterator, Mapping

from confluent_kafka import TopicPartition

from consumers.journey import JourneyFold
from wavestream.clients import build_consumer, watermark_offsets
from wavestream.codec import AvroCodec
from wavestream.config import KafkaSettings
from wavestream.exceptions import CodecError, KafkaClientError
from wavestream.topics import EVENTS, retry_topic, stage_topic

_TIMEOUT_S = 30.0
#: Polls (0.2 s each) without the position moving before a read gives up.
_STALL_ROUNDS = 300


class CommandLookup:
    """Scans stage topics with one reusable consumer (never commits offsets)."""

    def __init__(self, settings: KafkaSettings, codec: AvroCodec,
                 seed: Callable[[Mapping[str, Any]], Mapping[str, str]] = lambda posting: {}) -> None:
        """``seed(posting)``: the outputs the workflow's entry point seeds from posting
        fields (a command rebuilt from events starts from them)."""
        self.codec, self._seed = codec, seed
        self.consumer = build_consumer(settings, f"wavestream-lookup-{uuid.uuid4().hex[:8]}", read_committed=True)

    def latest(self, stage: str, posting_id: str, partition_hint: int | None = None) -> dict[str, Any] | None:
        """The most recently issued command for ``posting_id`` at ``stage``, from the stage
        topics, else rebuilt from ``events``; None if neither has one.

        Raises:
            KafkaException: metadata or watermarks cannot be read.
            KafkaClientError: a partition could not be read to its end.
        """
        topics = [stage_topic(stage), retry_topic(stage)]
        counts = {t: len(self.consumer.list_topics(t, timeout=_TIMEOUT_S).topics[t].partitions) for t in topics}
        first = [TopicPartition(t, partition_hint) for t in topics
                 if partition_hint is not None and partition_hint < counts[t]]
        found = self._scan(first, posting_id)
        if found is None:
            rest = [TopicPartition(t, p) for t in topics for p in range(counts[t])
                    if partition_hint is None or p != partition_hint]
            found = self._scan(rest, posting_id)
        return found if found is not None else self.from_events(stage, posting_id, partition_hint)

    def from_events(self, stage: str, posting_id: str, partition_hint: int | None = None) -> dict[str, Any] | None:
        """The posting's latest command at ``stage`` rebuilt from ``events`` (the hinted
        partition first, then the others); None when no event routed it there.

        Raises:
            KafkaException: metadata or watermarks cannot be read.
            KafkaClientError: a partition could not be read to its end.
        """
        count = len(self.consumer.list_topics(EVENTS, timeout=_TIMEOUT_S).topics[EVENTS].partitions)
        order = ([partition_hint] if partition_hint is not None and partition_hint < count else [])
        order += [p for p in range(count) if p not in order]
        for partition in order:
            fold = JourneyFold(posting_id, stage, self._seed)
            low, high = watermark_offsets(self.consumer, TopicPartition(EVENTS, partition))
            fold.feed(self._read(TopicPartition(EVENTS, partition, low), high, "InteractionEvent", posting_id))
            if fold.latest is not None:
                return fold.latest
        return None

    def _scan(self, partitions: list[TopicPartition], posting_id: str) -> dict[str, Any] | None:
        best: dict[str, Any] | None = None
        for tp in partitions:
            low, high = watermark_offsets(self.consumer, tp)
            for command in self._read(TopicPartition(tp.topic, tp.partition, low), high, "StageCommand", posting_id):
                if command["posting_id"] == posting_id and (best is None or _issued(command) >= _issued(best)):
                    best = command
        return best

    def _read(self, start: TopicPartition, high: int, schema: str, posting_id: str) -> Iterator[dict[str, Any]]:
        """The decoded values of the records keyed ``posting_id`` from ``start`` up to
        ``high``, streamed (a partition of ``events`` may hold millions of records: only
        the posting's are decoded, none is kept). Reading goes on while the position moves.

        Raises:
            KafkaClientError: the position stopped moving for ``_STALL_ROUNDS`` polls
                before reaching ``high``.
        """
        if start.offset >= high:
            return
        key = posting_id.encode()
        self.consumer.assign([start])
        last, stalled = start.offset, 0
        try:
            while True:
                for msg in self.consumer.consume(500, 0.2):
                    if msg.error() is None and msg.key() == key:
                        try:
                            yield self.codec.decode(msg.value(), schema).value
                        except CodecError:
                            continue  # a poison record: its consumer (worker, projector) deals with it
                (pos,) = self.consumer.position([TopicPartition(start.topic, start.partition)])
                if pos.offset >= high:
                    return
                stalled = stalled + 1 if pos.offset <= last else 0
                last = max(last, pos.offset)
                if stalled >= _STALL_ROUNDS:
                    raise KafkaClientError(f"could not read {start.topic}[{start.partition}] to offset {high}: "
                                           f"stuck at {last}")
        finally:
            self.consumer.unassign()

    def close(self) -> None:
        self.consumer.close()


def _issued(command: dict[str, Any]) -> tuple[float, int]:
    issued = command["issued_at"]
    return (issued.timestamp() if hasattr(issued, "timestamp") else issued / 1000, int(command["attempt"]))
