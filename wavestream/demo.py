"""``make demo``: the whole pipeline on the embedded stack with the real model.

Starts the embedded stack (if it is not running), creates the topics, starts the ingest
router, the command processor, one worker per stage of ``workflows/default.yaml`` and the
projector as tracked background processes, submits ``examples/postings.jsonl``, waits (progress bar) until
every row is finished or rejected, prints the dashboard and the results, writes plots to
``demo-output/`` and stops everything it started.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tqdm import tqdm

from projector.pgschema import connect_schema
from projector.plots import render_plots
from wavestream import PROJECT_ROOT
from wavestream.config import LogSettings, PostgresSettings, StackSettings
from wavestream.db import translate_errors
from wavestream.exceptions import WavestreamError
from wavestream.logs import configure_logging
from wavestream.stack.manager import Stack
from wavestream.supervisor import Supervisor
from wavestream.topics import workflow_stages

log = logging.getLogger("wavestream.demo")

WORKFLOW = PROJECT_ROOT / "workflows" / "default.yaml"
POSTINGS = PROJECT_ROOT / "examples" / "postings.jsonl"
OUT = Path("demo-output")
SCHEMA = "wavestream"
WAIT_LIMIT_S = 1800  # the whole sample on 2 CPU cores takes minutes; this only bounds a stuck run

# The stack's data (and so earlier demos' rows) persists. Re-submitted postings keep their
# ids and run again, so only postings finished since this run submitted (`since`) count.
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


def _start_pipeline(sup: Supervisor) -> None:
    sup.start("projector", ["projector"])
    sup.start("router", ["router", "--workflow", str(WORKFLOW), "--instance-id", "demo", "--from", "earliest"])
    sup.start("command-processor", ["command-processor", "--workflow", str(WORKFLOW), "--instance-id", "demo"])
    for stage in workflow_stages(WORKFLOW):
        # Small batches: with an LLM a transaction per few commands keeps progress visible.
        sup.start(f"worker-{stage}", ["worker", "--stage", stage, "--workflow", str(WORKFLOW),
                                      "--instance-id", "demo", "--batch", "4"])


def _query(sql: str, since: datetime) -> list[tuple]:
    """Raises: DatabaseError, e.g. while the projector has not created the read models yet."""
    conn = connect_schema(PostgresSettings.from_env(), SCHEMA, application_name="wavestream-demo")
    try:
        with translate_errors("demo query"), conn.cursor() as cur:
            cur.execute(sql, {"since": since, "source": str(POSTINGS)})
            return cur.fetchall()
    finally:
        conn.close()


def _wait(sup: Supervisor, expected: int, since: datetime) -> None:
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
                done = _query(_PROGRESS, since)[0][0]
            except WavestreamError:
                done = 0  # the projector has not created the read models yet
            bar.update(done - bar.n)
            time.sleep(1.0)


def _show_results(since: datetime) -> None:
    _say("\n=== results ===")
    for posting_id, title, status, summary, skills, score, rationale, error in _query(_RESULTS, since):
        _say(f"\n{posting_id}  {title}  [{status}]")
        if status == "completed":
            _say(f"  summary: {summary}")
            _say(f"  skills:  {json.dumps(skills)}")
            _say(f"  score:   {score}/10  {rationale or ''}".rstrip())
        else:
            _say(f"  error:   {error}")
    _say("\n=== rejected rows ===")
    for line, reason in _query(_REJECTED, since):
        _say(f"  line {line}: {reason}")


def run() -> None:
    """Raises: WavestreamError when a step fails (the message names it)."""
    stack = Stack(StackSettings.from_env())
    before = stack.status()
    started_stack = not (before.kafka_running or before.postgres_running)
    status = stack.up()
    try:
        for line in status.lines():
            _say(line)
        os.environ.update(stack.env())
        env = {**os.environ, "WAVESTREAM_LOG_FORMAT": "json"}
        sup = Supervisor(stack.settings.data_dir / "demo" / "run", OUT / "logs", env)
        try:
            _run_pipeline(sup, env)
        finally:
            _say(f"\nstopped pipeline processes: {', '.join(sup.stop_all()) or 'none'}")
    finally:
        if started_stack:
            _say(f"stopped the stack: {', '.join(stack.down()) or 'nothing'}")


def _run_pipeline(sup: Supervisor, env: dict[str, str]) -> None:
    _say(_wavestream(env, "topics", "create", "--workflow", str(WORKFLOW)).strip().splitlines()[-1])
    _start_pipeline(sup)
    _say(f"started: {', '.join(sup.running())} (logs in {OUT / 'logs'})")
    since = datetime.now(timezone.utc) - timedelta(seconds=1)  # event times are stamped in ms
    _say(_wavestream(env, "submit", str(POSTINGS)).strip())
    _wait(sup, _rows_in(POSTINGS), since)
    _say(_wavestream(env, "status", "--schema", SCHEMA))
    _show_results(since)
    conn = connect_schema(PostgresSettings.from_env(), SCHEMA, application_name="wavestream-plots")
    try:
        plots = render_plots(conn, OUT)
    finally:
        conn.close()
    _say("\nplots: " + ", ".join(str(p) for p in plots))


def main() -> None:
    configure_logging(LogSettings(level=os.environ.get("WAVESTREAM_LOG_LEVEL", "WARNING"), fmt="text"))
    try:
        run()
    except WavestreamError as exc:
        _say(f"error: {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
