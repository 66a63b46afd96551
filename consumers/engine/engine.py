"""The inference engine: one llama.cpp context with N sequence slots, continuously batched.

A background thread runs steps. Each step is ONE ``llama_decode`` over the next token of
every generating sequence, the probe tokens of sequences being probed, and prompt chunks
of newly admitted ones (up to ``n_batch`` tokens in all). After the decode every
sequence whose logits came out samples its next token with its own sampler chain, seed
and grammar (:mod:`consumers.engine.sampling`). A finished sequence frees its slot at
once and the next waiting request takes a slot, reusing the longest prompt prefix the
cache holds (a free slot's kept cells, or an active sequence's cells shared once
decoded), so only the rest of its prompt is processed (:mod:`consumers.engine.slots`).
ctypes releases the GIL while llama.cpp runs, so other threads (Kafka clients) keep
running during a decode.

Failures are per request, set on its future only: the deadline (``timeout_s`` from
admission) passing -> :class:`ActorTimeout`; a prompt that does not fit a slot, bad
probe candidates or a grammar llama.cpp rejects -> :class:`PermanentActorError` (the
prompt check happens before any decoding); ``llama_decode`` failing ->
:class:`RetryableActorError` for the sequences of that step.

The chat template's head, common to every prompt, is decoded once and shared by the
slots (:mod:`consumers.engine.prefix`) when no slot holds a longer prefix.

Determinism: a request's output depends on its seed and on the batch it ran in
(llama.cpp's batched numerics may differ with the batch's composition). Requests are
admitted in submission order and take slots by a fixed rule (the longest common
prefix, the lowest slot on ties), and the KV cache and the kept prompts are cleared
whenever the engine goes idle, so the same requests submitted together to an idle engine
give the same outputs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import Mapping, Sequence as Seq

import numpy as np

from consumers.engine.batch import Batch, EngineStats, StatsLock
from consumers.engine.chat import ChatTemplate
from consumers.engine.exceptions import EngineError
from consumers.engine.model import LlamaModel, llama_cpp
from consumers.engine.prefix import SharedPrefix
from consumers.engine.probe import ProbeWalk
from consumers.engine.sampling import Candidates, GrammarDeadEnd
from consumers.engine.sequence import GenerationRequest, GenerationResult, Phase, Sequence, probe_depth
from consumers.engine.sequence import request_problem
from consumers.engine.slots import SlotPool
from consumers.engine.step import fill_step
from consumers.engine.threads import available_cores
from consumers.exceptions import ActorTimeout, PermanentActorError, RetryableActorError

log = logging.getLogger(__name__)



class InferenceEngine:
    """One loaded model serving up to ``max_sequences`` sequences at a time, each with a
    context of ``n_ctx_per_seq`` tokens. Thread-safe: any thread may submit.

    Raises (construction):
        ModelError: the model cannot be loaded.
        EngineError: llama.cpp cannot create the context.
    """

    def __init__(self, model_path: Path | str, *, n_ctx_per_seq: int = 2048, max_sequences: int = 4,
                 n_batch: int = 512, n_threads: int | None = None, n_threads_batch: int | None = None,
                 n_gpu_layers: int = 0) -> None:
        lib = self._lib = llama_cpp()
        if n_ctx_per_seq < 8 or max_sequences < 1 or n_batch < 1:
            raise EngineError(f"invalid engine limits: n_ctx_per_seq={n_ctx_per_seq}, "
                              f"max_sequences={max_sequences}, n_batch={n_batch}")
        self.model = LlamaModel(model_path, n_gpu_layers=n_gpu_layers)
        self.template = ChatTemplate(self.model)
        self.n_ctx_per_seq = n_ctx_per_seq
        self.max_sequences = max_sequences
        self.n_batch = max(n_batch, max_sequences)
        self.n_gpu_layers = n_gpu_layers
        threads = n_threads or available_cores()
        self._threads = (threads, n_threads_batch or threads)
        params = lib.llama_context_default_params()
        head = self.template.head()
        if len(head) > min(self.n_batch, n_ctx_per_seq // 2):
            head = []
        params.n_ctx = n_ctx_per_seq * max_sequences + len(head)
        params.n_batch = params.n_ubatch = self.n_batch
        params.n_seq_max = max_sequences + 1
        # One KV buffer for all slots: a step's sequences share one ubatch whatever
        # their slot ids (separate per-sequence buffers split a step by slot).
        params.kv_unified = True
        params.n_threads, params.n_threads_batch = self._threads
        params.no_perf = True
        self.ctx = lib.llama_init_from_model(self.model.ptr, params)
        if not self.ctx:
            self.model.close()
            raise EngineError(f"llama.cpp could not create a context of {params.n_ctx} tokens for {self.file_name}")
        self._applied_threads = self._threads
        self.memory = lib.llama_get_memory(self.ctx)
        self._prefix = SharedPrefix(self.memory, max_sequences, head)  # its own sequence id
        self._batch = Batch(self.n_batch)
        self._candidates = Candidates(self.model.n_vocab)
        self._cond = threading.Condition()
        self._waiting: deque[tuple[GenerationRequest, Future, float]] = deque()
        self._active: dict[int, Sequence] = {}
        self._slots = SlotPool(self.memory, max_sequences)
        self._closed = False
        self._dirty = False  # KV cells were used since the last clear
        self._stats = StatsLock()
        self._thread = threading.Thread(target=self._run, name=f"engine:{self.file_name}", daemon=True)
        self._thread.start()
        log.info("inference engine started", extra={
            "model_file": self.file_name, "model_sha256": self.sha256, "max_sequences": max_sequences,
            "n_ctx_per_seq": n_ctx_per_seq, "n_batch": self.n_batch, "n_threads": self._threads[0],
            "n_threads_batch": self._threads[1], "n_gpu_layers": n_gpu_layers})

    # -- identity -------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self.model.path

    @property
    def sha256(self) -> str:
        return self.model.sha256

    @property
    def file_name(self) -> str:
        return self.model.file_name

    @property
    def general_name(self) -> str | None:
        return self.model.general_name

    @property
    def n_vocab(self) -> int:
        return self.model.n_vocab

    @property
    def threads(self) -> tuple[int, int]:
        return self._threads

    # -- text -----------------------------------------------------------------------
    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        """Token ids of ``text`` (``special`` parses special-token text: never for user content)."""
        return self.model.tokenize(text, special=special)

    def chat_prompt(self, messages: Seq[Mapping[str, str]]) -> tuple[list[int], list[str]]:
        """(prompt tokens, stop strings) for chat ``messages`` under the model's chat
        template; message contents are tokenized as plain text (:mod:`consumers.engine.chat`).

        Raises:
            ModelError: the template rewrites message contents.
        """
        return self.template.prompt(messages)

    def grammar_error(self, grammar: str) -> str | None:
        """None when llama.cpp accepts GBNF ``grammar`` for this model, else why not."""
        return self.model.grammar_error(grammar)

    # -- requests -------------------------------------------------------------------
    def submit(self, requests: Seq[GenerationRequest]) -> list[Future]:
        """Queue ``requests`` (in order, atomically); one future per request that resolves
        to a :class:`GenerationResult` or raises an :class:`ActorError` subclass.

        Raises:
            EngineError: the engine is closed.
        """
        futures = []
        submitted = time.monotonic()
        with self._cond:
            if self._closed:
                raise EngineError(f"the inference engine of {self.file_name} is closed")
            for request in requests:
                future: Future = Future()
                problem = request_problem(request, n_vocab=self.n_vocab, n_ctx=self.n_ctx_per_seq,
                                          n_batch=self.n_batch)
                if problem is not None:
                    future.set_exception(problem)
                else:
                    self._waiting.append((request, future, submitted))
                futures.append(future)
            self._cond.notify()
        return futures

    def generate(self, requests: Seq[GenerationRequest]) -> list[GenerationResult | Exception]:
        """Submit ``requests`` and wait: one result or exception (returned, not raised)
        per request, in order.

        Raises:
            EngineError: the engine is closed.
        """
        out: list[GenerationResult | Exception] = []
        for future in self.submit(requests):
            try:
                out.append(future.result())
            except Exception as exc:  # returned to the caller, per request
                out.append(exc)
        return out

    # -- settings and lifecycle -------------------------------------------------------
    def set_threads(self, n_threads: int, n_threads_batch: int | None = None) -> None:
        """Use ``n_threads`` (and ``n_threads_batch``) from the next step on."""
        self._threads = (max(1, n_threads), max(1, n_threads_batch or n_threads))

    def stats(self) -> EngineStats:
        """A copy of the timing counters."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()

    def close(self) -> None:
        """Stop the engine thread, fail what is queued or running with
        RetryableActorError (another worker can take the record), free llama.cpp memory."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        self._batch.close()
        self._lib.llama_free(self.ctx)
        self.ctx = None
        self.model.close()
        log.info("inference engine closed", extra={"model_file": self.file_name})

    # -- the engine thread --------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._closed and not self._waiting and not self._active:
                        if self._dirty:
                            self._lib.llama_memory_clear(self.memory, False)  # idle: start clean
                            self._dirty = False
                            self._prefix.forget()
                            self._slots.clear()
                        self._cond.wait()
                    if self._closed:
                        break
                    admitted = [self._waiting.popleft() for _ in range(min(len(self._slots), len(self._waiting)))]
                for request, future, submitted in admitted:
                    self._admit(request, future, submitted)
                if self._active:
                    self._guarded_step()
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        closed = RetryableActorError(f"the inference engine of {self.file_name} closed")
        for seq in list(self._active.values()):
            self._fail(seq, closed)
        with self._cond:
            waiting, self._waiting = list(self._waiting), deque()
        for _, future, _ in waiting:
            if future.set_running_or_notify_cancel():
                future.set_exception(closed)

    def _admit(self, request: GenerationRequest, future: Future, submitted: float) -> None:
        if not future.set_running_or_notify_cancel():
            return  # cancelled while waiting
        slot, reused, share = self._slots.take(request.prompt_tokens,
                                               {s: seq.prompt for s, seq in self._active.items()})
        max_new = min(request.max_tokens, self.n_ctx_per_seq - len(request.prompt_tokens) - probe_depth(request))
        try:
            seq = Sequence(request, future, slot, self.model, max_new, submitted)
        except PermanentActorError as exc:
            self._slots.give_back(slot, None)
            future.set_exception(exc)
            return
        self._active[slot] = seq
        self._dirty = True
        if reused:
            seq.n_past = reused
            self._stats.cached(reused)
        elif share is not None:
            seq.share = (self._active[share[0]], share[1])
        elif self._prefix.applies(seq.prompt):
            seq.n_past, decode_s = self._prefix.seed(slot, self._batch, self.ctx)
            if decode_s:
                self._stats.count(decode_s, len(self._prefix.tokens), 0, 0.0, 0, decode_s)

    def _guarded_step(self) -> None:
        """One step; an unexpected error fails the sequences it touched, never the thread."""
        try:
            self._step()
        except Exception as exc:
            log.exception("inference engine step failed", extra={"model_file": self.file_name})
            for seq in list(self._active.values()):
                self._fail(seq, RetryableActorError(f"inference engine step failed: {type(exc).__name__}: {exc}"))

    def _step(self) -> None:
        started = time.perf_counter()
        now = time.monotonic()
        for seq in list(self._active.values()):
            if now > seq.deadline:
                self._fail(seq, ActorTimeout(f"generation ran past timeout_s={seq.request.timeout_s:g} "
                                             f"({len(seq.generated)} tokens generated)"))
        if not self._active:
            return
        if self._threads != self._applied_threads:
            self._lib.llama_set_n_threads(self.ctx, *self._threads)
            self._applied_threads = self._threads
        rows, plans, n_prompt, n_gen, n_shared = fill_step(self._batch, self._active, self._lib, self.memory)
        if n_shared:
            self._stats.cached(n_shared)
        if self._batch.n == 0:
            return
        rc = self._batch.decode(self.ctx)
        decoded = time.perf_counter()
        if rc != 0:
            failure = RetryableActorError(f"llama_decode failed (code {rc}) on a batch of {self._batch.n} tokens")
            for seq in {id(s): s for s, _ in plans.values()}.values():
                self._fail(seq, failure)
            return
        for seq, plan in plans.values():
            if seq.phase is Phase.PROBE:
                seq.walk.decoded(*plan)  # type: ignore[union-attr]
            else:
                seq.n_past += plan[1]
                seq.pending = []
        sample_s, full = 0.0, 0
        for index, seq in rows.items():
            logits = np.ctypeslib.as_array(self._lib.llama_get_logits_ith(self.ctx, index), shape=(self.n_vocab,))
            t0 = time.perf_counter()
            full += self._after_decode(seq, logits)
            sample_s += time.perf_counter() - t0
        self._stats.count(decoded - started, n_prompt, n_gen, sample_s, full, time.perf_counter() - started)

    def _after_decode(self, seq: Sequence, logits: np.ndarray) -> int:
        """Handle the logits a sequence got; returns 1 when the grammar had to be applied
        to the whole vocabulary."""
        if seq.phase is Phase.PROBE:
            seq.walk.record(logits)  # type: ignore[union-attr]
            if seq.walk.done:  # type: ignore[union-attr]
                self._complete(seq)
            return 0
        if seq.max_new <= 0:
            seq.finish_reason = "length"
            self._end(seq, logits)
            return 0
        try:
            token, full = seq.sampler.sample(self._candidates, logits)
        except GrammarDeadEnd as exc:
            self._fail(seq, exc)
            return 1
        eog = self.model.is_eog(token)
        seq.sampler.accept(token, end_of_generation=eog)
        if eog:
            seq.finish_reason = "grammar" if seq.request.grammar is not None else "stop"
            self._end(seq, logits)
        elif seq.take(token):
            seq.pending = [token]
            self._end(seq, None)
        else:
            seq.pending = [token]
            seq.phase = Phase.GENERATE
        return int(full)

    def _end(self, seq: Sequence, logits: np.ndarray | None) -> None:
        """Generation is over: probe (``logits``: those the sequence ended on, when no
        token is pending) or complete."""
        if seq.request.probe is None:
            self._complete(seq)
            return
        seq.walk = walk = ProbeWalk(seq.request.probe, seq.pending)
        if not walk.needs_decode() and logits is not None:
            walk.record(logits)
        if walk.done:
            self._complete(seq)
        else:
            seq.phase = Phase.PROBE

    def _release(self, seq: Sequence, *, keep_prompt: bool) -> None:
        """Free the sequence's slot; its prompt's cells stay when ``keep_prompt``."""
        seq.close()
        del self._active[seq.slot]
        self._slots.give_back(seq.slot, seq.prompt if keep_prompt else None)

    def _complete(self, seq: Sequence) -> None:
        result = seq.result()
        self._release(seq, keep_prompt=True)
        self._stats.sequence_done(failed=False)
        seq.future.set_result(result)

    def _fail(self, seq: Sequence, exc: BaseException) -> None:
        self._release(seq, keep_prompt=False)
        self._stats.sequence_done(failed=True)
        seq.future.set_exception(exc)

    def __repr__(self) -> str:
        return (f"InferenceEngine({self.file_name}, max_sequences={self.max_sequences}, "
                f"n_ctx_per_seq={self.n_ctx_per_seq}, threads={self._threads})")

