"""The engine's sequence slots and the prompts their KV cells hold (prompt caching).

A finished sequence gives its slot back with its prompt's KV cells kept (what it
generated is removed). A new request reuses the longest token prefix it shares with any
prompt the cache holds and processes only the rest of its own, as llama.cpp's server
does with ``cache_prompt``:

- the free slot whose kept prompt shares the longest prefix is taken as it is;
- when an active sequence's prompt shares a longer one (its prompt may still be in
  prefill), the free slot holding the fewest tokens is taken and that prefix is shared
  into it once the active sequence has decoded it (:class:`Grant`'s ``share``, resolved
  by :func:`consumers.engine.step.resolve_share` with ``llama_memory_seq_cp``: in the
  unified KV cache the cells gain a sequence id, nothing is recomputed or duplicated).

Requests of one stage share the text before the posting (template head and
instructions), so those tokens are processed once while any slot holds them, even when
several of them are admitted together or other stages' requests run beside them.

Each slot holds at most one context's worth of cells, so the cells kept never take room
an active sequence could need. Ties go to the lowest slot id, and :meth:`SlotPool.clear`
(the engine going idle) forgets every kept prompt, so the same requests submitted to an
idle engine take the same slots and reuse the same prefixes.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from consumers.engine.model import llama_cpp

#: A shared prefix shorter than this is not worth keeping or sharing cells for.
MIN_REUSE = 8


class Grant(NamedTuple):
    """A slot handed to a request: ``reused`` prompt tokens are in its cells already;
    ``share`` (source slot, n): the first n prompt tokens are to be shared from the
    active sequence in that slot once it has decoded them (None: nothing to share)."""

    slot: int
    reused: int
    share: tuple[int, int] | None = None


class SlotPool:
    """Slots ``0..n-1`` of the KV cache ``memory``: which are free, and the prompt tokens
    each free slot holds in its cells."""

    def __init__(self, memory: Any, n: int, remove: Callable[[Any, int, int, int], Any] | None = None) -> None:
        # remove(memory, slot, from_pos, to_pos): llama_memory_seq_rm unless given.
        self._remove = remove or llama_cpp().llama_memory_seq_rm
        self.memory = memory
        self._free = set(range(n))
        self._held: dict[int, list[int]] = {}  # free slot -> prompt tokens whose cells it keeps

    def __len__(self) -> int:
        return len(self._free)

    def take(self, prompt: list[int], active: Mapping[int, Sequence[int]] | None = None) -> Grant:
        """A free slot for ``prompt`` and what it reuses. ``active``: the prompts of the
        active sequences by slot (their cells hold them, or will once prefilled).

        The free slot whose kept prompt shares the longest prefix is taken as it is,
        unless an active sequence shares a longer one: then the free slot holding the
        fewest tokens is emptied and the active one's prefix is shared into it. At least
        one prompt token is left to process, so the prompt's last logits come out of a
        decode."""
        limit = len(prompt) - 1
        own, own_n = self._longest(((s, self._held.get(s, ())) for s in self._free), prompt, limit)
        source, source_n = self._longest((active or {}).items(), prompt, limit)
        if own_n >= MIN_REUSE and own_n >= source_n:
            return self._take(own, own_n)
        # Evict the free slot holding the least (an empty one first), keeping the others' prefixes.
        target = min(self._free, key=lambda s: (len(self._held.get(s, ())), s))
        grant = self._take(target, 0)
        if source is not None and source_n >= MIN_REUSE:
            return grant._replace(share=(source, source_n))
        return grant

    @staticmethod
    def _longest(holders: Iterable[tuple[int, Sequence[int]]], prompt: list[int],
                 limit: int) -> tuple[int | None, int]:
        """(slot, n): the holder sharing the longest prefix with ``prompt`` (lowest slot on
        ties; None when none shares a token)."""
        best, best_n = None, 0
        for slot, tokens in sorted(holders):
            n = common_prefix(tokens, prompt, limit=limit)
            if n > best_n:
                best, best_n = slot, n
        return best, best_n

    def _take(self, slot: int, reused: int) -> Grant:
        self._free.remove(slot)
        held = self._held.pop(slot, [])
        if reused:
            self._remove(self.memory, slot, reused, -1)
        elif held:
            self._remove(self.memory, slot, -1, -1)
        return Grant(slot, reused)

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


def common_prefix(a: Sequence[int], b: Sequence[int], *, limit: int) -> int:
    """Length of the common prefix of token lists ``a`` and ``b``, at most ``limit``."""
    n = min(len(a), len(b), max(0, limit))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
