"""The in-process runs of ``bench_llm_pipeline.py``: the sequential llama-cpp-python loop
and the inference engine, on the same rendered prompts, grammars and limits of the
default workflow's llm stages (summarize -> extract_skills -> score)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STAGES = ("summarize", "extract_skills", "score")


def cycle_postings(rows: list[dict], n: int) -> list[dict]:
    """``n`` postings: ``rows`` repeated (ids suffixed ``-r2``, ``-r3``...) when there are fewer."""
    out = []
    for i in range(n):
        row = rows[i % len(rows)]
        round_ = i // len(rows)
        out.append(row if round_ == 0 else {**row, "posting_id": f"{row['posting_id']}-r{round_ + 1}"})
    return out


def fallback(stage: str) -> str:
    """What the next stage's prompt gets when a stage's output broke its contract."""
    return "[]" if stage == "extract_skills" else ""


@dataclass
class Run:
    seconds: float
    usable: int
    stats: dict[str, Any] = field(default_factory=dict)


def raw_loop(workflow_path: Path, postings: list[dict], n_threads: int | None = None) -> Run:
    """The plain library loop: one ``llama_cpp.Llama``, one ``create_chat_completion``
    per posting and stage, each output feeding the next prompt (``n_threads`` None: the
    library's default, half the cores). The library cannot probe the values after a
    probed score's ``Score:``, so that stage's output here is ``Score:`` alone: it breaks
    the int contract (not usable) and costs the loop less than the engine's probe."""
    from llama_cpp import Llama, LlamaGrammar

    from consumers.actors.llm import config_from_stage
    from consumers.contract_base import ref_values
    from consumers.contracts import ContractViolation, build_contract
    from consumers.prompt import render, resolve
    from consumers.workflow import load_workflow

    workflow = load_workflow(workflow_path)
    configs = {s: config_from_stage(workflow.stages[s], workflow) for s in STAGES}
    contracts = {s: build_contract(c.output) for s, c in configs.items()}
    first = configs["summarize"]
    llama = Llama(model_path=str(first.model_path), n_ctx=first.n_ctx, n_batch=first.n_batch,
                  n_gpu_layers=first.n_gpu_layers, n_threads=n_threads, n_threads_batch=n_threads, verbose=False)
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
            try:
                outputs[stage] = contract.check(choice["message"]["content"] or "", grounding=grounding,
                                                truncated=choice["finish_reason"] == "length", refs=refs)
                usable += 1
            except ContractViolation:
                outputs[stage] = fallback(stage)
    seconds = time.monotonic() - started
    llama.close()
    return Run(seconds, usable)


def engine_run(workflow_path: Path, postings: list[dict], max_sequences: int | None,
               n_threads: int | None = None) -> Run:
    """The llm actors on the inference engine, no Kafka: every posting's summarize
    command submitted together, then every extract_skills, then every score."""
    from consumers.actors.llm import LlmActor
    from consumers.engine import close_engine
    from consumers.exceptions import ActorError
    from consumers.workflow import load_workflow

    workflow = load_workflow(workflow_path)
    overrides = {k: v for k, v in (("max_sequences", max_sequences), ("threads", n_threads)) if v}
    actors = {s: LlmActor(workflow.stages[s], workflow, overrides=overrides or None) for s in STAGES}
    engine = actors["summarize"].engine
    engine.reset_stats()
    outputs: dict[str, dict[str, str]] = {p["posting_id"]: {} for p in postings}
    usable = 0
    started = time.monotonic()
    for stage in STAGES:
        commands = [{"posting": p, "outputs": dict(outputs[p["posting_id"]]), "attempt": 1,
                     "posting_id": p["posting_id"]} for p in postings]
        for posting, result in zip(postings, actors[stage].run_batch(commands)):
            ok = not isinstance(result, ActorError)
            usable += ok
            outputs[posting["posting_id"]][stage] = result.output if ok else fallback(stage)
    seconds = time.monotonic() - started
    stats = engine.stats().as_dict()
    stats.update(max_sequences=engine.max_sequences, n_threads=engine.threads[0])
    close_engine(engine)
    return Run(seconds, usable, stats)


def describe_engine(run: Run, n: int) -> str:
    """One line: postings/s, tokens/s and where the time went."""
    s = run.stats
    tokens = s["prompt_tokens"] + s["generated_tokens"]
    other = max(0.0, run.seconds - s["decode_s"] - s["sample_s"])
    return (f"max_sequences={s['max_sequences']:>2}: {run.seconds:7.1f}s {n / run.seconds:6.3f} postings/s "
            f"{tokens / run.seconds:6.0f} tokens/s | prompt {s['prompt_tokens']} tok in {s['prompt_s']:.1f}s "
            f"(+{s['cached_tokens']} held by a slot, not processed) "
            f"({s['prompt_tokens'] / max(s['prompt_s'], 1e-9):.0f}/s), generation {s['generated_tokens']} tok in "
            f"{s['generate_s']:.1f}s ({s['generated_tokens'] / max(s['generate_s'], 1e-9):.0f}/s), sampling "
            f"{s['sample_s']:.1f}s ({s['grammar_full']} full-vocabulary grammar passes), other {other:.1f}s, "
            f"{s['steps']} steps ({run.usable}/{3 * n} outputs usable)")
