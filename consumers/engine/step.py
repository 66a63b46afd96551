"""What one decode step of the engine carries: the batch filled from the active sequences."""

from __future__ import annotations

from typing import Any, Mapping

from consumers.engine.batch import Batch
from consumers.engine.sequence import Phase, Sequence

Plans = dict[int, tuple[Sequence, tuple]]


def fill_step(batch: Batch, active: Mapping[int, Sequence], lib: Any,
              memory: Any) -> tuple[dict[int, Sequence], Plans, int, int, int]:
    """Fill ``batch``: generating sequences' next tokens, probe tokens, then prompt chunks
    of sequences still processing their prompts, up to the batch's capacity. A probe
    step first removes the cells the probe's previous candidate left (``lib``'s
    ``llama_memory_seq_rm`` on ``memory``); a sequence waiting for a shared prefix
    (:func:`resolve_share`) gets it first or waits. Returns (logits row -> sequence,
    slot -> (sequence, plan), prompt tokens, other tokens, prompt tokens shared)."""
    rows: dict[int, Sequence] = {}
    plans: Plans = {}
    batch.clear()
    n_prompt = n_gen = n_shared = 0
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
        if seq.share is not None:
            shared = resolve_share(seq, active, lib, memory)
            if shared is None:
                continue  # the source has not decoded the shared cells yet
            n_shared += shared
        k = min(seq.prompt_left, batch.free)
        last = k == seq.prompt_left
        index = batch.add(seq.prompt[seq.n_past:seq.n_past + k], seq.n_past, slot, logits_last=last)
        if last:
            rows[index] = seq  # type: ignore[index]
        plans[slot] = (seq, (None, k))
        n_prompt += k
    return rows, plans, n_prompt, n_gen, n_shared


def resolve_share(seq: Sequence, active: Mapping[int, Sequence], lib: Any, memory: Any) -> int | None:
    """Share the source's first n prompt cells into ``seq``'s slot once the source has
    decoded them (``llama_memory_seq_cp``); the tokens shared, 0 when the source is gone
    (it finished or failed: ``seq`` processes its whole prompt), None while it still has
    them to decode."""
    source, n = seq.share  # type: ignore[misc]
    if active.get(source.slot) is not source:
        seq.share = None
        return 0
    if source.n_past < n:
        return None
    lib.llama_memory_seq_cp(memory, source.slot, seq.slot, 0, n)
    seq.n_past, seq.share = n, None
    return n
