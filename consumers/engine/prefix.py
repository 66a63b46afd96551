"""The prompt prefix every slot shares: the chat template's head (a default system turn,
the user turn's opening), decoded once into a sequence of its own and copied into a slot
at admission (``llama_memory_seq_cp``: the KV cells are shared, not duplicated), so each
prompt's processing starts after it."""

from __future__ import annotations

import logging
import time
from typing import Any

from consumers.engine.batch import Batch
from consumers.engine.model import llama_cpp

log = logging.getLogger(__name__)

#: A head shorter than this is not worth a sequence of its own.
MIN_TOKENS = 8


class SharedPrefix:
    """``tokens`` kept decoded in sequence ``seq_id`` of ``memory``."""

    def __init__(self, memory: Any, seq_id: int, tokens: list[int]) -> None:
        self._lib = llama_cpp()
        self.memory = memory
        self.seq_id = seq_id
        self.tokens = list(tokens) if len(tokens) >= MIN_TOKENS else []
        self.ready = False

    def applies(self, prompt: list[int]) -> bool:
        """Whether ``prompt`` starts with the prefix (and goes on after it)."""
        k = len(self.tokens)
        return 0 < k < len(prompt) and prompt[:k] == self.tokens

    def ensure(self, batch: Batch, ctx: Any) -> bool:
        """Decode the prefix unless it is in the KV cache already (one decode of its own,
        once after each :meth:`forget`); False when that fails, and the prefix is then
        given up (prompts are processed whole)."""
        if self.ready:
            return True
        batch.clear()
        batch.add(self.tokens, 0, self.seq_id, logits_last=False)
        rc = batch.decode(ctx)
        if rc != 0:
            log.warning("shared prompt prefix not decoded (llama_decode code %d): prompts are processed whole", rc)
            self._lib.llama_memory_seq_rm(self.memory, self.seq_id, -1, -1)
            self.tokens = []
            return False
        self.ready = True
        return True

    def seed(self, slot: int, batch: Batch, ctx: Any) -> tuple[int, float]:
        """Share the prefix into sequence ``slot``, decoding it first when it is not in the
        KV cache (:meth:`ensure`): (tokens the slot now holds, 0 when the prefix was given
        up; seconds spent decoding it, 0.0 when it was ready)."""
        started = time.perf_counter()
        fresh = not self.ready
        if not self.ensure(batch, ctx):
            return 0, 0.0
        return self.copy_to(slot), (time.perf_counter() - started if fresh else 0.0)

    def copy_to(self, slot: int) -> int:
        """Share the prefix's KV cells with sequence ``slot``; the tokens it now holds."""
        self._lib.llama_memory_seq_cp(self.memory, self.seq_id, slot, -1, -1)
        return len(self.tokens)

    def forget(self) -> None:
        """The KV cache was cleared: decode the prefix again when next needed."""
        self.ready = False
