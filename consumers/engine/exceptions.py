"""Errors of the inference engine. Failures of one request are reported with the
actor errors of ``consumers.exceptions`` (ActorTimeout, PermanentActorError,
RetryableActorError) on that request's future; these are errors of the engine itself."""

from wavestream.exceptions import WavestreamError


class EngineError(WavestreamError):
    """The inference engine cannot serve (closed, or its context cannot be created)."""


class ModelError(EngineError):
    """llama-cpp-python is missing or llama.cpp cannot load a model file."""
