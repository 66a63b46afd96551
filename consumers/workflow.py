"""The workflow model: stages, actors, prompts, routing (DESIGN §4).

A workflow YAML file is parsed into frozen dataclasses by :func:`load_workflow`. The
parser checks *shape* (types, required keys) and raises :class:`WorkflowError` listing
every shape problem; the semantic checks (targets exist, reachability, placeholders,
model files, ...) live in :mod:`consumers.validate`.

Format: see ``workflows/default.yaml``. Top level: ``name``, ``error_handler`` (receives
failures no branch takes), ordered ``entry_points`` (``when``: ``"*"``, ``{has: field}``
or ``{equals: {field: value}}``; ``outputs``: outputs seeded from posting fields, e.g.
``{summarize: summary}``), ``models`` (``{path: x.gguf}`` or ``{package: dist}`` plus
llama.cpp options) and ``stages``. A stage: ``actor`` (``{kind: llm, model: m}``,
``{kind: script, callable: spec}``, ``{kind: human}``), ``prompt`` with ``{posting.f}``
/ ``{outputs.stage}`` placeholders, ``output`` contract, ``limits``, ``retry``
(max_attempts, backoff_base_ms, backoff_cap_ms), ``circuit`` (threshold,
open_timeout_s) and ordered ``branches`` (``{when: condition, next: stage}``).

Branch conditions: ``[FAILED]``, ``[ERROR]``, ``[TIMEOUT]`` match failure statuses;
``*`` matches any successful output; ``re:<pattern>`` matches an output by regular
expression (search); any other string matches an output equal to it (stripped).
``next: done`` ends the posting's journey.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping


from consumers.exceptions import WorkflowError
from consumers.modelfiles import file_sha256, package_gguf

DONE = "done"
ANY = "*"
STATUSES = ("[FAILED]", "[ERROR]", "[TIMEOUT]")
ACTOR_KINDS = ("llm", "script", "human")
OUTPUT_TYPES = ("text", "json", "int", "enum")
FAILURE_KEY = "_failure"  # outputs key carrying the failure routed to an error branch
# Exactly {posting.<field>}, {posting.attributes.<key>} or {outputs.<stage>} (the syntax of
# consumers.prompt); every other brace is literal text, e.g. a JSON example.
_PLACEHOLDER = re.compile(r"\{((?:posting|outputs)\.[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_\-]+)?)\}")


@dataclass(frozen=True)
class Branch:
    when: str
    next: str

    @property
    def is_failure(self) -> bool:
        return self.when in STATUSES

    def matches_output(self, output: str) -> bool:
        """True when this (non-failure) branch accepts a successful ``output``."""
        if self.is_failure:
            return False
        if self.when == ANY:
            return True
        if self.when.startswith("re:"):
            return re.search(self.when[3:], output) is not None
        return output.strip() == self.when


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff_base_ms: int = 500
    backoff_cap_ms: int = 30_000

    def backoff_ms(self, attempt: int) -> int:
        """Delay before attempt ``attempt + 1`` after attempt ``attempt`` failed:
        ``base * 2**(attempt-1)`` capped at ``cap``."""
        return min(self.backoff_cap_ms, self.backoff_base_ms * 2 ** max(0, attempt - 1))


@dataclass(frozen=True)
class CircuitPolicy:
    threshold: int = 5  # consecutive retryable failures that open the circuit
    open_timeout_s: float = 30.0  # how long it stays open before a half-open probe


@dataclass(frozen=True)
class ActorSpec:
    kind: str
    model: str | None = None  # llm: key of ``models``
    callable: str | None = None  # script: builtin name or dotted path
    options: Mapping[str, Any] = field(default_factory=dict)  # every other key

    def __getattr__(self, name: str) -> Any:
        """Extra keys (``seed``, ``temperature``, ...) read as attributes too."""
        options = self.__dict__.get("options") or {}
        if name in options:
            return options[name]
        raise AttributeError(name)


@dataclass(frozen=True)
class Stage:
    name: str
    actor: ActorSpec
    prompt: str | None = None
    output: Mapping[str, Any] = field(default_factory=lambda: {"type": "text"})
    limits: Mapping[str, Any] = field(default_factory=dict)
    retry: RetryPolicy = RetryPolicy()
    circuit: CircuitPolicy = CircuitPolicy()
    branches: tuple[Branch, ...] = ()

    def placeholders(self) -> list[str]:
        """Dotted names used as ``{...}`` placeholders in the prompt, in order."""
        return placeholders(self.prompt or "")

    def route_success(self, output: str) -> Branch | None:
        """The first branch accepting ``output``; None when no branch does."""
        return next((b for b in self.branches if b.matches_output(output)), None)

    def route_failure(self, status: str) -> Branch | None:
        """The branch for failure ``status``; ``[FAILED]`` is the fallback for the
        other failure statuses. None when the stage has no such branch."""
        for wanted in (status, "[FAILED]"):
            branch = next((b for b in self.branches if b.when == wanted), None)
            if branch is not None:
                return branch
        return None


@dataclass(frozen=True)
class EntryPoint:
    stage: str
    when: Any = ANY  # "*", {"has": field} or {"equals": {field: value}}
    outputs: Mapping[str, str] = field(default_factory=dict)  # stage -> posting field

    def matches(self, posting: Mapping[str, Any]) -> bool:
        """Whether a Posting dict enters here."""
        if self.when == ANY:
            return True
        if "has" in self.when:
            return _field_value(posting, self.when["has"]) not in (None, "")
        return all(_field_value(posting, k) == v for k, v in self.when["equals"].items())

    def describe(self) -> str:
        return ANY if self.when == ANY else ", ".join(f"{k}={v}" for k, v in self.when.items())

    def seeded(self, posting: Mapping[str, Any]) -> dict[str, str]:
        """The outputs this entry point seeds from ``posting``'s fields (stage -> text)."""
        return {stage: str(posting.get(name) or "") for stage, name in self.outputs.items()}


