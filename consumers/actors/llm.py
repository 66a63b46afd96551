"""The ``llm`` actor: a GGUF model through llama-cpp-python, one chat completion per command.

The stage's prompt template is rendered from the command (``consumers.prompt``), the
model answers under the grammar of the stage's output contract (``consumers.contracts``),
and the decoded text is checked against the contract again before it becomes the output.
The model is loaded once per process (``consumers.models``); calls are serialized on it.

Failure mapping (what the worker routes on):

- a placeholder without a value, a prompt longer than the context, an output that
  breaks the contract -> :class:`PermanentActorError` (error branch);
- the stage's ``timeout_s`` passing while tokens are generated -> :class:`ActorTimeout`;
- llama.cpp failing to decode -> :class:`RetryableActorError`.

Generation is deterministic per command attempt: the sampling seed is the stage seed plus
``attempt - 1``, so a re-run of an aborted transaction produces the same output while a
retry samples afresh.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from consumers.actors.base import ActorResult
from consumers.contracts import Contract, build_contract, ref_values
from consumers.exceptions import ActorTimeout, PermanentActorError, RetryableActorError, WorkflowError
from consumers.models import LoadedModel, LoadSettings, grammar_error, load_model, resolve_model
from consumers.prompt import render, resolve
from wavestream.events import sha256_hex

log = logging.getLogger(__name__)

#: Settings a stage's actor mapping (or the model definition it names) may carry.
SETTING_KEYS = ("n_ctx", "n_gpu_layers", "n_batch", "threads", "seed", "temperature", "top_k", "top_p",
                "repeat_penalty", "system")


@dataclass(frozen=True)
class LlmConfig:
    """Everything one llm stage needs; built by :meth:`LlmActor.from_stage` or directly."""

    model_path: Path
    prompt: str
    output: Mapping[str, Any] = field(default_factory=lambda: {"type": "text"})
    stage: str = "llm"
    model_name: str | None = None
    n_ctx: int = 2048
    n_gpu_layers: int = 0
    n_batch: int = 512
    threads: int | None = None
    seed: int = 42
    temperature: float = 0.2
    top_k: int = 40
    top_p: float = 0.95
    repeat_penalty: float = 1.1
    max_tokens: int = 128
    timeout_s: float = 60.0
    system: str | None = None

    @property
    def load_settings(self) -> LoadSettings:
        return LoadSettings(n_ctx=self.n_ctx, n_gpu_layers=self.n_gpu_layers, n_batch=self.n_batch,
                            n_threads=self.threads)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def config_from_stage(stage: Any, workflow: Any, overrides: Mapping[str, Any] | None = None) -> LlmConfig:
    """An :class:`LlmConfig` from a workflow stage (object or mapping with ``name``,
    ``actor``, ``prompt``, ``output``, ``limits``) and its workflow (``models`` and, for
    relative model paths, ``path``). Precedence, lowest first: the model definition, the
    stage's actor mapping, ``overrides`` (worker settings such as ``n_gpu_layers``).

    Raises:
        WorkflowError: the actor is not ``llm``, names an unknown model, the model file
            cannot be found, or a setting has the wrong type.
    """
    name = str(_get(stage, "name", "llm"))
    actor = _get(stage, "actor") or {}
    if _get(actor, "kind") != "llm":
        raise WorkflowError(f"stage {name}: actor kind is {_get(actor, 'kind')!r}, not 'llm'")
    model_name = _get(actor, "model")
    models = _get(workflow, "models") or {}
    model_def = _get(models, model_name) if model_name is not None else None
    if model_def is None:
        raise WorkflowError(f"stage {name}: model {model_name!r} is not defined under models")
    wf_path = _get(workflow, "path")
    base_dir = Path(wf_path).parent if wf_path else None
    if hasattr(model_def, "resolve"):  # consumers.workflow.ModelSpec
        model_path = Path(model_def.resolve(base_dir)).resolve()
    else:
        model_path = resolve_model(model_def, base_dir)
    settings: dict[str, Any] = {}
    for source in (model_def, actor, overrides or {}):
        for key in SETTING_KEYS:
            value = _get(source, key)
            if value is not None:
                settings[key] = value
    limits = _get(stage, "limits") or {}
    prompt = _get(stage, "prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise WorkflowError(f"stage {name}: an llm stage needs a prompt")
    try:
        return LlmConfig(
            model_path=model_path, prompt=prompt, output=dict(_get(stage, "output") or {"type": "text"}),
            stage=name, model_name=str(model_name),
            n_ctx=int(settings.get("n_ctx", 2048)), n_gpu_layers=int(settings.get("n_gpu_layers", 0)),
            n_batch=int(settings.get("n_batch", 512)),
            threads=int(settings["threads"]) if settings.get("threads") is not None else None,
            seed=int(settings.get("seed", 42)), temperature=float(settings.get("temperature", 0.2)),
            top_k=int(settings.get("top_k", 40)), top_p=float(settings.get("top_p", 0.95)),
            repeat_penalty=float(settings.get("repeat_penalty", 1.1)),
            max_tokens=int(_get(limits, "max_tokens", 128)), timeout_s=float(_get(limits, "timeout_s", 60)),
            system=settings.get("system"),
        )
    except (TypeError, ValueError) as exc:
        raise WorkflowError(f"stage {name}: invalid llm setting: {exc}") from exc


class LlmActor:
    """Runs one llm stage. Construct with ``LlmActor(stage, workflow)`` (the workflow
    model's stage objects) or ``LlmActor.from_config(LlmConfig(...))``.

    Construction loads the model (once per process) and checks the contract's grammar
    against its vocabulary.

    Raises (construction):
        WorkflowError: invalid stage settings, contract or grammar; model file not found.
        ModelError: llama-cpp-python is missing or the model cannot be loaded.
    """

    kind = "llm"

    def __init__(self, stage: Any = None, workflow: Any = None, *, config: LlmConfig | None = None,
                 overrides: Mapping[str, Any] | None = None) -> None:
        if config is None:
            config = config_from_stage(stage, workflow, overrides)
        elif overrides:
            config = replace(config, **dict(overrides))
        self.config = config
        self.contract: Contract = build_contract(config.output)
        self.model: LoadedModel = load_model(config.model_path, config.load_settings)
        self.name = f"llm:{config.model_name or config.model_path.stem}"
        self.sha256: str | None = self.model.sha256
        self._grammars: dict[str, Any] = {}
        text = self.contract.grammar
        if text is not None:
            problem = grammar_error(self.model, text)
            if problem:
                raise WorkflowError(f"stage {config.stage}: output grammar: {problem}")
            from llama_cpp import LlamaGrammar

            self._grammars[text] = LlamaGrammar.from_string(text, verbose=False)

    def _grammar(self, text: str | None) -> Any:
        """The LlamaGrammar for ``text``: the contract's static grammar (checked at
        construction), or a per-command one (grounded items), checked here.

        Raises:
            PermanentActorError: llama.cpp rejects a per-command grammar.
        """
        if text is None:
            return None
        grammar = self._grammars.get(text)
        if grammar is None:
            problem = grammar_error(self.model, text)
            if problem:
                raise PermanentActorError(f"stage {self.config.stage}: output grammar for this command: {problem}")
            from llama_cpp import LlamaGrammar

            grammar = LlamaGrammar.from_string(text, verbose=False)
        return grammar

    @classmethod
    def from_config(cls, config: LlmConfig) -> "LlmActor":
        return cls(config=config)

    @classmethod
    def from_stage(cls, stage: Any, workflow: Any, overrides: Mapping[str, Any] | None = None) -> "LlmActor":
        return cls(stage, workflow, overrides=overrides)

    def messages(self, prompt: str) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.config.system}] if self.config.system else []
        return [*system, {"role": "user", "content": prompt}]

    def run(self, command: Mapping[str, Any]) -> ActorResult:
        """Answer one StageCommand dict.

        Raises:
            PermanentActorError: a placeholder has no value, the prompt does not fit the
                context, or the output breaks the contract (ContractViolation).
            ActorTimeout: generation ran past ``timeout_s``.
            RetryableActorError: llama.cpp failed to decode.
        """
        cfg = self.config
        prompt = render(cfg.prompt, command)
        grounding = "\n".join(resolve(ref, command) for ref in self.contract.grounded_in)
        attempt = int(command.get("attempt") or 1)
        refs = ref_values(self.contract, command)
        grammar = self._grammar(self.contract.grammar_for(grounding, refs))
        response = self._complete(self.messages(prompt), grammar=grammar, seed=cfg.seed + attempt - 1,
                                  probe=self.contract.probe)
        choice = response["choices"][0]
        raw = choice.get("text") or ""
        usage = response.get("usage") or {}
        output = self.contract.check(raw, grounding=grounding, truncated=choice.get("finish_reason") == "length",
                                     refs=refs, probs=response.get("probe_probs"))
        return ActorResult(
            output=output,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            model_file=self.model.file_name,
            model_sha256=self.model.sha256,
            prompt_sha256=sha256_hex(prompt),
        )

    def _complete(self, messages: list[dict[str, str]], *, grammar: Any, seed: int,
                  probe: tuple[str, ...] = ()) -> dict[str, Any]:
        """One completion under the model's chat template; generation stops at the
        deadline through a stopping criterion (llama-cpp-python checks it per token).
        With ``probe``, ``response["probe_probs"]`` holds the probability of each
        continuation right after the generated text (``consumers.probe``)."""
        cfg = self.config
        started = time.monotonic()
        deadline = started + cfg.timeout_s
        late: list[bool] = []

        def past_deadline(input_ids: Any, logits: Any) -> bool:
            if time.monotonic() > deadline:
                late.append(True)
                return True
            return False

        with self.model.lock:
            tokens, stop = self.model.chat_prompt(messages)
            if len(tokens) >= cfg.n_ctx:
                raise PermanentActorError(
                    f"stage {cfg.stage}: the prompt has {len(tokens)} tokens, the context holds n_ctx={cfg.n_ctx}"
                )
            from llama_cpp import StoppingCriteriaList

            try:
                response = self.model.llama.create_completion(
                    prompt=tokens, grammar=grammar, max_tokens=cfg.max_tokens, stop=stop,
                    temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p,
                    repeat_penalty=cfg.repeat_penalty, seed=seed,
                    stopping_criteria=StoppingCriteriaList([past_deadline]),
                )
            except ValueError as exc:
                # llama-cpp-python raises ValueError when the prompt exceeds the context.
                raise PermanentActorError(f"stage {cfg.stage}: {exc} (n_ctx={cfg.n_ctx})") from exc
            except RuntimeError as exc:
                raise RetryableActorError(f"stage {cfg.stage}: llama.cpp failed: {exc}") from exc
            if probe and not late and response["choices"][0].get("finish_reason") != "length":
                from consumers.probe import probe_text

                response["probe_probs"] = probe_text(self.model.llama, tokens, response["choices"][0]["text"] or "",
                                                     probe)
        if late:
            raise ActorTimeout(
                f"stage {cfg.stage}: generation ran past timeout_s={cfg.timeout_s:g} "
                f"({time.monotonic() - started:.1f}s)"
            )
        return response
