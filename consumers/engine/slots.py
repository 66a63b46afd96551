"""The engine's sequence slots and the prompts their KV cells still hold (prompt caching).

A finished sequence gives its slot back with its prompt's KV cells kept (what it
generated is removed). The next request takes the free slot whose kept prompt shares the
longest token prefix with its own and processes only the rest of its prompt, as
llama.cpp's server does with ``cache_prompt``. Requests of one stage share the text
before the posting (template head and instructions), so a batch of one stage's commands
pays for those tokens once per slot instead of once per record.

Each slot holds at most one context's worth of cells, so the cells kept never take room
an active sequence could need. Ties go to the lowest slot id, and :meth:`SlotPool.clear`
(the engine going idle) forgets every kept prompt, so the same requests submitted to an
idle engine take the same slots and reuse the same prefixes.
"""

from __future__ import annotations

from typing import Any, Callable

from consumers.engine.model import llama_cpp

#: A shared prefix shorter than this is not worth keeping a slot's cells for.
MIN_REUSE = 8


class SlotPool:
    """Slots ``0..n-1`` of the KV cache ``memory``: which are free, and the prompt tokens
    each free (or active) slot holds in its cells."""

    def __init__(self, memory: Any, n: int, remove: Callable[[Any, int, int, int], Any] | None = None) -> None:
        # remove(memory, slot, from_pos, to_pos): llama_memory_seq_rm unless given.
        self._remove = remove or llama_cpp().llama_memory_seq_rm
        self.memory = memory
        self._free = set(range(n))
        self._held: dict[int, list[int]] = {}  # slot -> prompt tokens whose cells it keeps

    def __len__(self) -> int:
        return len(self._free)

    def take(self, prompt: list[int]) -> tuple[int, int]:
        """A free slot for ``prompt`` and how many of its first tokens the slot already
        holds (0: nothing reused, the slot is empty). At least one prompt token is left to
        process, so the prompt's last logits come out of a decode."""
        lowest = min(self._free)
        best, best_n = lowest, 0
        for slot in sorted(self._free):
            n = common_prefix(self._held.get(slot, ()), prompt, limit=len(prompt) - 1)
            if n > best_n:
                best, best_n = slot, n
        if best_n < MIN_REUSE:
            best, best_n = lowest, 0
        self._free.remove(best)
        held = self._held.pop(best, [])
        if best_n:
            self._remove(self.memory, best, best_n, -1)
        elif held:
            self._remove(self.memory, best, -1, -1)
        return best, best_n

    def give_back(self, slot: int, kept: list[int] | None) -> None:
        """Free ``slot``. ``kept``: the prompt tokens whose cells stay (positions
        ``0..len(kept)-1``, everything after them is removed); None: the slot's cells are
        all removed (a failed sequence's cells may be incomplete)."""
        if kept:
            self._remove(self.memory, slot, len(kept), -1)
            self._held[slot] = list(kept)
        else:
            self._remove(self.memory, slot, -1, -1)
            self._held.pop(slot, None)
        self._free.add(slot)

    def clear(self) -> None:
        """The KV cache was cleared: no slot holds anything."""
        self._held.clear()


def common_prefix(a: Any, b: list[int], *, limit: int) -> int:
    """Length of the common prefix of token lists ``a`` and ``b``, at most ``limit``."""
    n = min(len(a), len(b), max(0, limit))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
