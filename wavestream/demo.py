"""``make demo``: the whole pipeline on the embedded stack with the real model.

Starts the embedded stack (if it is not running), creates the topics, starts the ingest
router, the command processor, the workers of ``workflows/default.yaml`` (one per model
for its LLM stages, one per script or human stage: :func:`worker_groups`) and the
projector as tracked background processes, submits ``examples/postings.jsonl``, waits
(progress bar) until every row is finished or rejected, prints the dashboard and the results, writes plots to
``demo-output/`` and stops everything it started.

Ctrl-C and SIGTERM stop everything it started too (exit status 128 + the signal). A run
first cleans up what a killed earlier one left: the processes its pid files name (only
when their command line shows they are ours) and the pid files. ``--workflow`` and
``--postings`` run another workflow or file; ``WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS`` and
``WAVESTREAM_PG_DSN``, when both are set, are used instead of the embedded stack.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
from tqdm import tqdm

from projector.pgschema import connect_schema
from projector.plots import render_plots
from wavestream.config import LogSettings, PostgresSettings, StackSettings
from wavestream.db import translate_errors
from wavestream.exceptions import WavestreamError
from wavestream.logs import configure_logging
from wavestream.resources import default_workflow, resource_dir
from wavestream.stack.manager import Stack
from wavestream.supervisor import Supervisor

log = logging.getLogger("wavestream.demo")

WORKFLOW = default_workflow()
POSTINGS = resource_dir("examples") / "postings.jsonl"
OUT = Path("demo-output")
SCHEMA = "wavestream"
WAIT_LIMIT_S = 1800  # the whole sample on 2 CPU cores takes minutes; this only bounds a stuck run

# The stack's data (and so earlier demos' rows) persists. Re-submitted postings keep their
# ids and run again (`submit --resubmit`: the demo shows the pipeline at work each time),
# so only postings finished since this run submitted (`since`) count.
# A rejected row's event id derives from file and line, so a second submission's
# rejection is the first one (applied once): rejections count per source file.
_PROGRESS = """
SELECT (SELECT count(*) FROM postings
         WHERE status IN ('completed', 'failed', 'cancelled') AND updated_at >= %(since)s)
     + (SELECT count(*) FROM execution_events
         WHERE event_type = 'PostingRejected' AND payload->>'source_file' = %(source)s)
"""
_RESULTS = """
SELECT posting_id, title, status, summary, skills, score, score_rationale, last_error
  FROM postings WHERE status <> 'rejected' AND updated_at >= %(since)s ORDER BY posting_id
"""
_REJECTED = """
SELECT payload->>'line', payload->>'reason' FROM execution_events
 WHERE event_type = 'PostingRejected' AND payload->>'source_file' = %(source)s
 ORDER BY (payload->>'line')::int NULLS LAST, posting_id
