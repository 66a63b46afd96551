"""Click commands of the producers package: ``submit`` and ``command``. Registered in
:mod:`wavestream.cli`; Kafka clients are built inside the command functions."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("submit")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default=None,
              help="input format (default: from the extension)")
@click.option("--progress/--no-progress", default=None, help="progress bar (default: on a terminal)")
@click.option("--resubmit", is_flag=True,
              help="submit postings delivered before too (each starts a new journey through the workflow)")
@click.option("--postings-topic", default=None, hidden=True, help="topic for postings (tests)")
@click.option("--events-topic", default=None, hidden=True, help="topic for rejections (tests)")
def submit(file: Path, fmt: str | None, progress: bool | None, resubmit: bool, postings_topic: str | None,
           events_topic: str | None) -> None:
    """Validate each row of FILE (JSONL or CSV) and produce it to `postings`; a bad row
    becomes a PostingRejected event with its line number. A posting delivered before
    (same id and content, recorded in the ledger under WAVESTREAM_SUBMIT_LEDGER_DIR) is
    skipped unless --resubmit. Prints the counts."""
    from producers.ingest import submit_file
    from wavestream.config import KafkaSettings, SubmitSettings

    summary = submit_file(file, KafkaSettings.from_env(), fmt=fmt, progress=progress,
                          postings_topic=postings_topic, events_topic=events_topic,
                          ledger_dir=SubmitSettings.from_env().ledger_dir, resubmit=resubmit)
    for line in summary.lines():
        click.echo(line)


@click.group("command")
@click.option("--topic", default=None, hidden=True, help="topic for commands (tests)")
@click.pass_context
def command(ctx: click.Context, topic: str | None) -> None:
    """Send an interaction command (rerun, decide, cancel) to `commands`."""
    ctx.obj = {"topic": topic}


_by = click.option("--by", "issued_by", default=None, help="who issues it (default: the current user)")
_workflow = click.option("--workflow", "workflow", type=click.Path(dir_okay=False, path_type=Path),
                         default=lambda: str(_default_workflow()), show_default="workflows/default.yaml",
                         help="workflow YAML the stage must belong to")


def _default_workflow() -> Path:
    from wavestream.resources import default_workflow

    return default_workflow()

_id = click.option("--command-id", default=None, help="explicit id: re-sending it is handled once")


def _send(action: str, posting_id: str, workflow: Path | None = None, **fields) -> None:
    from producers.command import build_command, check_stage, send_command
    from wavestream.config import KafkaSettings

    cmd = build_command(action, posting_id, **fields)
    if workflow is not None:
        check_stage(action, cmd["stage"], workflow)
    topic = (click.get_current_context().obj or {}).get("topic")
    send_command(cmd, KafkaSettings.from_env(), topic=topic)
    click.echo(f"sent {action} {cmd['command_id']} for posting {cmd['posting_id']}")


@command.command("rerun")
@click.argument("posting_id")
@click.option("--stage", required=True, help="the stage to run again")
@click.option("--reason", default=None)
@_workflow
@_by
@_id
def rerun(posting_id: str, stage: str, reason: str | None, workflow: Path, issued_by: str | None,
          command_id: str | None) -> None:
    """Run STAGE again for POSTING_ID (STAGE must be a stage of the workflow)."""
    _send("rerun", posting_id, workflow, stage=stage, reason=reason, issued_by=issued_by, command_id=command_id)


@command.command("decide")
@click.argument("posting_id")
@click.argument("decision")
@click.option("--stage", required=True, help="the human stage the posting waits on")
@click.option("--reason", default=None)
@_workflow
@_by
@_id
def decide(posting_id: str, decision: str, stage: str, reason: str | None, workflow: Path, issued_by: str | None,
           command_id: str | None) -> None:
    """Resolve POSTING_ID waiting on a human stage with DECISION."""
    _send("decide", posting_id, workflow, decision=decision, stage=stage, reason=reason, issued_by=issued_by,
          command_id=command_id)


@command.command("cancel")
@click.argument("posting_id")
@click.option("--reason", default=None)
@_by
@_id
def cancel(posting_id: str, reason: str | None, issued_by: str | None, command_id: str | None) -> None:
    """Cancel POSTING_ID: workers skip its pending commands."""
    _send("cancel", posting_id, reason=reason, issued_by=issued_by, command_id=command_id)


COMMANDS = (submit, command)
