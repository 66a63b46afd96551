"""Calls into librdkafka that the transactional loop guards: a watchdog for calls that
can hang past their own timeout, and the recognition of a static member's instance id
still held by its predecessor."""

from __future__ import annotations

import threading
from typing import Any, Callable

from confluent_kafka import KafkaError, KafkaException

#: The timeout given to librdkafka's transactional calls.
OP_TIMEOUT_S = 30.0
#: How long past that timeout a call may run before it counts as hung.
HANG_GRACE_S = 15.0


def unreleased_instance(err: KafkaError) -> bool:
    """Whether ``err`` says a static member's instance id is still in use (KIP-848:
    UNRELEASED_INSTANCE_ID, fatal in librdkafka, until the old member's session ends)."""
    code = getattr(KafkaError, "UNRELEASED_INSTANCE_ID", None)
    return err.code() == code or "instance ID is still used" in err.str()


def bounded(op: Callable[..., Any], *args: Any) -> Any:
    """``op(*args)``, given up on when it has not returned well past its own timeout.

    librdkafka's transactional calls can block past their timeout when the coordinator
    went away and came back (seen: send_offsets_to_transaction stuck for minutes after a
    broker restart, cf. librdkafka#5511). The call runs in a helper thread; when it
    overstays, a fatal error is raised so the loop recreates the producer (the new
    epoch aborts the open transaction and fences the stuck call) and redoes the batch.

    Raises:
        KafkaException: what ``op`` raised, or a fatal ``_TIMED_OUT`` when it hung.
    """
    result: dict[str, Any] = {}
    done = threading.Event()

    def call() -> None:
        try:
            result["value"] = op(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc
        done.set()

    threading.Thread(target=call, name=f"kafka-{getattr(op, '__name__', 'op')}", daemon=True).start()
    if not done.wait(OP_TIMEOUT_S + HANG_GRACE_S):
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"{getattr(op, '__name__', 'op')} did not return "
                                        f"within {OP_TIMEOUT_S + HANG_GRACE_S:.0f}s", fatal=True))
    if "error" in result:
        raise result["error"]
    return result.get("value")
