"""An llm stage's settings as the llm actor reads them from a workflow (no model loaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers.actors.llm import LlmConfig, config_from_stage
from consumers.exceptions import WorkflowError

pytestmark = pytest.mark.unit


def _workflow(tmp_path: Path, stage_extra: str = "", model_extra: str = "") -> Path:
    (tmp_path / "m.gguf").write_bytes(b"GGUF fake")
    path = tmp_path / "wf.yaml"
    path.write_text(f"""
name: t
error_handler: err
entry_points: [{{when: "*", stage: s}}]
models:
  tiny: {{path: m.gguf, n_ctx: 1024, n_gpu_layers: 0, seed: 1, temperature: 0.5{model_extra}}}
stages:
  s:
    actor: {{kind: llm, model: tiny, n_gpu_layers: 99, seed: 7{stage_extra}}}
    prompt: "Summarize {{posting.description}}"
    output: {{type: text, max_chars: 100, sentences: 1}}
    limits: {{max_tokens: 32, timeout_s: 5}}
    branches: [{{when: "[FAILED]", next: err}}, {{when: "*", next: done}}]
  err:
    actor: {{kind: script, callable: echo}}
    branches: [{{when: "*", next: done}}]
""")
    return path


def test_config_from_workflow_objects(tmp_path: Path):
    from consumers.workflow import load_workflow

    workflow = load_workflow(_workflow(tmp_path, stage_extra=", threads: 3, max_sequences: 6"))
    config = config_from_stage(workflow.stages["s"], workflow)
    assert config.model_path == (tmp_path / "m.gguf").resolve()
    assert (config.n_ctx, config.n_gpu_layers, config.seed, config.temperature, config.threads) == (1024, 99, 7, 0.5, 3)
    assert (config.max_tokens, config.timeout_s, config.stage, config.model_name) == (32, 5.0, "s", "tiny")
    assert config.output == {"type": "text", "max_chars": 100, "sentences": 1}
    overridden = config_from_stage(workflow.stages["s"], workflow, {"n_gpu_layers": 0, "threads": 1})
    assert (overridden.n_gpu_layers, overridden.threads) == (0, 1)
    assert overridden.engine_settings.n_threads == 1
    assert (config.max_sequences, config.engine_settings.sequences) == (6, 6)
    assert (config.engine_settings.n_ctx_per_seq, config.engine_settings.n_gpu_layers) == (1024, 99)


def test_config_from_plain_mappings(tmp_path: Path):
    stage = {"name": "s", "actor": {"kind": "llm", "model": "m"}, "prompt": "Hi {posting.title}"}
    (tmp_path / "x.gguf").write_bytes(b"GGUF")
    config = config_from_stage(stage, {"models": {"m": {"path": str(tmp_path / "x.gguf")}}})
    assert isinstance(config, LlmConfig)
    assert (config.n_ctx, config.max_tokens, config.timeout_s, config.output) == (2048, 128, 60.0, {"type": "text"})


@pytest.mark.parametrize("stage, models, words", [
    ({"name": "s", "actor": {"kind": "script"}, "prompt": "x"}, {}, "not 'llm'"),
    ({"name": "s", "actor": {"kind": "llm", "model": "nope"}, "prompt": "x"}, {}, "not defined"),
    ({"name": "s", "actor": {"kind": "llm", "model": "m"}}, {"m": {"path": "PATH"}}, "needs a prompt"),
    ({"name": "s", "actor": {"kind": "llm", "model": "m"}, "prompt": "x"}, {"m": {"path": "/nope.gguf"}},
     "does not exist"),
    ({"name": "s", "actor": {"kind": "llm", "model": "m", "seed": "x"}, "prompt": "x"}, {"m": {"path": "PATH"}},
     "invalid llm setting"),
])
def test_config_errors(tmp_path: Path, stage, models, words):
    (tmp_path / "x.gguf").write_bytes(b"GGUF")
    models = {k: {kk: (str(tmp_path / "x.gguf") if vv == "PATH" else vv) for kk, vv in v.items()}
              for k, v in models.items()}
    with pytest.raises(WorkflowError, match=words):
        config_from_stage(stage, {"models": models})
