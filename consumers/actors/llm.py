"""The ``llm`` actor: a GGUF model through the process's inference engine, one chat
completion per command.

The stage's prompt template is rendered from the command (``consumers.prompt``), the
model answers under the grammar of the stage's output contract (``consumers.contracts``),
and the decoded text is checked against the contract again before it becomes the output.
The model is loaded once per process into an inference engine (``consumers.engine``)
shared by every stage that names it; :meth:`LlmActor.run_batch` submits all commands of
a batch at once, so the engine decodes them together with those of other stages.

Failure mapping (what the worker routes on):

- a placeholder without a value, a prompt longer than the context ->
  :class:`PermanentActorError` (error branch);
- an output that breaks the contract -> :class:`ContractBreak`: retried with a fresh
  seed up to the stage's ``retry.max_attempts``, then the ``[FAILED]`` branch; not
  counted by the circuit breaker (the model answered);
- the stage's ``timeout_s`` passing (counted from the command's admission to an engine
  slot, so it bounds prompt processing and generation) -> :class:`ActorTimeout`;
- llama.cpp failing to decode -> :class:`RetryableActorError`.

The sampling seed is the stage seed plus ``attempt - 1``: a retry samples afresh. An
output depends on its seed and on the batch it was decoded in (llama.cpp's batched
numerics may differ with the batch's composition), so a re-run of an aborted transaction
may produce another valid output; exactly-once holds all the same, because an aborted
transaction's outputs are never visible to read_committed readers.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from consumers.actors.base import ActorResult
from consumers.contracts import Contract, ContractViolation, build_contract, ref_values
from consumers.engine import EngineError, EngineSettings, GenerationRequest, GenerationResult, InferenceEngine
from consumers.engine import ModelError, get_engine
from consumers.exceptions import ActorError, ContractBreak, PermanentActorError, RetryableActorError, WorkflowError
from consumers.models import resolve_model
from consumers.prompt import render, resolve
from wavestream.events import sha256_hex

log = logging.getLogger(__name__)

#: Settings a stage's actor mapping (or the model definition it names) may carry.
SETTING_KEYS = ("n_ctx", "n_gpu_layers", "n_batch", "threads", "max_sequences", "seed", "temperature", "top_k",
                "top_p", "repeat_penalty", "system")


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
    max_sequences: int | None = None
    seed: int = 42
    temperature: float = 0.2
    top_k: int = 40
    top_p: float = 0.95
    repeat_penalty: float = 1.1
    max_tokens: int = 128
    timeout_s: float = 60.0
    system: str | None = None

    @property
    def engine_settings(self) -> EngineSettings:
        """The engine this stage runs on: ``n_ctx`` is each sequence slot's context;
        stages whose settings are equal share one engine."""
        return EngineSettings(n_ctx_per_seq=self.n_ctx, max_sequences=self.max_sequences, n_batch=self.n_batch,
                              n_threads=self.threads, n_gpu_layers=self.n_gpu_layers)


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
            max_sequences=int(settings["max_sequences"]) if settings.get("max_sequences") is not None else None,
            seed=int(settings.get("seed", 42)), temperature=float(settings.get("temperature", 0.2)),
            top_k=int(settings.get("top_k", 40)), top_p=float(settings.get("top_p", 0.95)),
            repeat_penalty=float(settings.get("repeat_penalty", 1.1)),
            max_tokens=int(_get(limits, "max_tokens", 128)), timeout_s=float(_get(limits, "timeout_s", 60)),
            system=settings.get("system"),
        )
    except (TypeError, ValueError) as exc:
        raise WorkflowError(f"stage {name}: invalid llm setting: {exc}") from exc


@dataclass
class _Prepared:
    """One command ready for the engine."""

    prompt: str
    grounding: str
    request: GenerationRequest
    refs: Any = None  # the contract's reference values (employer, location, title)


class LlmActor:
    """Runs one llm stage. Construct with ``LlmActor(stage, workflow)`` (the workflow
    model's stage objects) or ``LlmActor.from_config(LlmConfig(...))``.

    Construction gets the model's engine (loaded once per process and settings) and
    checks the contract's grammar against its vocabulary.

    Raises (construction):
        WorkflowError: invalid stage settings, contract or grammar; model file not found.
        ModelError: llama-cpp-python is missing or the model cannot be loaded.
        EngineError: llama.cpp cannot create the engine's context.
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
        self.engine: InferenceEngine = get_engine(config.model_path, config.engine_settings)
        self.name = f"llm:{config.model_name or config.model_path.stem}"
        self.sha256: str | None = self.engine.sha256
        # A probed score (issue 10): the values' token sequences, measured right after the
        # generated "Score:"; the engine returns their probabilities, the contract takes
        # the expected value. The same for every command, so tokenized once.
        self._probe = [self.engine.tokenize(text) for text in self.contract.probe] or None
        text = self.contract.grammar
        if text is not None:
            problem = self.engine.grammar_error(text)
            if problem:
                raise WorkflowError(f"stage {config.stage}: output grammar: {problem}")

    @classmethod
    def from_config(cls, config: LlmConfig) -> "LlmActor":
        return cls(config=config)

    @classmethod
    def from_stage(cls, stage: Any, workflow: Any, overrides: Mapping[str, Any] | None = None) -> "LlmActor":
        return cls(stage, workflow, overrides=overrides)

    @property
    def model(self) -> InferenceEngine:
        """The engine of the model (``file_name``, ``sha256``, ``path``)."""
        return self.engine

    @property
    def max_sequences(self) -> int:
        """Commands the engine decodes at once (its sequence slots, shared with the other
        stages on the same engine)."""
        return self.engine.max_sequences

    def messages(self, prompt: str) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.config.system}] if self.config.system else []
        return [*system, {"role": "user", "content": prompt}]

    def run(self, command: Mapping[str, Any]) -> ActorResult:
        """Answer one StageCommand dict.

        Raises:
            PermanentActorError: a placeholder has no value or the prompt does not fit
                the context.
            ContractBreak: the output breaks the contract (the next attempt samples afresh).
            ActorTimeout: the command ran past ``timeout_s``.
            RetryableActorError: llama.cpp failed to decode.
        """
        result = self.run_batch([command])[0]
        if isinstance(result, ActorError):
            raise result
        return result

    def run_batch(self, commands: Sequence[Mapping[str, Any]]) -> list[ActorResult | ActorError]:
        """Answer every command of a batch: all prompts are rendered and submitted to the
        engine at once, each output is checked against the contract. One result or
        :class:`ActorError` (returned, not raised) per command, in order; one command's
        failure never fails another."""
        prepared: list[_Prepared | ActorError] = [self._prepare(c) for c in commands]
        requests = [p.request for p in prepared if isinstance(p, _Prepared)]
        try:
            futures = iter(self.engine.submit(requests))
        except EngineError as exc:  # closed: the process is stopping, another worker retries
            return [p if isinstance(p, ActorError) else RetryableActorError(f"stage {self.config.stage}: {exc}")
                    for p in prepared]
        return [p if isinstance(p, ActorError) else self._finish(p, next(futures)) for p in prepared]

    def _prepare(self, command: Mapping[str, Any]) -> _Prepared | ActorError:
        cfg = self.config
        try:
            prompt = render(cfg.prompt, command)
            grounding = "\n".join(resolve(ref, command) for ref in self.contract.grounded_in)
            tokens, stop = self.engine.chat_prompt(self.messages(prompt))
        except ActorError as exc:
            return exc
        except ModelError as exc:
            return PermanentActorError(f"stage {cfg.stage}: {exc}")
        attempt = int(command.get("attempt") or 1)
        refs = ref_values(self.contract, command)
        request = GenerationRequest(
            prompt_tokens=tokens, max_tokens=cfg.max_tokens, seed=cfg.seed + attempt - 1,
            grammar=self.contract.grammar_for(grounding, refs), temperature=cfg.temperature, top_k=cfg.top_k,
            top_p=cfg.top_p, repeat_penalty=cfg.repeat_penalty, stop=tuple(stop), timeout_s=cfg.timeout_s,
            probe=self._probe,
        )
        return _Prepared(prompt, grounding, request, refs)

    def _finish(self, prepared: _Prepared, future: Future) -> ActorResult | ActorError:
        try:
            generated: GenerationResult = future.result()
            output = self.contract.check(generated.text, grounding=prepared.grounding,
                                         truncated=generated.finish_reason == "length", refs=prepared.refs,
                                         probs=generated.probe_probs)
        except ContractViolation as exc:
            return _in_stage(self.config.stage, exc, as_class=ContractBreak)
        except ActorError as exc:
            return _in_stage(self.config.stage, exc)
        return ActorResult(
            output=output,
            prompt_tokens=generated.prompt_tokens,
            completion_tokens=generated.completion_tokens,
            model_file=self.engine.file_name,
            model_sha256=self.engine.sha256,
            prompt_sha256=sha256_hex(prepared.prompt),
            duration_ms=int(generated.seconds * 1000),
        )


def _in_stage(stage: str, exc: ActorError, as_class: type[ActorError] | None = None) -> ActorError:
    """``exc`` (same class, or ``as_class``) with the stage named in its message."""
    error = (as_class or type(exc))(f"stage {stage}: {exc}")
    error.__cause__ = exc
    return error
