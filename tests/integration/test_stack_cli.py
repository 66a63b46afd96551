"""`wavestream stack` and `wavestream topics` as a user runs them, in subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import traversable_tmp
from wavestream.stack.process import free_port

pytestmark = pytest.mark.integration

WAVESTREAM = [sys.executable, "-m", "wavestream.cli"]


@pytest.fixture
def stack_env() -> dict[str, str]:
    root = traversable_tmp("cli-stack")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAVESTREAM_")}
    env.update(
        WAVESTREAM_STACK_DIR=str(root),
        WAVESTREAM_STACK_KAFKA_PORT=str(free_port()),
        WAVESTREAM_STACK_CONTROLLER_PORT=str(free_port()),
        WAVESTREAM_STACK_PG_PORT=str(free_port()),
        WAVESTREAM_TOPIC_PARTITIONS="3",
        WAVESTREAM_LOG_FORMAT="text",
    )
    try:
        yield env
    finally:
        subprocess.run([*WAVESTREAM, "stack", "down"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


def run(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*WAVESTREAM, *args], env=env, capture_output=True, text=True, timeout=timeout)


def _exported(output: str) -> dict[str, str]:
    import shlex

    pairs = (shlex.split(line[len("export "):])[0].split("=", 1) for line in output.splitlines())
    return dict(pairs)


def test_up_topics_describe_down_twice(stack_env):
    for round_no in (1, 2):
        up = run(stack_env, "stack", "up")
        assert up.returncode == 0, up.stderr
        assert "running" in up.stdout and "Kafka 4." in up.stdout, up.stdout

        again = run(stack_env, "stack", "up")  # a second `up` is a no-op
        assert again.returncode == 0, again.stderr

        env = {**stack_env, **_exported(run(stack_env, "stack", "env").stdout)}
        assert env["WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS"].endswith(stack_env["WAVESTREAM_STACK_KAFKA_PORT"])

        created = run(env, "topics", "create")
        assert created.returncode == 0, created.stderr
        outcomes = {name: outcome for outcome, name in (line.split() for line in created.stdout.splitlines())}
        expected = "created" if round_no == 1 else "exists"  # storage survives a restart
        assert outcomes["events"] == expected and outcomes["stage.summarize.retry"] == expected

        described = run(env, "topics", "describe", "--json")
        assert described.returncode == 0, described.stderr
        rows = {r["topic"]: r for r in json.loads(described.stdout)}
        assert rows["events"]["retention.ms"] == "-1"
        assert rows["postings"]["partitions"] == 3
        assert rows["stage.score"]["cleanup.policy"] == "delete"
        assert rows["commands.state.job-postings"]["cleanup.policy"] == "compact"

        down = run(stack_env, "stack", "down")
        assert down.returncode == 0 and "kafka" in down.stdout and "postgres" in down.stdout, down.stdout
        status = run(stack_env, "stack", "status")
        assert status.returncode == 3 and "stopped" in status.stdout


def test_up_fails_fast_naming_a_taken_kafka_port(stack_env):
    port = int(stack_env["WAVESTREAM_STACK_KAFKA_PORT"])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen(1)
        # A hang would raise TimeoutExpired here: the port check happens before any start.
        result = run(stack_env, "stack", "up", timeout=60)
    assert result.returncode != 0
    assert f"127.0.0.1:{port}" in result.stderr and "in use" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    # Nothing was started: PostgreSQL is checked before either service starts.
    assert not list(Path(stack_env["WAVESTREAM_STACK_DIR"]).glob("**/*.pid"))


def test_stack_env_refuses_when_down(stack_env):
    result = run(stack_env, "stack", "env", timeout=60)
    assert result.returncode == 1 and "not running" in result.stderr


def _topics_on(bootstrap: str) -> set[str]:
    from confluent_kafka.admin import AdminClient

    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).topics)


def test_commands_find_the_running_stack_without_exports(stack_env, kafka_bootstrap, tmp_path, unique):
    """Issue 13.1: after `stack up`, commands need no `eval "$(wavestream stack env)"`;
    an endpoint set in the environment still wins."""
    up = run(stack_env, "stack", "up")
    assert up.returncode == 0, up.stderr
    stack_kafka = f"127.0.0.1:{stack_env['WAVESTREAM_STACK_KAFKA_PORT']}"
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(f"name: wf-{unique}\nstages:\n  only_{unique}: {{}}\n")
    topic = f"stage.only_{unique}"

    # No WAVESTREAM_KAFKA_* / WAVESTREAM_PG_DSN, and not even the stack's ports: the state
    # file that `stack up` wrote in WAVESTREAM_STACK_DIR says where it listens.
    bare = {k: v for k, v in stack_env.items() if not k.startswith("WAVESTREAM_STACK_") or k == "WAVESTREAM_STACK_DIR"}
    created = run(bare, "topics", "create", "--workflow", str(workflow))
    assert created.returncode == 0, created.stderr
    assert f"created  {topic}" in created.stdout, created.stdout
    used = [line for line in created.stderr.splitlines() if "using the embedded stack" in line]
    assert len(used) == 1, created.stderr
    assert f"Kafka {stack_kafka}" in used[0] and "PostgreSQL 127.0.0.1:" in used[0], used[0]
    assert "password" not in created.stderr.lower() and "scram" not in created.stderr.lower()
    assert topic in _topics_on(stack_kafka)
    listed = run(bare, "kafka", "topics", "--list")  # Kafka's own tools find it too
    assert listed.returncode == 0 and topic in listed.stdout.split(), listed.stderr

    # The environment wins: a bootstrap set there is used even though the stack runs.
    other = f"other_{unique}"
    workflow.write_text(f"name: wf-{unique}\nstages:\n  {other}: {{}}\n")
    env_wins = run({**bare, "WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap},
                   "topics", "create", "--workflow", str(workflow))
    assert env_wins.returncode == 0, env_wins.stderr
    assert f"stage.{other}" in _topics_on(kafka_bootstrap)
    assert f"stage.{other}" not in _topics_on(stack_kafka)
    assert f"Kafka {stack_kafka}" not in env_wins.stderr, env_wins.stderr

    # Stack down: nothing is found any more, and the error names the missing setting.
    assert run(stack_env, "stack", "down").returncode == 0
    gone = run(bare, "topics", "create", "--workflow", str(workflow), timeout=60)
    assert gone.returncode == 1 and "WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS" in gone.stderr, gone.stderr
