"""What one decode step of the engine carries: the batch filled from the active sequences."""

from __future__ import annotations

from typing import Any, Mapping

from consumers.engine.batch import Batch
from consumers.engine.sequence import Phase, Sequence

Plans = dict[int, tuple[Sequence, tuple]]


def fill_step(batch: Batch, active: Mapping[int, Sequence], lib: Any,
              memory: Any) -> tuple[dict[int, Sequence], Plans, int, int]:
    """Fill ``batch``: generating sequences' next tokens, probe tokens, then prompt chunks
    of sequences still processing their prompts, up to the batch's capacity. A probe
    step first removes the cells the probe's previous candidate left (``lib``'s
    ``llama_memory_seq_rm`` on ``memory``). Returns (logits row -> sequence, slot ->
    (sequence, plan), prompt tokens, other tokens)."""
    rows: dict[int, Sequence] = {}
    plans: Plans = {}
    batch.clear()
    n_prompt = n_gen = 0
    for slot, seq in sorted(active.items()):
        if seq.phase is Phase.GENERATE:
            rows[batch.add(seq.pending, seq.n_past, slot, logits_last=True)] = seq
            plans[slot] = (seq, (seq.pending[0], 1))
            n_gen += 1
        elif seq.phase is Phase.PROBE:
            keep, tokens = seq.walk.plan()  # type: ignore[union-attr]
            if len(tokens) > batch.free:
                continue
            lib.llama_memory_seq_rm(memory, slot, seq.n_past + keep, -1)
            rows[batch.add(tokens, seq.n_past + keep, slot, logits_last=True)] = seq  # type: ignore[index]
            plans[slot] = (seq, (keep, tokens))
            n_gen += len(tokens)
    for slot, seq in sorted(active.items()):
        if seq.phase is not Phase.PREFILL or batch.free == 0:
            continue
        k = min(seq.prompt_left, batch.free)
        last = k == seq.prompt_left
        index = batch.add(seq.prompt[seq.n_past:seq.n_past + k], seq.n_past, slot, logits_last=last)
        if last:
            rows[index] = seq  # type: ignore[index]
        plans[slot] = (seq, (None, k))
        n_prompt += k
    return rows, plans, n_prompt, n_gen
