"""A GGUF model loaded through llama.cpp's C API: vocabulary, tokenizer, metadata.

The model's weights are loaded once (``llama_model_load_from_file``); contexts that
decode with it are created by :class:`consumers.engine.engine.InferenceEngine`. The
text of a token (its "piece") is cached per token id, so turning generated tokens into
text costs one dictionary lookup per token.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from pathlib import Path

from consumers.engine.exceptions import ModelError
from consumers.modelfiles import file_sha256

log = logging.getLogger(__name__)

_BACKEND_LOCK = threading.Lock()
_BACKEND_READY = False
_LOG_CALLBACK = None  # kept referenced: llama.cpp calls it from C


def llama_cpp():
    """The ``llama_cpp`` bindings, imported on first use, the backend initialised once
    per process and llama.cpp's own log routed to the ``llama.cpp`` logger at DEBUG.

    Raises:
        ModelError: llama-cpp-python is not installed.
    """
    global _BACKEND_READY, _LOG_CALLBACK
    try:
        import llama_cpp as lib
    except ImportError as exc:
        raise ModelError("llama-cpp-python is not installed (pip install wavestream[llm])") from exc
    with _BACKEND_LOCK:
        if not _BACKEND_READY:
            lib.llama_backend_init()
            native = logging.getLogger("llama.cpp")

            def forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
                if native.isEnabledFor(logging.DEBUG) and text:
                    native.debug(text.decode("utf-8", "replace").rstrip())

            _LOG_CALLBACK = lib.llama_log_callback(forward)
            lib.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))
            _BACKEND_READY = True
    return lib


class LlamaModel:
    """One GGUF file loaded by llama.cpp (``vocab_only`` loads the vocabulary alone).

    Raises (construction):
        ModelError: llama-cpp-python is missing or llama.cpp cannot load the file.
        WorkflowError: the file cannot be read to compute its sha256.
    """

    def __init__(self, path: Path | str, *, n_gpu_layers: int = 0, vocab_only: bool = False) -> None:
        lib = llama_cpp()
        self.path = Path(path).resolve()
        self.sha256 = file_sha256(self.path)
        params = lib.llama_model_default_params()
        params.n_gpu_layers = int(n_gpu_layers)
        params.vocab_only = bool(vocab_only)
        self.ptr = lib.llama_model_load_from_file(str(self.path).encode("utf-8"), params)
        if not self.ptr:
            raise ModelError(f"cannot load model {self.path}: llama.cpp refused the file (see the llama.cpp log)")
        self.vocab = lib.llama_model_get_vocab(self.ptr)
        self.n_vocab = int(lib.llama_vocab_n_tokens(self.vocab))
        self.bos = int(lib.llama_vocab_bos(self.vocab))
        self.eos = int(lib.llama_vocab_eos(self.vocab))
        self.add_bos = bool(lib.llama_vocab_get_add_bos(self.vocab))
        self.general_name = self.meta("general.name")
        template = lib.llama_model_chat_template(self.ptr, None)
        self.chat_template = template.decode("utf-8") if template else None
        self._pieces: dict[int, bytes] = {}
        self._eog: dict[int, bool] = {}
        self._lock = threading.Lock()  # the tokenizer is shared by the engine thread and callers

    @property
    def file_name(self) -> str:
        return self.path.name

    def meta(self, key: str) -> str | None:
        """A GGUF metadata value as a string, None when the file does not have it."""
        lib = llama_cpp()
        buf = ctypes.create_string_buffer(4096)
        n = lib.llama_model_meta_val_str(self.ptr, key.encode("utf-8"), buf, ctypes.sizeof(buf))
        if n < 0:
            return None
        if n >= ctypes.sizeof(buf):
            buf = ctypes.create_string_buffer(n + 1)
            lib.llama_model_meta_val_str(self.ptr, key.encode("utf-8"), buf, ctypes.sizeof(buf))
        return buf.value.decode("utf-8", "replace")

    def tokenize(self, text: str, *, special: bool = False, add_bos: bool = False) -> list[int]:
        """Token ids of ``text``. ``special`` parses special-token text (``<|im_end|>``)
        into special tokens: only for text the application wrote (a chat template),
        never for user content. ``add_bos`` prepends BOS when the model wants one."""
        lib = llama_cpp()
        data = text.encode("utf-8")
        size = len(data) + 8
        with self._lock:
            buf = (lib.llama_token * size)()
            n = lib.llama_tokenize(self.vocab, data, len(data), buf, size, add_bos, special)
            if n < 0:
                size = -n
                buf = (lib.llama_token * size)()
                n = lib.llama_tokenize(self.vocab, data, len(data), buf, size, add_bos, special)
            if n < 0:
                raise ModelError(f"llama.cpp could not tokenize {len(data)} bytes")
            return list(buf[:n])

    def piece(self, token: int) -> bytes:
        """The bytes ``token`` renders as in generated text (special tokens render as
        nothing), cached per token id."""
        cached = self._pieces.get(token)
        if cached is None:
            lib = llama_cpp()
            buf = ctypes.create_string_buffer(64)
            n = lib.llama_token_to_piece(self.vocab, token, buf, 64, 0, False)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = lib.llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
            cached = buf.raw[:max(n, 0)]
            self._pieces[token] = cached
        return cached

    def token_text(self, token: int) -> str:
        """The vocabulary's text of ``token`` (``<|im_end|>`` for a special token)."""
        if token < 0:
            return ""
        text = llama_cpp().llama_vocab_get_text(self.vocab, token)
        return text.decode("utf-8", "replace") if text else ""

    def is_eog(self, token: int) -> bool:
        """Whether ``token`` ends generation (EOS, EOT, ...), cached per token id."""
        known = self._eog.get(token)
        if known is None:
            known = self._eog[token] = bool(llama_cpp().llama_vocab_is_eog(self.vocab, token))
        return known

    def grammar_error(self, grammar: str) -> str | None:
        """None when llama.cpp parses GBNF ``grammar`` against this vocabulary, else a
        message (llama.cpp reports a bad grammar only by returning no sampler)."""
        lib = llama_cpp()
        sampler = lib.llama_sampler_init_grammar(self.vocab, grammar.encode("utf-8"), b"root")
        if not sampler:
            return "llama.cpp rejected the grammar (see its log for the rule it could not parse)"
        lib.llama_sampler_free(sampler)
        return None

    def close(self) -> None:
        """Free the weights; the model is unusable afterwards."""
        if self.ptr:
            llama_cpp().llama_model_free(self.ptr)
            self.ptr = None
