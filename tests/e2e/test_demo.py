"""`make demo`'s program on its own stack (free ports, a temp dir): it exits 0, prints a
result for every valid sample posting and every malformed row with its reason, writes
the PNG plots, and leaves no process running (checked through its pid files)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import traversable_tmp
from wavestream import PROJECT_ROOT
from wavestream.stack.process import free_port, pid_alive

pytestmark = pytest.mark.e2e

pytest.importorskip("llama_cpp")


def _sample_rows() -> tuple[list[str], int]:
    """Posting ids of the well-formed rows, and how many rows are malformed."""
    ids, malformed = [], 0
    for line in (PROJECT_ROOT / "examples" / "postings.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            malformed += 1
            continue
        good = isinstance(row, dict) and isinstance(row.get("description"), str) and str(row.get("title", "")).strip()
        if good:
            ids.append(row["posting_id"])
        else:
            malformed += 1
    return ids, malformed


def test_demo_runs_the_samples_and_cleans_up():
    root = traversable_tmp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAVESTREAM_")}
    env.update(WAVESTREAM_STACK_DIR=str(root / "stack"), WAVESTREAM_STACK_KAFKA_PORT=str(free_port()),
               WAVESTREAM_STACK_CONTROLLER_PORT=str(free_port()), WAVESTREAM_STACK_PG_PORT=str(free_port()),
               WAVESTREAM_TOPIC_PARTITIONS="3")
    try:
        result = subprocess.run([sys.executable, "-m", "wavestream.demo"], cwd=root, env=env,
                                capture_output=True, text=True, timeout=2400)
        out = result.stdout
        assert result.returncode == 0, out[-4000:] + result.stderr[-4000:]
        ids, malformed = _sample_rows()
        results = out.split("=== results ===", 1)[1].split("=== rejected rows ===")
        for posting_id in ids:
            assert f"\n{posting_id}  " in results[0], f"no result for {posting_id}"
        assert results[0].count("  summary: ") >= 1 and results[0].count("  score:   ") >= 1
        rejected = [line for line in results[1].splitlines() if line.strip().startswith("line ")]
        assert len(rejected) == malformed and all(": " in line for line in rejected)
        for png in ("throughput.png", "stage_latency.png"):
            assert (root / "demo-output" / png).read_bytes()[:4] == b"\x89PNG"
        run_dir = root / "stack" / "demo" / "run"
        assert not list(run_dir.glob("*.pid")), "pipeline pid files left behind"
        assert "stopped the stack: kafka, postgres" in out
        for pid_file in (root / "stack").glob("**/*.pid"):
            pid = int(pid_file.read_text().split()[0])
            assert not pid_alive(pid), f"{pid_file} names a live process"
    finally:
        subprocess.run([sys.executable, "-m", "wavestream.cli", "stack", "down"], cwd=root, env=env,
                       capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)
