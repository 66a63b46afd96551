"""The default workflow end to end on a real broker with the real SmolLM2 model: postings
submitted with `wavestream submit`'s code path, the ingest router, one model-first worker
serving the three llm stages (one model, one engine) and a worker per script stage;
every posting completes once with a non-empty summary, grounded skills and a score in
1..10. A second test SIGKILLs the model-first worker in the middle of the run and
restarts it: every posting still completes exactly once for a read_committed reader."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
import yaml

from consumers.contracts import occurs
from producers.ingest import submit_file
from tests.e2e.models import default_doc, on_model
from tests.e2e.test_llm_actor import example_postings
from tests.integration.test_worker_helpers import EventLog, Procs, counts, create_workflow_topics

pytestmark = pytest.mark.e2e

pytest.importorskip("llama_cpp")

LLM_STAGES = ("summarize", "extract_skills", "score")


def renamed_default_workflow(tmp_path: Path, suffix: str, model: str | None = "smollm2") -> tuple[Path, dict[str, str]]:
    """workflows/default.yaml with every stage renamed ``<stage>_<suffix>`` (own topics
    and consumer groups for this test); prompts, branches, entry points follow. Every
    llm stage runs on ``model`` (a key of its ``models``; tests keep the fast one; None:
    each stage's own, :func:`tests.e2e.models.on_model`)."""
    doc = default_doc() if model is None else on_model(default_doc(), model)
    names = {name: f"{name}_{suffix}" for name in doc["stages"]}

    def rename(stage: str) -> str:
        return names.get(stage, stage)

    stages = {}
    for name, stage in doc["stages"].items():
        stage = dict(stage)
        if stage.get("prompt"):
            stage["prompt"] = re.sub(r"\{outputs\.([A-Za-z_][A-Za-z0-9_]*)\}",
                                     lambda m: "{outputs.%s}" % rename(m.group(1)), stage["prompt"])
        stage["branches"] = [{**b, "next": rename(b["next"])} for b in stage.get("branches", [])]
        stages[rename(name)] = stage
    doc["stages"] = stages
    doc["error_handler"] = rename(doc["error_handler"])
    doc["entry_points"] = [{**e, "stage": rename(e["stage"]),
                            **({"outputs": {rename(k): v for k, v in e["outputs"].items()}} if "outputs" in e else {})}
                           for e in doc["entry_points"]]
    doc["name"] = f"{doc['name']}-{suffix}"
    path = tmp_path / "default-renamed.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path, names


def start_workers(procs: Procs, workflow: Path, names: dict[str, str], name: str = "llm") -> None:
    """One model-first worker for the llm stages, one worker per other stage."""
    llm = [arg for stage in LLM_STAGES for arg in ("--stage", names[stage])]
    procs.start(name, "worker", *llm, "--workflow", str(workflow), "--instance-id", "1", "--batch", "4",
                "--batch-ms", "2000")
    for stage, renamed in names.items():
        if stage not in LLM_STAGES and renamed not in procs.procs:
            procs.start(renamed, "worker", "--stage", renamed, "--workflow", str(workflow), "--instance-id", "1",
                        "--batch", "4", "--batch-ms", "2000")


def submitted(tmp_path: Path, suffix: str, copies: int = 1) -> tuple[Path, list[dict]]:
    """The example postings (``copies`` times, new ids) as a JSONL file to submit."""
    postings = [{k: v for k, v in p.items() if k not in ("submitted_at", "source")} | {
        "posting_id": f"{p['posting_id']}-{suffix}-{c}", "attributes": {}}
        for c in range(copies) for p in example_postings()]
    source = tmp_path / "postings.jsonl"
    source.write_text("".join(json.dumps({k: v for k, v in p.items() if v is not None}) + "\n" for p in postings))
    return source, postings


def test_default_workflow_through_the_workers(kafka_settings, kafka_bootstrap, tmp_path: Path):
    suffix = uuid.uuid4().hex[:8]
    workflow, names = renamed_default_workflow(tmp_path, suffix)
    create_workflow_topics(kafka_settings, workflow)
    source, postings = submitted(tmp_path, suffix)
    ids = [p["posting_id"] for p in postings]

    procs = Procs(kafka_bootstrap, tmp_path)
    log = EventLog(kafka_settings, ids)
    try:
        procs.start("router", "router", "--workflow", str(workflow), "--instance-id", f"r-{suffix}", "--from", "earliest")
        start_workers(procs, workflow, names)
        summary = submit_file(source, kafka_settings, progress=False)
        assert (summary.accepted, summary.rejected) == (3, 0)
        log.wait_for(lambda l: {e["posting_id"] for e in l.of("PostingCompleted")} >= set(ids), procs,
                     max_rounds=3000, what="3 completions with the real model")
        log.settle()
        procs.terminate_all()
    finally:
        log.close()
        procs.kill_all()
    assert "loaded once for stages" in procs.log("llm")

    seen = counts(log.events)
    assert all(n == 1 for n in seen.values()), [k for k, n in seen.items() if n != 1]
    completed = {(e["posting_id"], e["stage"]): e["payload"] for e in log.of("InteractionCompleted")}
    failures = [(e["posting_id"], e["stage"], e["attempt"], e["payload"]["error_type"], e["payload"]["message"][:200], e["payload"]["will_retry"]) for e in log.of("InteractionFailed")]
    assert not failures, failures
    for posting in postings:
        pid = posting["posting_id"]
        out = {stage: completed[(pid, names[stage])] for stage in LLM_STAGES}
        assert out["summarize"]["output"].strip()
        skills = json.loads(out["extract_skills"]["output"])
        assert isinstance(skills, list) and skills
        assert all(isinstance(s, str) and occurs(s, posting["description"]) for s in skills), skills
        score = json.loads(out["score"]["output"])
        assert isinstance(score["value"], int) and 1 <= score["value"] <= 10
        for payload in out.values():
            assert payload["actor_kind"] == "llm" and payload["model_file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
            assert payload["prompt_tokens"] > 0 and payload["completion_tokens"] > 0
            assert len(payload["model_sha256"]) == 64 and len(payload["prompt_sha256"]) == 64
        final = [e for e in log.of("PostingCompleted") if e["posting_id"] == pid]
        assert final[0]["payload"]["final_stage"] == names["score"]


def test_a_model_first_worker_killed_mid_run_completes_every_posting_exactly_once(kafka_settings, kafka_bootstrap,
                                                                                  tmp_path: Path):
    suffix = uuid.uuid4().hex[:8]
    workflow, names = renamed_default_workflow(tmp_path, suffix)
    create_workflow_topics(kafka_settings, workflow)
    source, postings = submitted(tmp_path, suffix, copies=3)
    ids = [p["posting_id"] for p in postings]
    procs = Procs(kafka_bootstrap, tmp_path)
    log = EventLog(kafka_settings, ids)
    try:
        procs.start("router", "router", "--workflow", str(workflow), "--instance-id", f"r-{suffix}", "--from", "earliest")
        start_workers(procs, workflow, names)
        assert submit_file(source, kafka_settings, progress=False).accepted == len(ids)
        log.wait_for(lambda l: len(l.of("InteractionCompleted", names["summarize"])) >= 2, procs, max_rounds=3000,
                     what="the first summaries")
        procs.kill("llm")  # batches of the three stages in flight
        start_workers(procs, workflow, names, name="llm-restarted")
        log.wait_for(lambda l: {e["posting_id"] for e in l.of("PostingCompleted")} >= set(ids), procs,
                     max_rounds=4500, what="every completion after the restart")
        log.settle()
    finally:
        log.close()
        procs.kill_all()
    seen = counts(log.events)
    assert all(n == 1 for n in seen.values()), [k for k, n in seen.items() if n != 1]
    assert sorted(e["posting_id"] for e in log.of("PostingCompleted")) == sorted(ids)
