"""The inference engine: one llama.cpp context per process per model, continuously
batching the sequences of every stage that uses the model (DESIGN.md §5).

- :mod:`~consumers.engine.engine`: :class:`InferenceEngine` (slots, steps, failures);
- :mod:`~consumers.engine.sequence`: :class:`GenerationRequest`, :class:`GenerationResult`;
- :mod:`~consumers.engine.sampling`: per-sequence sampler chains, grammar after sampling;
- :mod:`~consumers.engine.probe`: probabilities of candidate continuations;
- :mod:`~consumers.engine.chat`: chat prompts with message contents as plain text;
- :mod:`~consumers.engine.model`: the loaded GGUF (tokenizer, metadata, pieces);
- :mod:`~consumers.engine.registry`: :func:`get_engine`, one engine per model and settings;
- :mod:`~consumers.engine.threads`: llama.cpp threads from the host's cores.

``llama_cpp`` is imported when a model is loaded, not when this package is.
"""

from consumers.engine.batch import EngineStats
from consumers.engine.engine import InferenceEngine
from consumers.engine.exceptions import EngineError, ModelError
from consumers.engine.registry import EngineSettings, close_engine, close_engines, engines, get_engine
from consumers.engine.sequence import GenerationRequest, GenerationResult

__all__ = ["EngineError", "EngineSettings", "EngineStats", "GenerationRequest", "GenerationResult",
           "InferenceEngine", "ModelError", "close_engine", "close_engines", "engines", "get_engine"]
