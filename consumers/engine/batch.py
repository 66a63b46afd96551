"""The token batch of one decode step, and the engine's timing counters."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

import numpy as np

from consumers.engine.model import llama_cpp


class Batch:
    """A ``llama_batch`` of up to ``capacity`` tokens, one sequence id per token, filled
    through numpy views of its arrays."""

    def __init__(self, capacity: int) -> None:
        lib = self._lib = llama_cpp()
        self.capacity = capacity
        self.raw = lib.llama_batch_init(capacity, 0, 1)
        raw = self.raw
        self._token = np.ctypeslib.as_array(raw.token, shape=(capacity,))
        self._pos = np.ctypeslib.as_array(raw.pos, shape=(capacity,))
        self._n_seq = np.ctypeslib.as_array(raw.n_seq_id, shape=(capacity,))
        self._logits = np.ctypeslib.as_array(raw.logits, shape=(capacity,))
        self._n_seq[:] = 1
        self.n = 0

    @property
    def free(self) -> int:
        return self.capacity - self.n

    def clear(self) -> None:
        self.n = 0

    def add(self, tokens: list[int], start_pos: int, seq: int, *, logits_last: bool) -> int | None:
        """Append ``tokens`` of sequence ``seq`` at positions ``start_pos``...; returns
        the batch index whose logits will be output (the last token's) or None."""
        n, k = self.n, len(tokens)
        end = n + k
        self._token[n:end] = tokens
        self._pos[n:end] = np.arange(start_pos, start_pos + k)
        self._logits[n:end] = 0
        seq_id = self.raw.seq_id
        for i in range(n, end):
            seq_id[i][0] = seq
        self.n = end
        if logits_last:
            self._logits[end - 1] = 1
            return end - 1
        return None

    def decode(self, ctx) -> int:
        """``llama_decode`` over the batch (outside the GIL); its return code."""
        self.raw.n_tokens = self.n
        return int(self._lib.llama_decode(ctx, self.raw))

    def close(self) -> None:
        if self.raw is not None:
            self._lib.llama_batch_free(self.raw)
            self.raw = None


@dataclass
class EngineStats:
    """Counters since the engine started (or :meth:`InferenceEngine.reset_stats`).

    Decode time of a step that mixes prompt chunks and generated tokens is split between
    ``prompt_s`` and ``generate_s`` in proportion to their tokens. ``sample_s`` is the
    time spent sampling (grammar checks included); ``grammar_full`` counts tokens for
    which the grammar had to be applied to the whole vocabulary. Probe decodes count as
    generation. ``cached_tokens``: prompt tokens a slot already held (prompt caching),
    not processed and not in ``prompt_tokens``.
    """

    steps: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    generated_tokens: int = 0
    decode_s: float = 0.0
    prompt_s: float = 0.0
    generate_s: float = 0.0
    sample_s: float = 0.0
    grammar_full: int = 0
    completed: int = 0
    failed: int = 0
    busy_s: float = 0.0  # wall time with at least one sequence active

    def as_dict(self) -> dict:
        return asdict(self)


class StatsLock:
    """The counters and the lock readers take to copy them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stats = EngineStats()

    def snapshot(self) -> EngineStats:
        with self.lock:
            return EngineStats(**asdict(self.stats))

    def reset(self) -> None:
        with self.lock:
            self.stats = EngineStats()

    def count(self, decode_s: float, n_prompt: int, n_gen: int, sample_s: float, full: int, step_s: float) -> None:
        """Add one decode step (its decode time split by tokens, see :class:`EngineStats`)."""
        with self.lock:
            s = self.stats
            s.steps += 1
            s.prompt_tokens += n_prompt
            s.generated_tokens += n_gen
            s.decode_s += decode_s
            total = max(1, n_prompt + n_gen)
            s.prompt_s += decode_s * n_prompt / total
            s.generate_s += decode_s * n_gen / total
            s.sample_s += sample_s
            s.grammar_full += full
            s.busy_s += step_s

    def cached(self, n: int) -> None:
        """Count ``n`` prompt tokens a slot already held."""
        with self.lock:
            self.stats.cached_tokens += n

    def sequence_done(self, failed: bool) -> None:
        with self.lock:
            if failed:
                self.stats.failed += 1
            else:
                self.stats.completed += 1