"""


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: unwinds like Ctrl-C into the demo's cleanup, past any
    ``except Exception`` / ``except WavestreamError`` on the way."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _install_stop_handlers() -> None:
    """SIGINT and SIGTERM raise :class:`Stopped`; a second one while the demo cleans up
    is only noted, so the cleanup itself is never cut short."""

    def noted(signum: int, _frame: object) -> None:
        log.warning("%s: already stopping", signal.Signals(signum).name)

    def stop(signum: int, _frame: object) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, noted)
        raise Stopped(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _wavestream(env: dict[str, str], *args: str) -> str:
    """Run a wavestream command to completion.

    Raises: WavestreamError with the command's last output line when it fails."""
    result = subprocess.run([sys.executable, "-m", "wavestream.cli", *args], env=env,
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise WavestreamError(f"`wavestream {' '.join(args)}` failed: {last[0]}")
    return result.stdout


def _rows_in(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def worker_groups(workflow: Path) -> list[tuple[str, ...]]:
    """The stages each worker process serves, in workflow order: one process per model
    for the ``llm`` stages (the model is loaded once), one per ``script`` or ``human`` stage.

    Raises: WorkflowError when the workflow cannot be read."""
    from consumers.workflow import load_workflow

    groups: dict[str, list[str]] = {}
    for name, stage in load_workflow(workflow).stages.items():
        key = f"model {stage.actor.model}" if stage.actor.kind == "llm" else f"stage {name}"
        groups.setdefault(key, []).append(name)
    return [tuple(stages) for stages in groups.values()]


def _start_pipeline(sup: Supervisor, workflow: Path) -> None:
    sup.start("projector", ["projector"])
    sup.start("router", ["router", "--workflow", str(workflow), "--instance-id", "demo", "--from", "earliest"])
    sup.start("command-processor", ["command-processor", "--workflow", str(workflow), "--instance-id", "demo", "--from", "earliest"])
    for group in worker_groups(workflow):  # one model-first worker per model, one per script stage
        stages = [arg for stage in group for arg in ("--stage", stage)]
        # Small batches: with an LLM a transaction per few commands keeps progress visible.
        sup.start(f"worker-{'+'.join(group)}", ["worker", *stages, "--workflow", str(workflow),
                                                "--instance-id", "demo", "--batch", "4"])


def _query(sql: str, since: datetime, postings: Path) -> list[tuple]:
    """Raises: DatabaseError, e.g. while the projector has not created the read models yet."""
    conn = connect_schema(PostgresSettings.from_env(), SCHEMA, application_name="wavestream-demo")
    try:
        with translate_errors("demo query"), conn.cursor() as cur:
            cur.execute(sql, {"since": since, "source": str(postings)})
            return cur.fetchall()
    finally:
        conn.close()


def _wait(sup: Supervisor, expected: int, since: datetime, postings: Path) -> None:
    """Raises: ProcessDied if a pipeline process exits; WavestreamError after WAIT_LIMIT_S."""
    deadline = time.monotonic() + WAIT_LIMIT_S
    done = 0
    with tqdm(total=expected, desc="postings finished or rejected", unit="posting") as bar:
        while done < expected:
            sup.check()
            if time.monotonic() > deadline:
                raise WavestreamError(f"only {done} of {expected} rows finished in {WAIT_LIMIT_S}s; "
                                      f"see the logs in {sup.log_dir}")
            try:
                done = _query(_PROGRESS, since, postings)[0][0]
            except WavestreamError:
                done = 0  # the projector has not created the read models yet
            bar.update(done - bar.n)
            time.sleep(1.0)


def _show_results(since: datetime, postings: Path) -> None:
    _say("\n=== results ===")
    for posting_id, title, status, summary, skills, score, rationale, error in _query(_RESULTS, since, postings):
        _say(f"\n{posting_id}  {title}  [{status}]")
        if status == "completed":
            _say(f"  summary: {summary}")
            _say(f"  skills:  {json.dumps(skills)}")
            _say(f"  score:   {score}/10  {rationale or ''}".rstrip())
        else:
            _say(f"  error:   {error}")
    _say("\n=== rejected rows ===")
    for line, reason in _query(_REJECTED, since, postings):
        _say(f"  line {line}: {reason}")


def _stack_to_start(stack: Stack) -> tuple[bool, bool]:
    """(use the embedded stack, this run starts it). The environment wins: with both
    endpoints set there, the embedded stack is not used."""
    if os.environ.get("WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("WAVESTREAM_PG_DSN"):
        return False, False
    before = stack.status()
    return True, not (before.kafka_running or before.postgres_running)


def run(workflow: Path = WORKFLOW, postings: Path = POSTINGS) -> None:
    """Raises: WavestreamError when a step fails (the message names it)."""
    stack = Stack(StackSettings.from_env())
    use_stack, starts_stack = _stack_to_start(stack)  # decided first: an interrupted `up` is undone too
    try:
        if use_stack:
            for line in stack.up().lines():
                _say(line)
            for key, value in stack.env().items():
                os.environ.setdefault(key, value)
        else:
            _say("using Kafka and PostgreSQL from WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS and WAVESTREAM_PG_DSN")
        env = {**os.environ, "WAVESTREAM_LOG_FORMAT": "json"}
        sup = Supervisor(stack.settings.data_dir / "demo" / "run", OUT / "logs", env)
        stopped, stale = sup.clean_leftovers()
        if stopped or stale:
            _say(f"cleaned up after an earlier run: stopped {', '.join(stopped) or 'nothing'}; "
                 f"removed pid files {', '.join(stopped + stale)}")
        try:
            _run_pipeline(sup, env, workflow, postings)
        finally:
            _say(f"\nstopped pipeline processes: {', '.join(sup.stop_all()) or 'none'}")
    finally:
        if starts_stack:
            _say(f"stopped the stack: {', '.join(stack.down()) or 'nothing'}")


def _run_pipeline(sup: Supervisor, env: dict[str, str], workflow: Path, postings: Path) -> None:
    _say(_wavestream(env, "topics", "create", "--workflow", str(workflow)).strip().splitlines()[-1])
    _start_pipeline(sup, workflow)
    _say(f"started: {', '.join(sup.running())} (logs in {OUT / 'logs'})")
    since = datetime.now(timezone.utc) - timedelta(seconds=1)  # event times are stamped in ms
    _say(_wavestream(env, "submit", "--resubmit", str(postings)).strip())
    _wait(sup, _rows_in(postings), since, postings)
    _say(_wavestream(env, "status", "--schema", SCHEMA))
    _show_results(since, postings)
    conn = connect_schema(PostgresSettings.from_env(), SCHEMA, application_name="wavestream-plots")
    try:
        plots = render_plots(conn, OUT)
    finally:
        conn.close()
    _say("\nplots: " + ", ".join(str(p) for p in plots))


_file_option = dict(type=click.Path(exists=True, dir_okay=False, path_type=Path), show_default=True)


@click.command()
@click.option("--workflow", default=WORKFLOW, help="workflow YAML to run", **_file_option)
@click.option("--postings", default=POSTINGS, help="postings file to submit", **_file_option)
def main(workflow: Path, postings: Path) -> None:
    """The whole pipeline on the embedded stack (see the module docstring)."""
    configure_logging(LogSettings(level=os.environ.get("WAVESTREAM_LOG_LEVEL", "WARNING"), fmt="text"))
    _install_stop_handlers()
    try:
        run(workflow.resolve(), postings.resolve())
    except Stopped as exc:
        _say(f"stopped by {exc}: every process the demo started is stopped")
        sys.exit(128 + exc.signum)
    except WavestreamError as exc:
        _say(f"error: {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
