"""LLM throughput: the sequential llama-cpp-python loop vs the inference engine vs the
pipeline on Kafka, on the same prompts, grammars and limits (workflows/default.yaml's
summarize -> extract_skills -> score), measured in one run.

- (a)  raw loop: one ``llama_cpp.Llama``, one chat completion per posting and stage, the
       library's default threads (half the cores); it runs first and last, and the
       ratios use the mean of both, so a change in machine load shows up;
- (a') the same loop with threads = the cores;
- (b)  the inference engine in process, no Kafka: all postings' summarize commands
       submitted together, then extract_skills, then score (the workflow's engine
       settings; ``--max-sequences`` overrides); then a sweep over ``max_sequences``
       printing tokens/s and the split between prompt processing, generation and sampling;
- (c)  the pipeline on Kafka: ingest router and ONE model-first worker process serving
       the three llm stages (``--stage summarize --stage extract_skills --stage score``)
       plus the script stages; the clock runs from the first posting produced to the last
       ``PostingCompleted`` read back (read_committed).

The last line is one JSON object: postings/s of each, ``engine_vs_raw`` (b/a),
``pipeline_vs_raw`` (c/a), ``engine_vs_tuned_raw`` (b/a') and the sweep. No assertions.

    .venv/bin/python bench/bench_llm_pipeline.py [--postings 24] [--model smollm2] [--quick] [--no-pipeline]

``--model`` swaps every llm stage onto one model key of the workflow; without it each stage
runs on its own model (qwen in workflows/default.yaml).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import uuid
from pathlib import Path

import yaml
from common import ROOT, Events, Workers, create_workflow_topics, kafka

from bench.quality import sample_postings
from bench.llm_runs import STAGES, cycle_postings, describe_engine, engine_run, raw_loop
from consumers.engine.threads import available_cores
from tests.e2e.models import write_on_model
from tests.e2e.test_pipeline_model import renamed_default_workflow

DEFAULT = ROOT / "workflows" / "default.yaml"


def pipeline(settings, bootstrap: str, postings: list[dict], tmp: Path, max_sequences: int | None,
             model: str | None) -> tuple[float, int]:
    """(seconds, postings completed without a failure) through the router and one
    model-first worker serving every stage."""
    from wavestream.clients import build_producer
    from wavestream.codec import AvroCodec
    from wavestream.events import utcnow
    from wavestream.topics import POSTINGS

    suffix = uuid.uuid4().hex[:8]
    workflow, names = renamed_default_workflow(tmp, suffix, model=model)
    if max_sequences:
        doc = yaml.safe_load(workflow.read_text())
        for model in doc["models"].values():
            model["max_sequences"] = max_sequences
        workflow.write_text(yaml.safe_dump(doc, sort_keys=False))
    create_workflow_topics(settings, workflow)
    pool = Workers(bootstrap, tmp)
    events = Events(settings)
    try:
        pool.start("router", "router", "--workflow", str(workflow), "--instance-id", f"r-{suffix}", "--from", "earliest")
        stage_args = [arg for stage in names.values() for arg in ("--stage", stage)]
        pool.start("worker", "worker", *stage_args, "--workflow", str(workflow), "--instance-id", "1",
                   "--batch", str(max(8, len(postings))), "--batch-ms", "2000")
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
    parser.add_argument("--postings", type=int, default=24, help="postings (examples/ cycled when fewer)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 postings, sweep 1 and 4, raw loop once")
    parser.add_argument("--max-sequences", type=int, default=None, help="engine slots for (b) and (c)")
    parser.add_argument("--sweep", default="1,4,8,16", help="max_sequences values of the sweep")
    parser.add_argument("--no-pipeline", action="store_true", help="skip (c), the run on Kafka")
    parser.add_argument("--model", default=None,
                        help="a model key of the workflow every llm stage runs on (default: each stage's own, "
                             "qwen in workflows/default.yaml; smollm2 is the fast one)")
    args = parser.parse_args()
    n = 3 if args.quick else args.postings
    sweep = [1, 4] if args.quick else [int(v) for v in args.sweep.split(",") if v]
    postings = cycle_postings(sample_postings(ROOT / "examples" / "postings.jsonl", 1000), n)
    cores = available_cores()
    workdir = tempfile.TemporaryDirectory(prefix="wavestream-llm-wf-")
    workflow = write_on_model(DEFAULT, args.model, Path(workdir.name))
    print(f"{n} postings x {len(STAGES)} llm stages, model {args.model or 'of the workflow'}, {cores} cores",
          flush=True)

    raw_before = raw_loop(workflow, postings)
    print(f"(a)  raw loop, default threads (before): {raw_before.seconds:7.1f}s "
          f"{n / raw_before.seconds:6.3f} postings/s ({raw_before.usable}/{3 * n} usable)", flush=True)
    tuned = raw_loop(workflow, postings, n_threads=cores)
    print(f"(a') raw loop, {cores} threads:               {tuned.seconds:7.1f}s "
          f"{n / tuned.seconds:6.3f} postings/s ({tuned.usable}/{3 * n} usable)", flush=True)
    engine = engine_run(workflow, postings, args.max_sequences)
    print(f"(b)  engine, {describe_engine(engine, n)}", flush=True)
    swept = []
    for k in sweep:
        run = engine_run(workflow, postings, k)
        print(f"     sweep {describe_engine(run, n)}", flush=True)
        s = run.stats
        swept.append({"max_sequences": k, "seconds": round(run.seconds, 2), "postings_per_s": round(n / run.seconds, 4),
                      "tokens_per_s": round((s["prompt_tokens"] + s["generated_tokens"]) / run.seconds, 1),
                      "prompt_tokens_per_s": round(s["prompt_tokens"] / max(s["prompt_s"], 1e-9), 1),
                      "generated_tokens_per_s": round(s["generated_tokens"] / max(s["generate_s"], 1e-9), 1),
                      "prompt_s": round(s["prompt_s"], 2), "cached_prompt_tokens": s["cached_tokens"],
                      "generate_s": round(s["generate_s"], 2),
                      "sample_s": round(s["sample_s"], 2), "grammar_full": s["grammar_full"], "usable": run.usable})
    pipe_s = ok = None
    if not args.no_pipeline:
        with kafka() as (settings, bootstrap), tempfile.TemporaryDirectory(prefix="wavestream-llm-") as tmp:
            pipe_s, ok = pipeline(settings, bootstrap, postings, Path(tmp), args.max_sequences, args.model)
        print(f"(c)  pipeline, router + one model-first worker: {pipe_s:7.1f}s {n / pipe_s:6.3f} postings/s "
              f"({ok}/{n} without a failure)", flush=True)
    raw_s = raw_before.seconds
    raw_after = None
    if not args.quick:
        raw_after = raw_loop(workflow, postings)
        print(f"(a)  raw loop, default threads (after):  {raw_after.seconds:7.1f}s "
              f"{n / raw_after.seconds:6.3f} postings/s", flush=True)
        raw_s = (raw_before.seconds + raw_after.seconds) / 2
    ratio = {"engine_vs_raw": round(raw_s / engine.seconds, 3),
             "engine_vs_tuned_raw": round(tuned.seconds / engine.seconds, 3),
             "pipeline_vs_raw": round(raw_s / pipe_s, 3) if pipe_s else None}
    print("engine/raw {engine_vs_raw}x, engine/tuned raw {engine_vs_tuned_raw}x, pipeline/raw {pipeline_vs_raw}x "
          "(raw = mean of the default-thread loops)".format(**ratio))
    print(json.dumps({
        "postings": n, "cores": cores, "model": args.model or "workflow", **ratio,
        "raw_postings_per_s": round(n / raw_s, 4), "tuned_raw_postings_per_s": round(n / tuned.seconds, 4),
        "engine_postings_per_s": round(n / engine.seconds, 4),
        "pipeline_postings_per_s": round(n / pipe_s, 4) if pipe_s else None,
        "raw_before_s": round(raw_before.seconds, 2), "raw_after_s": round(raw_after.seconds, 2) if raw_after else None,
        "tuned_raw_s": round(tuned.seconds, 2), "engine_s": round(engine.seconds, 2),
        "engine_max_sequences": engine.stats["max_sequences"], "pipeline_s": round(pipe_s, 2) if pipe_s else None,
        "pipeline_ok": ok, "usable": {"raw": raw_before.usable, "tuned_raw": tuned.usable, "engine": engine.usable},
        "sweep": swept,
    }))


if __name__ == "__main__":
    main()
