"""Issue 13.2: interrupting `make demo`'s program stops everything it started, and a run
after a killed one cleans up what that one left. The demo runs a script + human
workflow (no model) against the session's Kafka and a fresh database: the human stage
keeps it waiting, so it is still running when the signal comes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import traversable_tmp
from wavestream import PROJECT_ROOT
from wavestream.stack.process import pid_alive

pytestmark = pytest.mark.integration

START_LIMIT_S = 300  # bounds a stuck start only; the test waits for pid files, not for time


def _workflow(directory: Path, unique: str) -> tuple[Path, list[str]]:
    check, hold = f"check_{unique}", f"hold_{unique}"
    doc = {
        "name": f"demo-signals-{unique}",
        "entry_points": [{"when": "*", "stage": check}],
        "stages": {
            check: {"actor": {"kind": "script", "callable": "echo"},
                    "branches": [{"when": "[FAILED]", "next": "done"}, {"when": "*", "next": hold}]},
            hold: {"actor": {"kind": "human"}, "prompt": "Keep {posting.title}?",
                   "branches": [{"when": "[FAILED]", "next": "done"}, {"when": "*", "next": "done"}]},
        },
    }
    path = directory / "workflow.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    names = ["command-processor", "projector", "router", f"worker-{check}", f"worker-{hold}"]
    return path, names


def _postings(directory: Path, unique: str) -> Path:
    path = directory / "postings.jsonl"
    row = ('{"posting_id": "%s-%d", "title": "SRE", "description": "Keep our Kafka clusters healthy, '
           'upgrade them without downtime and watch consumer lag for every team."}')
    path.write_text("\n".join(row % (unique, i) for i in range(3)) + "\n")
    return path


class Demo:
    """`python -m wavestream.demo` in a subprocess, with its output in a file."""

    def __init__(self, root: Path, env: dict[str, str], workflow: Path, postings: Path, tag: str) -> None:
        self.out_file = root / f"demo-{tag}.out"
        with self.out_file.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wavestream.demo", "--workflow", str(workflow), "--postings", str(postings)],
                cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)

    @property
    def output(self) -> str:
        return self.out_file.read_text()

    def wait_started(self, run_dir: Path, names: list[str]) -> dict[str, int]:
        """Wait until the demo reports its processes started; returns name -> pid."""
        deadline = time.monotonic() + START_LIMIT_S
        while not any(line.startswith("started: ") for line in self.output.splitlines()):
            assert self.proc.poll() is None, f"the demo exited early:\n{self.output[-3000:]}"
            assert time.monotonic() < deadline, f"the demo did not start its processes:\n{self.output[-3000:]}"
            time.sleep(0.5)
        pids = {f.stem: int(f.read_text().split()[0]) for f in run_dir.glob("*.pid")}
        assert sorted(pids) == names, f"{pids}\n{self.output[-3000:]}"
        for name, pid in pids.items():
            assert pid_alive(pid), f"{name} is not running:\n{self.output[-3000:]}"
            assert pid in _children(self.proc.pid)
        return pids


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def demo_setup(kafka_bootstrap, fresh_db, unique):
    root = traversable_tmp("demo-signals")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAVESTREAM_")}
    env.update(WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap, WAVESTREAM_PG_DSN=fresh_db,
               WAVESTREAM_STACK_DIR=str(root / "stack"), WAVESTREAM_TOPIC_PARTITIONS="3",
               PYTHONPATH=str(PROJECT_ROOT))
    workflow, names = _workflow(root, unique)
    started: set[int] = set()
    try:
        yield root, env, workflow, _postings(root, unique), names, started
    finally:
        _kill(started)  # whatever a failed assertion left running
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_everything_the_demo_started(demo_setup, sig):
    root, env, workflow, postings, names, started = demo_setup
    demo = Demo(root, env, workflow, postings, "a")
    started.add(demo.proc.pid)
    pids = demo.wait_started(root / "stack" / "demo" / "run", names)
    started.update(pids.values())

    demo.proc.send_signal(sig)
    status = demo.proc.wait(timeout=300)
    alive = {name: pid for name, pid in pids.items() if pid_alive(pid)}
    assert not alive, f"left running after {sig.name}: {alive}"
    assert status == 128 + sig, demo.output[-3000:]
    assert not list((root / "stack" / "demo" / "run").glob("*.pid"))
    assert "stopped pipeline processes: " + ", ".join(names) in demo.output


def test_a_second_run_cleans_up_after_a_killed_one(demo_setup):
    root, env, workflow, postings, names, started = demo_setup
    run_dir = root / "stack" / "demo" / "run"
    first = Demo(root, env, workflow, postings, "first")
    started.add(first.proc.pid)
    first_pids = first.wait_started(run_dir, names)
    started.update(first_pids.values())
    first.proc.kill()  # SIGKILL: no cleanup can run
    first.proc.wait(timeout=60)
    assert all(pid_alive(pid) for pid in first_pids.values())

    # A pid file naming a live process that is not ours (a recycled pid) must not be signalled.
    impostor = subprocess.Popen(["sleep", "600"])
    started.add(impostor.pid)
    (run_dir / "impostor.pid").write_text(f"{impostor.pid}\n")

    second = Demo(root, env, workflow, postings, "second")
    started.add(second.proc.pid)
    second_pids = second.wait_started(run_dir, names)
    started.update(second_pids.values())
    assert not [pid for pid in first_pids.values() if pid_alive(pid)], second.output[-3000:]
    assert impostor.poll() is None, "a process the demo did not start was signalled"
    assert "cleaned up after an earlier run" in second.output

    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(timeout=300) == 128 + signal.SIGTERM, second.output[-3000:]
    assert not [pid for pid in second_pids.values() if pid_alive(pid)]
    impostor.kill()
    impostor.wait()
