"""Per-sequence sampling: a llama.cpp sampler chain with its own seed, and the grammar
applied after sampling, as llama.cpp's common sampler does.

Applying a grammar to the whole vocabulary costs 10-13 ms a token with a 49k vocabulary,
so :meth:`SequenceSampler.sample` first samples from the unconstrained distribution,
then asks the grammar about that one token (a one-candidate array). When the grammar
rejects it, the candidates are rebuilt and the grammar masks the top-k candidates (40
tokens, microseconds) before the rest of the chain draws again; only when none of them
fits is the grammar applied to the whole vocabulary before top-k (llama.cpp's common
sampler goes to the whole vocabulary at once; the two differ only when a grammar-valid
token below the top 40 would have been drawn, which at temperature 0.2 has next to no
weight). The chain: top-k, repetition penalty, top-p, min-p, temperature,
then a seeded draw (greedy at temperature 0): llama-cpp-python's ``Llama`` settings
(min-p 0.05, penalty over the last 64 tokens), except that the penalty follows top-k
so it looks up 40 candidates instead of the whole vocabulary (it only lowers logits, so
the kept set differs at most by a token far below top-p's cut).
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass

import numpy as np

from consumers.engine.model import LlamaModel, llama_cpp
from consumers.exceptions import PermanentActorError

#: llama_token_data {id, logit, p} as a numpy record (same layout as the C struct).
TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)
#: Tokens the repetition penalty looks back over (llama-cpp-python's default).
PENALTY_LAST_N = 64
#: min-p of llama-cpp-python's completion defaults.
MIN_P = 0.05


class GrammarDeadEnd(PermanentActorError):
    """The grammar admits no token of the vocabulary at this point."""


class Candidates:
    """A reusable candidate array over the whole vocabulary (one per engine: the engine
    thread samples one sequence at a time), plus a one-candidate array for grammar checks."""

    def __init__(self, n_vocab: int) -> None:
        lib = llama_cpp()
        self.n_vocab = n_vocab
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self._data = np.zeros(n_vocab, dtype=TOKEN_DATA)
        self._ptr = self._data.ctypes.data_as(ctypes.POINTER(lib.llama_token_data))
        self.array = lib.llama_token_data_array(data=self._ptr, size=n_vocab, selected=-1, sorted=False)
        self.ref = ctypes.byref(self.array)
        self._one = np.zeros(1, dtype=TOKEN_DATA)
        self._one_ptr = self._one.ctypes.data_as(ctypes.POINTER(lib.llama_token_data))
        self.one = lib.llama_token_data_array(data=self._one_ptr, size=1, selected=-1, sorted=False)
        self.one_ref = ctypes.byref(self.one)

    def load(self, logits: np.ndarray) -> None:
        """Fill the array with every token and its logit (``logits``: n_vocab floats)."""
        data = self._data
        data["id"] = self._ids
        data["logit"] = logits
        data["p"] = 0.0
        self.array.data = self._ptr
        self.array.size = self.n_vocab
        self.array.selected = -1
        self.array.sorted = False

    def selected(self) -> int:
        """The token the last sampler chain selected."""
        return int(self.array.data[self.array.selected].id)

    def any_finite(self) -> bool:
        """Whether a candidate of the (top-k sized) array still has a finite logit."""
        data, size = self.array.data, self.array.size
        return any(math.isfinite(data[i].logit) for i in range(size))

    def load_one(self, token: int) -> None:
        self._one[0] = (token, 1.0, 0.0)
        self.one.data = self._one_ptr
        self.one.size = 1
        self.one.selected = -1
        self.one.sorted = False

    def one_allowed(self) -> bool:
        return bool(np.isfinite(self._one[0]["logit"]))


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.2
    top_k: int = 40
    top_p: float = 0.95
    repeat_penalty: float = 1.1
    seed: int = 0


class SequenceSampler:
    """The sampler chain (and grammar) of one sequence.

    Raises (construction):
        PermanentActorError: llama.cpp rejects the grammar.
    """

    def __init__(self, model: LlamaModel, params: SamplingParams, grammar: str | None) -> None:
        lib = self._lib = llama_cpp()
        self.grammar = None
        if grammar is not None:
            self.grammar = lib.llama_sampler_init_grammar(model.vocab, grammar.encode("utf-8"), b"root")
            if not self.grammar:
                raise PermanentActorError("llama.cpp rejected the output grammar (see its log for the rule)")
        # top-k stands apart from the rest of the chain so that the grammar can be put
        # between them (see sample()); None at temperature 0.
        self.top_k = None
        self.chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        add = lambda sampler: lib.llama_sampler_chain_add(self.chain, sampler)  # noqa: E731
        penalties = params.repeat_penalty != 1.0
        if params.temperature <= 0:
            if penalties:
                add(lib.llama_sampler_init_penalties(model.n_vocab, PENALTY_LAST_N, params.repeat_penalty, 0.0, 0.0))
            add(lib.llama_sampler_init_greedy())
            return
        self.top_k = lib.llama_sampler_init_top_k(params.top_k)
        if penalties:  # after top-k: on 40 candidates, not the whole vocabulary (0.4 ms a token)
            add(lib.llama_sampler_init_penalties(model.n_vocab, PENALTY_LAST_N, params.repeat_penalty, 0.0, 0.0))
        add(lib.llama_sampler_init_top_p(params.top_p, 1))
        add(lib.llama_sampler_init_min_p(MIN_P, 1))
        add(lib.llama_sampler_init_temp(params.temperature))
        add(lib.llama_sampler_init_dist(params.seed & 0xFFFFFFFF))

    def _allowed(self, candidates: Candidates, token: int) -> bool:
        candidates.load_one(token)
        self._lib.llama_sampler_apply(self.grammar, candidates.one_ref)
        return candidates.one_allowed()

    def _draw(self, candidates: Candidates, logits: np.ndarray, *, grammar_over: str | None = None) -> None:
        """Sample into ``candidates``: the grammar (when ``grammar_over`` says where)
        masks the whole vocabulary before top-k, or only the top-k candidates after it."""
        lib = self._lib
        candidates.load(logits)
        if grammar_over == "vocabulary":
            lib.llama_sampler_apply(self.grammar, candidates.ref)
        if self.top_k is not None:
            lib.llama_sampler_apply(self.top_k, candidates.ref)
        if grammar_over == "top_k":
            lib.llama_sampler_apply(self.grammar, candidates.ref)
            if not candidates.any_finite():
                return
        lib.llama_sampler_apply(self.chain, candidates.ref)

    def sample(self, candidates: Candidates, logits: np.ndarray) -> tuple[int, bool]:
        """(token, whether the grammar had to be applied to the whole vocabulary).

        The token is drawn unconstrained and kept when the grammar accepts it; else it is
        drawn again among the top-k candidates the grammar accepts, and only when none
        of them fits, among every token it accepts (the grammar over the whole vocabulary).

        Raises:
            GrammarDeadEnd: the grammar admits no token here.
        """
        self._draw(candidates, logits)
        token = candidates.selected()
        if self.grammar is None or self._allowed(candidates, token):
            return token, False
        if self.top_k is not None:
            self._draw(candidates, logits, grammar_over="top_k")
            if candidates.any_finite():
                token = candidates.selected()
                if self._allowed(candidates, token):
                    return token, False
        self._draw(candidates, logits, grammar_over="vocabulary")
        token = candidates.selected()
        if not self._allowed(candidates, token):
            raise GrammarDeadEnd("the output grammar admits no token at this point")
        return token, True

    def accept(self, token: int, *, end_of_generation: bool) -> None:
        """Record the chosen ``token`` (the grammar never sees an end-of-generation token:
        the sequence ends there)."""
        self._lib.llama_sampler_accept(self.chain, token)
        if self.grammar is not None and not end_of_generation:
            self._lib.llama_sampler_accept(self.grammar, token)

    def close(self) -> None:
        for sampler in (self.chain, self.grammar, self.top_k):
            if sampler:
                self._lib.llama_sampler_free(sampler)
        self.chain = self.grammar = self.top_k = None
