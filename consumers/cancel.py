"""Per-posting control state of one workflow: cancel epochs and commands already applied
(DESIGN §5), kept in the compacted ``commands.state.<workflow>`` topic.

The command processor is the only writer: it produces a ``PostingControl`` record for a
posting in the same transaction as the events of the command that changed it, keyed by
posting_id. Compaction keeps the latest record per posting, so reading the topic costs
one record per posting that ever received a command, not the command history.

Cancellation is position-aware through epochs: every ``StageCommand`` carries the
``epoch`` of its journey (0 from the router; commands derived from a command inherit
it). A cancel records ``cancelled`` at the posting's current epoch E; a rerun after it
records epoch E+1, not cancelled, and issues its command with epoch E+1. A worker skips
a command iff the latest record it has read says cancelled and the command's epoch is
<= the record's epoch; so a rerun's command that reaches a worker before that worker
has read the rerun's record still runs, while a command issued before the cancel (one
that was running when the cancel came, and its successors) is skipped.

:class:`CancelRegistry` reads the topic (read_committed, no consumer group): the stage
workers call :meth:`CancelRegistry.is_cancelled`; the command processor reads and writes
through :meth:`get`/:meth:`put` and re-reads a partition after a rewind
(:meth:`reload_partition`).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

from wavestream.clients import build_consumer, high_watermarks
from wavestream.codec import AvroCodec
from wavestream.config import KafkaSettings
from wavestream.exceptions import CodecError, KafkaClientError
from wavestream.topics import control_topic

log = logging.getLogger(__name__)
#: Catching up fails only when no record arrived for this long (never after a fixed count).
STALL_S = 60.0
#: How many command ids (and decided parked commands) a record keeps per posting.
KEEP_IDS = 64


def control_record(posting_id: str, *, epoch: int = 0, cancelled: bool = False, cancelled_at: int | None = None,
                   changed_by: str = "", changed_at: int = 0, decided: list[str] | None = None,
                   handled: list[str] | None = None) -> dict[str, Any]:
    """A ``PostingControl`` dict (timestamps in epoch milliseconds)."""
    return {"posting_id": posting_id, "epoch": epoch, "cancelled": cancelled, "cancelled_at": cancelled_at,
            "changed_by": changed_by, "changed_at": changed_at, "decided": list(decided or [])[-KEEP_IDS:],
            "handled": list(handled or [])[-KEEP_IDS:]}


class CancelRegistry:
    """The latest ``PostingControl`` per posting of one workflow; :meth:`catch_up` once at
    start, then it reads what arrives as it is asked."""

    def __init__(self, settings: KafkaSettings, codec: AvroCodec, workflow: str) -> None:
        self.codec, self.topic = codec, control_topic(workflow)
        self.consumer = build_consumer(settings, f"wavestream-control-reader-{uuid.uuid4().hex[:8]}",
                                       read_committed=True, **{"enable.partition.eof": False})
        self._records: dict[str, tuple[int, dict[str, Any]]] = {}  # posting -> (partition, record)
        self._assigned: set[int] = set()

    # --- reading ----------------------------------------------------------------------------

    def catch_up(self, partitions: list[int] | None = None) -> None:
        """Read ``partitions`` (default: every partition) from the beginning up to their
        current end; the others already assigned keep their position.

        Raises:
            KafkaClientError: the topic or its offsets cannot be read, or no record
                arrived for :data:`STALL_S` seconds before the end was reached.
        """
        ends = high_watermarks(self.consumer, self.topic)
        wanted = list(ends) if partitions is None else partitions
        self._assign(set(wanted))
        targets = {p: ends[p] for p in wanted if ends.get(p, 0) > 0}
        progress_at, seen = time.monotonic(), -1
        while True:
            positions = {p: self._position(p) for p in targets}
            if all(positions[p] >= end for p, end in targets.items()):
                return
            if sum(positions.values()) != seen:
                progress_at, seen = time.monotonic(), sum(positions.values())
            elif time.monotonic() - progress_at > STALL_S:
                raise KafkaClientError(f"no progress reading {self.topic} for {STALL_S:g}s "
                                       f"(at {positions}, end {targets})")
            self._read(0.2)

    def reload_partition(self, partition: int) -> None:
        """Forget what is known of ``partition`` (own writes of an aborted transaction
        included) and read it again up to its end.

        Raises:
            KafkaClientError: as :meth:`catch_up`.
        """
        for posting_id in [k for k, (p, _) in self._records.items() if p == partition]:
            del self._records[posting_id]
        self.catch_up([partition])

    def refresh(self) -> None:
        """Apply whatever arrived since the last call (does not block)."""
        self._read(0)

    def _assign(self, rewind: set[int]) -> None:
        """Assign every partition read so far plus ``rewind``; ``rewind`` ones (and any
        not read yet) from the beginning, the others where they are."""
        keep = {p: self._position(p) for p in self._assigned - rewind}
        self._assigned |= rewind
        self.consumer.assign([TopicPartition(self.topic, p, keep[p] if keep.get(p, -1) >= 0 else OFFSET_BEGINNING)
                              for p in sorted(self._assigned)])

    def _position(self, partition: int) -> int:
        # position(), not the last record seen: transaction markers take offsets too
        try:
            (tp,) = self.consumer.position([TopicPartition(self.topic, partition)])
        except KafkaException:
            return -1
        return tp.offset

    def _read(self, timeout_s: float) -> None:
        for msg in self.consumer.consume(500, timeout_s):
            if msg.error() is not None or msg.value() is None:
                continue
            try:
                record = self.codec.decode(msg.value(), "PostingControl").value
            except CodecError as exc:
                log.error("undecodable record %s[%d]@%d skipped: %s", msg.topic(), msg.partition(), msg.offset(), exc)
                continue
            self._records[record["posting_id"]] = (msg.partition(), record)

    # --- asking -----------------------------------------------------------------------------

    def get(self, posting_id: str) -> dict[str, Any] | None:
        """The latest known record of ``posting_id`` (None: no command ever touched it)."""
        found = self._records.get(posting_id)
        return None if found is None else found[1]

    def put(self, partition: int, record: dict[str, Any]) -> None:
        """Remember a record this process is producing (before its transaction commits)."""
        self._records[record["posting_id"]] = (partition, record)

    def is_cancelled(self, posting_id: str, epoch: int = 0) -> bool:
        """Whether a command of ``posting_id`` at ``epoch`` must be skipped: the posting's
        latest record is a cancel at an epoch >= ``epoch``."""
        self.refresh()
        record = self.get(posting_id)
        return record is not None and record["cancelled"] and epoch <= record["epoch"]

    def partitions(self) -> int:
        """How many partitions the topic has.

        Raises:
            KafkaClientError: the topic does not exist.
        """
        return len(high_watermarks(self.consumer, self.topic))

    def close(self) -> None:
        self.consumer.close()

