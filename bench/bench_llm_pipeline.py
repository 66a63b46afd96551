"""Pipeline throughput with the real model vs a raw llama-cpp-python loop over the same prompts.

Raw loop: one process, one ``llama_cpp.Llama``; for each posting the three llm stages of
``workflows/default.yaml`` (summarize -> extract_skills -> score) as plain
``create_chat_completion`` calls with the same rendered prompts, grammars, sampling
settings and token limits, each stage's output feeding the next prompt.

Pipeline: the same workflow on Kafka (stages renamed so the run has its own topics):
ingest router, one worker process per stage (three of them load the model), postings
produced to ``postings``; the clock runs from the first posting produced to the last
``PostingCompleted`` read back (read_committed).

Both use llama.cpp's default thread count per process, so on a machine with spare cores
the pipeline's three model processes overlap the stages of different postings. The raw
loop runs before and after the pipeline and the ratio uses their mean. Prints postings/s
of both and their ratio, measured in this run. No assertions.

    .venv/bin/python bench/bench_llm_pipeline.py [--postings 12]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

from common import ROOT, Events, Workers, create_workflow_topics, kafka

from bench.quality import sample_postings
from consumers.contracts import build_contract
from consumers.prompt import render, resolve
from consumers.workflow import load_workflow
from tests.e2e.test_pipeline_model import renamed_default_workflow

STAGES = ("summarize", "extract_skills", "score")


def raw_loop(workflow_path: Path, postings: list[dict]) -> tuple[float, int]:
    """(seconds, outputs that satisfied their contract) of the plain library loop."""
    from llama_cpp import Llama, LlamaGrammar

    from consumers.actors.llm import config_from_stage
    from consumers.contracts import ContractViolation, ref_values
    from consumers.probe import probe_text

    workflow = load_workflow(workflow_path)
    configs = {s: config_from_stage(workflow.stages[s], workflow) for s in STAGES}
    contracts = {s: build_contract(c.output) for s, c in configs.items()}
    first = configs["summarize"]
    llama = Llama(model_path=str(first.model_path), n_ctx=first.n_ctx, n_batch=first.n_batch,
                  n_gpu_layers=first.n_gpu_layers, verbose=False)
    usable = 0
    started = time.monotonic()
    for posting in postings:
        outputs: dict[str, str] = {}
        for stage in STAGES:
            cfg, contract = configs[stage], contracts[stage]
            command = {"posting": posting, "outputs": outputs}
            grounding = "\n".join(resolve(ref, command) for ref in contract.grounded_in)
            refs = ref_values(contract, command)
            grammar_text = contract.grammar_for(grounding, refs)
            response = llama.create_chat_completion(
                messages=[{"role": "user", "content": render(cfg.prompt, command)}],
                grammar=LlamaGrammar.from_string(grammar_text, verbose=False) if grammar_text else None,
                max_tokens=cfg.max_tokens, temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p,
                repeat_penalty=cfg.repeat_penalty, seed=cfg.seed,
            )
            choice = response["choices"][0]
            probs = None
            if contract.probe:  # the score's probabilities right after the generated reason
                prompt_tokens = llama.input_ids[: response["usage"]["prompt_tokens"]].tolist()
                probs = probe_text(llama, prompt_tokens, choice["message"]["content"] or "", contract.probe)
            try:
                outputs[stage] = contract.check(choice["message"]["content"] or "", grounding=grounding,
                                                truncated=choice["finish_reason"] == "length", refs=refs, probs=probs)
                usable += 1
            except ContractViolation:
                outputs[stage] = "[]" if stage == "extract_skills" else ""
    return time.monotonic() - started, usable


def pipeline(settings, bootstrap: str, postings: list[dict], tmp: Path) -> tuple[float, int]:
    """(seconds, postings completed without a failure) through router + workers."""
    from wavestream.clients import build_producer
    from wavestream.codec import AvroCodec
    from wavestream.events import utcnow
    from wavestream.topics import POSTINGS

    suffix = uuid.uuid4().hex[:8]
    workflow, names = renamed_default_workflow(tmp, suffix, model=None)  # the workflow's own model, as raw_loop
    create_workflow_topics(settings, workflow)
    pool = Workers(bootstrap, tmp)
    events = Events(settings)
    try:
        pool.start("router", "router", "--workflow", str(workflow), "--instance-id", f"r-{suffix}")
        for stage in names.values():
            pool.start(stage, "worker", "--stage", stage, "--workflow", str(workflow), "--instance-id", "1",
                       "--batch", "4", "--batch-ms", "5000")
        for stage in names.values():
            pool.wait_members(settings, f"wavestream-stage-{stage}", 1, timeout_s=300)
        codec, producer = AvroCodec.from_settings(settings), build_producer(settings)
        ids = set()
        for p in postings:
            p = {**p, "posting_id": f"{p['posting_id']}-{suffix}", "submitted_at": utcnow()}
            ids.add(p["posting_id"])
            producer.produce(POSTINGS, key=p["posting_id"], value=codec.encode("Posting", p))
        producer.flush(30)
        seconds = events.wait_for("PostingCompleted", ids, timeout_s=60 + 120 * len(postings))
        failed = {e["posting_id"] for e in events.events if e["event_type"] == "InteractionFailed"}
        return seconds, len(ids - failed)
    finally:
        events.close()
        pool.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=12)
    args = parser.parse_args()
    postings = sample_postings(ROOT / "examples" / "postings.jsonl", args.postings)
    default = ROOT / "workflows" / "default.yaml"
    n = len(postings)
    print(f"{n} postings x 3 llm stages, SmolLM2-135M Q4_1, llama.cpp default threads per process")
    # The raw loop runs before and after the pipeline; their mean is the baseline, so a
    # change in machine load during the run shows up instead of skewing the ratio.
    raw_before, usable = raw_loop(default, postings)
    print(f"raw llama-cpp-python loop (before): {raw_before:7.1f}s {n / raw_before:6.3f} postings/s "
          f"({usable}/{3 * n} outputs usable)", flush=True)
    with kafka() as (settings, bootstrap), tempfile.TemporaryDirectory(prefix="wavestream-llm-") as tmp:
        pipe_s, ok = pipeline(settings, bootstrap, postings, Path(tmp))
    print(f"pipeline (router + 5 workers):      {pipe_s:7.1f}s {n / pipe_s:6.3f} postings/s "
          f"({ok}/{n} without a failure)", flush=True)
    raw_after, _ = raw_loop(default, postings)
    print(f"raw llama-cpp-python loop (after):  {raw_after:7.1f}s {n / raw_after:6.3f} postings/s")
    raw_s = (raw_before + raw_after) / 2
    print(f"pipeline/raw throughput: {raw_s / pipe_s:.2f}x (raw = mean of both loops)")
    print(json.dumps({"postings": n, "raw_before_s": round(raw_before, 2), "raw_after_s": round(raw_after, 2),
                      "pipeline_s": round(pipe_s, 2), "ratio": round(raw_s / pipe_s, 3)}))


if __name__ == "__main__":
    main()
