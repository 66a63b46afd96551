"""Requests, results and the state of one sequence in a slot of the engine."""

from __future__ import annotations

import enum
import time
from concurrent.futures import Future
from dataclasses import dataclass

from consumers.engine.model import LlamaModel
from consumers.engine.probe import ProbeWalk, build_trie, depth
from consumers.engine.sampling import SamplingParams, SequenceSampler
from consumers.exceptions import ActorError, PermanentActorError


@dataclass
class GenerationRequest:
    """One completion: prompt tokens (see :meth:`InferenceEngine.chat_prompt`), limits,
    sampling settings and an optional GBNF ``grammar`` (None: unconstrained).

    ``timeout_s`` counts from the request's admission to a slot and bounds its prompt
    processing and generation. ``probe``: candidate token sequences scored after
    generation ends (:mod:`consumers.engine.probe`); with ``max_tokens=0`` right after
    the prompt.
    """

    prompt_tokens: list[int]
    max_tokens: int
    seed: int
    grammar: str | None = None
    temperature: float = 0.2
    top_k: int = 40
    top_p: float = 0.95
    repeat_penalty: float = 1.1
    stop: tuple[str, ...] = ()
    timeout_s: float = 60.0
    probe: list[list[int]] | None = None

    @property
    def sampling(self) -> SamplingParams:
        return SamplingParams(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p,
                              repeat_penalty=self.repeat_penalty, seed=self.seed)


@dataclass
class GenerationResult:
    """``finish_reason``: ``stop`` (end-of-generation token or a stop string),
    ``length`` (max_tokens or the slot's context) or ``grammar`` (the grammar is
    complete). ``probe_probs``: one probability per probe candidate, in order.
    ``seconds``: from submission to the result, waiting for a slot included."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    probe_probs: list[float] | None = None
    seconds: float = 0.0  # from submission to the result (waiting for a slot included)


def request_problem(request: GenerationRequest, *, n_vocab: int, n_ctx: int, n_batch: int) -> ActorError | None:
    """Why ``request`` cannot run in a slot of ``n_ctx`` tokens (checked before any
    decoding): an empty or too long prompt, token ids outside the vocabulary, bad probe
    candidates. None when it can."""
    n = len(request.prompt_tokens)
    if n == 0:
        return PermanentActorError("the prompt has no tokens")
    if request.max_tokens < 0:
        return PermanentActorError(f"max_tokens must be >= 0, got {request.max_tokens}")
    if any(not 0 <= t < n_vocab for t in request.prompt_tokens):
        return PermanentActorError("the prompt holds token ids outside the vocabulary")
    extra = 0
    if request.probe is not None:
        try:
            extra = depth(build_trie(request.probe)) + 1
        except ValueError as exc:
            return PermanentActorError(f"probe: {exc}")
        if any(not 0 <= t < n_vocab for c in request.probe for t in c):
            return PermanentActorError("probe candidates hold token ids outside the vocabulary")
        if extra > n_batch:
            return PermanentActorError(f"probe candidates are longer than n_batch={n_batch} tokens")
    if n + extra >= n_ctx:
        return PermanentActorError(f"the prompt has {n} tokens, a slot's context holds n_ctx={n_ctx}")
    return None


def probe_depth(request: GenerationRequest) -> int:
    """Tokens of the request's longest probe candidate (0 without a probe)."""
    return depth(build_trie(request.probe)) if request.probe is not None else 0


class Phase(enum.Enum):
    PREFILL = "prefill"  # prompt chunks being decoded
    GENERATE = "generate"  # one token a step
    PROBE = "probe"  # probe candidates being decoded


class Sequence:
    """One admitted request in slot ``slot`` (its llama.cpp sequence id)."""

    def __init__(self, request: GenerationRequest, future: Future, slot: int, model: LlamaModel,
                 max_new: int, submitted: float) -> None:
        self.request = request
        self.submitted = submitted
        self.future = future
        self.slot = slot
        self.model = model
        self.deadline = time.monotonic() + request.timeout_s
        self.sampler = SequenceSampler(model, request.sampling, request.grammar)
        self.phase = Phase.PREFILL
        self.prompt = list(request.prompt_tokens)
        self.n_past = 0  # tokens of this sequence in the KV cache
        # (source sequence, n): its first n prompt cells are shared into this slot once
        # the source has decoded them (consumers.engine.slots); None: nothing to wait for.
        self.share: tuple[Sequence, int] | None = None
        self.max_new = max_new  # generation limit: max_tokens capped by the slot's context
        self.pending: list[int] = []  # sampled, not yet decoded
        self.generated: list[int] = []
        self.text = bytearray()
        self.finish_reason: str | None = None
        self.walk: ProbeWalk | None = None
        self._stops = [s.encode("utf-8") for s in request.stop if s]

    @property
    def prompt_left(self) -> int:
        return len(self.prompt) - self.n_past

    def take(self, token: int) -> bool:
        """Add a sampled, non-final ``token`` to the output; True when the sequence is
        done (a stop string appeared, or the limit is reached)."""
        self.generated.append(token)
        start = len(self.text)
        self.text += self.model.piece(token)
        for stop in self._stops:
            at = self.text.find(stop, max(0, start - len(stop) + 1))
            if at >= 0:
                del self.text[at:]
                self.finish_reason = "stop"
                return True
        if len(self.generated) >= self.max_new:
            self.finish_reason = "length"
            return True
        return False

    def result(self) -> GenerationResult:
        return GenerationResult(
            text=bytes(self.text).decode("utf-8", "ignore"), prompt_tokens=len(self.prompt),
            completion_tokens=len(self.generated), finish_reason=self.finish_reason or "length",
            probe_probs=self.walk.result() if self.walk is not None else None,
            seconds=time.monotonic() - self.submitted,
        )

    def close(self) -> None:
        self.sampler.close()
