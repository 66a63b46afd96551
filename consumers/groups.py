"""Consumer-group settings of the transactional loops (DESIGN §5.1).

Rebalances are incremental: the KIP-848 consumer protocol (``group.protocol=consumer``,
assignment computed by the broker) unless ``WAVESTREAM_KAFKA_GROUP_PROTOCOL=classic``
says the broker lacks it, in which case the classic protocol runs with a client-side
assignor. The assignor balances what the group reads:

- ``uniform`` (one topic per group: router, command processor) — classic fallback
  ``cooperative-sticky``;
- ``range`` (stage workers read ``stage.<s>`` and ``stage.<s>.retry``: range balances
  each topic on its own, so one member never holds every ``stage.<s>`` partition while
  another holds only the mostly idle retry partitions) — classic fallback ``range``,
  whose rebalances are eager.

Settings of the classic protocol that the consumer protocol refuses (the broker owns
session timeout and heartbeats there) are dropped from the pass-through with a warning,
for every consumer (:func:`wavestream.clients.consumer_config`).
"""

from __future__ import annotations

from typing import Any

from wavestream.config import KafkaSettings

CONSUMER = "consumer"
CLASSIC = "classic"
_CLASSIC_ASSIGNOR = {"uniform": "cooperative-sticky", "range": "range"}


def group_protocol(settings: KafkaSettings) -> str:
    """``consumer`` (KIP-848, the default) or ``classic`` from the pass-through settings."""
    return str(settings.client.get("group.protocol", CONSUMER)).lower()


def group_overrides(settings: KafkaSettings, assignor: str, max_poll_interval_ms: int | None) -> dict[str, Any]:
    """Consumer overrides for a group reading with ``assignor`` (``uniform`` or ``range``)."""
    if group_protocol(settings) == CONSUMER:
        overrides: dict[str, Any] = {"group.protocol": CONSUMER, "group.remote.assignor": assignor}
    else:
        overrides = {"group.protocol": CLASSIC, "partition.assignment.strategy": _CLASSIC_ASSIGNOR[assignor]}
    if max_poll_interval_ms is not None:
        overrides["max.poll.interval.ms"] = int(max_poll_interval_ms)
    return overrides
