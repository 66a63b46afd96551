"""One inference engine per process per model file and settings, shared by every stage
that names the model, with llama.cpp threads divided among the engines."""

from __future__ import annotations

import atexit
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from consumers.engine.engine import InferenceEngine
from consumers.engine.threads import available_cores, divide_threads
from wavestream.config import LlmSettings

log = logging.getLogger(__name__)

#: Default sequence slots per engine: a few on CPU, dozens with layers on a GPU.
CPU_SEQUENCES = 4
GPU_SEQUENCES = 32


@dataclass(frozen=True)
class EngineSettings:
    """Engine settings of a model (workflow model/stage settings ``n_ctx``,
    ``max_sequences``, ``n_batch``, ``threads``, ``n_gpu_layers``). ``n_threads`` None:
    ``WAVESTREAM_LLM_THREADS``, else the host's cores divided among the engines.
    ``max_sequences`` None: 4 on CPU, 32 when ``n_gpu_layers`` is not 0."""

    n_ctx_per_seq: int = 2048
    max_sequences: int | None = None
    n_batch: int = 512
    n_threads: int | None = None
    n_gpu_layers: int = 0

    @property
    def sequences(self) -> int:
        if self.max_sequences is not None:
            return self.max_sequences
        return GPU_SEQUENCES if self.n_gpu_layers else CPU_SEQUENCES


_LOCK = threading.Lock()
_ENGINES: dict[tuple[str, EngineSettings], InferenceEngine] = {}


def _auto_threads(settings: EngineSettings) -> int | None:
    """The explicit thread count for an engine with ``settings``, None when it is
    divided among engines."""
    return settings.n_threads or LlmSettings.from_env().threads


def _rebalance() -> None:
    """Give every engine without an explicit thread count its share of the cores (the
    change applies from its next step). Called with ``_LOCK`` held."""
    auto = [e for (_, s), e in _ENGINES.items() if _auto_threads(s) is None]
    share = divide_threads(available_cores(), len(auto))
    for engine in auto:
        engine.set_threads(share)


def get_engine(model_path: Path | str, settings: EngineSettings = EngineSettings()) -> InferenceEngine:
    """The engine of ``model_path`` with ``settings``, created at most once per process.

    Raises:
        ModelError: the model cannot be loaded.
        EngineError: llama.cpp cannot create the context.
        ConfigError: WAVESTREAM_LLM_THREADS is invalid.
    """
    key = (str(Path(model_path).resolve()), settings)
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is not None:
            return engine
        explicit = _auto_threads(settings)
        others = sum(1 for (_, s) in _ENGINES if _auto_threads(s) is None)
        threads = explicit or divide_threads(available_cores(), others + 1)
        engine = InferenceEngine(key[0], n_ctx_per_seq=settings.n_ctx_per_seq, max_sequences=settings.sequences,
                                 n_batch=settings.n_batch, n_threads=threads, n_gpu_layers=settings.n_gpu_layers)
        _ENGINES[key] = engine
        _rebalance()
        return engine


def engines() -> list[InferenceEngine]:
    """The engines of this process."""
    with _LOCK:
        return list(_ENGINES.values())


def close_engines() -> None:
    """Close every engine of this process (requests still queued fail as retryable)."""
    with _LOCK:
        closing = list(_ENGINES.values())
        _ENGINES.clear()
    for engine in closing:
        engine.close()


def close_engine(engine: InferenceEngine) -> None:
    """Close one engine and give its cores to the others."""
    with _LOCK:
        for key, value in list(_ENGINES.items()):
            if value is engine:
                del _ENGINES[key]
        _rebalance()
    engine.close()


# Engines stop before the interpreter does: a daemon engine thread must not be inside
# llama_decode while Python tears the process down.
atexit.register(close_engines)