@dataclass(frozen=True)
class ModelSpec:
    """A GGUF model reference: ``path`` (relative to the workflow file), the ``.gguf``
    inside an installed ``package``, or a ``catalogue`` model (:mod:`consumers.catalogue`);
    ``options`` are llama.cpp settings, plus the optional pins ``sha256`` and
    ``general_name`` checked before first use."""

    name: str
    path: str | None = None
    package: str | None = None
    file: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    catalogue: str | None = None

    def __getattr__(self, name: str) -> Any:
        """llama.cpp options (``n_ctx``, ...) read as attributes too."""
        options = self.__dict__.get("options") or {}
        if name in options:
            return options[name]
        raise AttributeError(name)

    def resolve(self, base_dir: Path | None = None) -> Path:
        """The model file: ``path`` (relative to ``base_dir``) or the ``.gguf`` of the
        installed ``package`` (``file`` picks one by name when it holds several).

        Raises:
            WorkflowError: the package is not installed, holds no (or several) matching
                ``.gguf`` files, the file does not exist, or it fails its pins
                (``ModelFileError``: sha256, GGUF ``general.name``).
        """
        from consumers.catalogue import verified_path, verify_file

        if self.catalogue:
            return verified_path(self.catalogue)
        if self.path:
            found = Path(self.path).expanduser()
            found = found if found.is_absolute() or base_dir is None else base_dir / found
        else:
            found = package_gguf(self.package or "", self.file)
        if not found.is_file():
            raise WorkflowError(f"model {self.name}: file {found} does not exist")
        pins = {k: self.options.get(k) for k in ("sha256", "general_name")}
        if any(pins.values()):
            verify_file(found, sha256=pins["sha256"], expected_name=pins["general_name"])
        return found

    def sha256(self, base_dir: Path | None = None) -> str:
        """Hex sha256 of the resolved model file. Raises: WorkflowError (see resolve)."""
        return file_sha256(self.resolve(base_dir))  # cached by path, size and mtime


@dataclass(frozen=True)
class Workflow:
    name: str
    stages: Mapping[str, Stage]
    entry_points: tuple[EntryPoint, ...]
    error_handler: str | None
    models: Mapping[str, ModelSpec]
    sha256: str  # of the file's bytes
    path: Path | None = None
    version: int | None = None

    def stage(self, name: str) -> Stage:
        """Raises: WorkflowError: no stage ``name``."""
        if name not in self.stages:
            raise WorkflowError(f"workflow {self.name} has no stage {name!r}")
        return self.stages[name]

    @property
    def base_dir(self) -> Path | None:
        """Directory relative model paths are resolved against."""
        return self.path.parent if self.path else None

    def model_path(self, name: str) -> Path:
        """Raises: WorkflowError: unknown model or missing file."""
        if name not in self.models:
            raise WorkflowError(f"workflow {self.name} has no model {name!r}")
        return self.models[name].resolve(self.base_dir)

    def entry_for(self, posting: Mapping[str, Any]) -> EntryPoint | None:
        """The first entry point matching ``posting``; None when none does."""
        return next((e for e in self.entry_points if e.matches(posting)), None)

    def seeded_outputs(self, posting: Mapping[str, Any]) -> dict[str, str]:
        """The outputs the entry point of ``posting`` seeds from its fields (none without one)."""
        entry = self.entry_for(posting)
        return entry.seeded(posting) if entry is not None else {}


def placeholders(template: str) -> list[str]:
    return _PLACEHOLDER.findall(template)


def render(template: str, command: Mapping[str, Any]) -> str:
    """Fill ``{posting.x}``, ``{posting.attributes.k}`` and ``{outputs.s}`` from a
    StageCommand dict; a missing or null value renders as the empty string."""

    def value(match: re.Match) -> str:
        root, _, rest = match.group(1).partition(".")
        source = command.get("posting") if root == "posting" else command.get("outputs") if root == "outputs" else None
        found = _field_value(source or {}, rest) if rest else None
        return "" if found is None else str(found)

    return _PLACEHOLDER.sub(value, template)


def _field_value(data: Mapping[str, Any], dotted: str) -> Any:
    current: Any = data
    for part in dotted.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def load_workflow(path: str | Path) -> Workflow:
    """Read and parse a workflow file (see :mod:`consumers.workflow_yaml`).

    Raises:
        WorkflowError: unreadable, not YAML, or shape problems (``problems``, one per line).
    """
    from consumers.workflow_yaml import load_workflow as load

    return load(path)


def parse_workflow(doc: Any, *, sha256: str, path: Path | None = None) -> Workflow:
    """Build a workflow from a loaded YAML document. Raises: WorkflowError."""
    from consumers.workflow_yaml import parse_workflow as parse

    return parse(doc, sha256=sha256, path=path)
