"""How many threads llama.cpp gets: the host's cores divided among the engines of the
process, never oversubscribed; a setting overrides."""

from __future__ import annotations

import os


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def divide_threads(cores: int, engines: int) -> int:
    """Threads per engine when ``engines`` engines share ``cores`` cores: at least 1."""
    return max(1, cores // max(1, engines))
