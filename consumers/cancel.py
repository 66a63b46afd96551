"""Which postings are cancelled, read from the ``commands`` topic (DESIGN §5).

A :class:`CancelRegistry` reads every partition of ``commands`` (read_committed, no
consumer group offsets) and remembers, per posting, the position of its last ``cancel``;
a later ``rerun`` of the posting lifts it. Stage workers ask :meth:`is_cancelled` before
running a command and skip (with a ``PostingCancelled`` event) the pending commands of a
cancelled posting. A command already running when the cancel arrives finishes; the
posting stops at its next stage.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

from wavestream.clients import build_consumer, high_watermarks
from wavestream.codec import AvroCodec
from wavestream.config import KafkaSettings
from wavestream.exceptions import CodecError, KafkaClientError
from wavestream.topics import COMMANDS

log = logging.getLogger(__name__)
_TIMEOUT_S = 30.0
_CATCH_UP_ROUNDS = 3000


class CancelRegistry:
    """Cancelled postings; :meth:`catch_up` once at start, then reads as it is asked."""

    def __init__(self, settings: KafkaSettings, codec: AvroCodec) -> None:
        self.codec = codec
        self.consumer = build_consumer(settings, f"wavestream-cancel-reader-{uuid.uuid4().hex[:8]}",
                                       read_committed=True, **{"enable.partition.eof": False})
        self._cancelled: dict[str, tuple[int, int]] = {}  # posting -> (partition, offset) of the cancel

    def catch_up(self) -> None:
        """Read ``commands`` from the beginning up to its current end.

        Raises:
            KafkaClientError: the topic's offsets cannot be read, or its end was not
                reached after many rounds.
        """
        ends = high_watermarks(self.consumer, COMMANDS)
        self.consumer.assign([TopicPartition(COMMANDS, p, OFFSET_BEGINNING) for p in ends])
        for _ in range(_CATCH_UP_ROUNDS):
            # position(), not the last record seen: transaction markers take offsets too
            if all(self._position(p) >= end for p, end in ends.items() if end > 0):
                return
            for msg in self.consumer.consume(500, 0.2):
                if msg.error() is None:
                    self._apply(msg)
        raise KafkaClientError(f"could not read {COMMANDS} up to its end")

    def _position(self, partition: int) -> int:
        try:
            (tp,) = self.consumer.position([TopicPartition(COMMANDS, partition)])
        except KafkaException:
            return -1
        return tp.offset

    def refresh(self) -> None:
        """Apply whatever arrived since the last call (does not block)."""
        for msg in self.consumer.consume(500, 0):
            if msg.error() is None:
                self._apply(msg)

    def _apply(self, msg: Any) -> None:
        try:
            command = self.codec.decode(msg.value(), "InteractionCommand").value
        except CodecError:
            return  # the command processor dead-letters it
        if command["action"] == "cancel":
            self._cancelled[command["posting_id"]] = (msg.partition(), msg.offset())
        elif command["action"] == "rerun":
            self._cancelled.pop(command["posting_id"], None)

    def is_cancelled(self, posting_id: str, before: tuple[int, int] | None = None) -> bool:
        """Whether ``posting_id`` is cancelled now, or (with ``before`` = the position of a
        command in ``commands``) by a cancel issued before that command."""
        self.refresh()
        found = self._cancelled.get(posting_id)
        if found is None or before is None:
            return found is not None
        return found[0] == before[0] and found[1] < before[1]

    def close(self) -> None:
        self.consumer.close()
