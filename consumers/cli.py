"""Click commands of the consumers package: ``validate``, ``worker``, ``router``,
``command-processor``. Registered in :mod:`wavestream.cli`; heavy imports stay inside
the command functions."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from wavestream.resources import default_workflow

DEFAULT_WORKFLOW = default_workflow()

_workflow_option = click.option(
    "--workflow", "workflow", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_WORKFLOW,
    show_default=True, help="workflow YAML",
)


@click.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True, help="treat warnings as errors")
def validate(file: Path, strict: bool) -> None:
    """Check a workflow file: exit 0 when valid, 1 with one line per problem."""
    from consumers.validate import validate_file

    report = validate_file(file)
    for problem in report.problems:
        click.echo(problem.line())
    if report.errors or (strict and report.warnings):
        sys.exit(1)
    if report.workflow is not None:
        click.echo(f"ok: workflow {report.workflow.name} sha256={report.workflow.sha256}")
        for name, digest in report.model_sha256.items():
            click.echo(f"model {name} sha256={digest}")


def _run_loop(loop) -> None:
    from consumers.worker import install_stop_signals

    from wavestream import metrics

    install_stop_signals(loop)
    metrics.serve()
    loop.run()


@click.command("worker")
@click.option("--stage", "stages", multiple=True, help="a stage this worker serves (repeat for several: one "
              "process, one loop per stage, one model engine shared by its llm stages)")
@click.option("--model", "models", multiple=True, help="serve every llm stage of this model (repeatable)")
@_workflow_option
@click.option("--instance-id", default=None, help="stable id of this instance (default: host name); "
              "transactional.id is wavestream-<stage>-<instance>")
@click.option("--batch", "batch_size", default=50, show_default=True, type=click.IntRange(1, 10_000),
              help="records per transaction at most (llm stages: fewer when timeout_s requires)")
@click.option("--batch-ms", default=20_000, show_default=True, type=click.IntRange(1),
              help="stop taking records into a transaction after this long")
@click.option("--static", "static_membership", is_flag=True,
              help="static group membership (group.instance.id = transactional.id)")
def worker(stages: tuple[str, ...], models: tuple[str, ...], workflow: Path, instance_id: str | None,
           batch_size: int, batch_ms: int, static_membership: bool) -> None:
    """Serve stages: consume their commands, run their actors, route, exactly once."""
    from consumers.process import LoopGroup, build_workers
    from consumers.worker import WorkerOptions
    from wavestream.config import KafkaSettings

    if not stages and not models:
        raise click.UsageError("name at least one --stage or --model")
    options = WorkerOptions(stage="", instance_id=instance_id, batch_size=batch_size,
                            batch_max_s=batch_ms / 1000, static_membership=static_membership)
    loops = build_workers(KafkaSettings.from_env(), workflow, stages, models, options)
    _run_loop(loops[0] if len(loops) == 1 else LoopGroup(loops))


@click.command("router")
@_workflow_option
@click.option("--instance-id", default=None, help="stable id of this instance (default: host name)")
@click.option("--batch", "batch_size", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--from", "start", type=click.Choice(["earliest", "latest"]), default=None,
              help="where a router group without committed offsets (a new workflow, or expired offsets) starts "
                   "on `postings`: earliest routes every posting ever submitted, latest only new ones. Without "
                   "it such a group refuses to start while `postings` holds records; a group with offsets "
                   "always resumes from them")
def router(workflow: Path, instance_id: str | None, batch_size: int, start: str | None) -> None:
    """Route `postings` into the workflow's entry stages (emits PostingReceived)."""
    import socket

    from consumers.router import build_router
    from consumers.worker import load_valid_workflow
    from wavestream.config import KafkaSettings

    loop = build_router(KafkaSettings.from_env(), load_valid_workflow(workflow),
                        instance=instance_id or socket.gethostname(), batch_size=batch_size, start=start)
    _run_loop(loop)


@click.command("command-processor")
@_workflow_option
@click.option("--instance-id", default=None, help="stable id of this instance (default: host name)")
@click.option("--from", "start", type=click.Choice(["earliest", "latest"]), default=None,
              help="where a command-processor group without committed offsets (a new workflow, or expired "
                   "offsets) starts on `commands`: earliest applies every command ever sent, latest only new "
                   "ones. Without it such a group refuses to start while `commands` holds records; a group "
                   "with offsets always resumes from them")
def command_processor(workflow: Path, instance_id: str | None, start: str | None) -> None:
    """Apply interaction commands (rerun, decide, cancel) from the `commands` topic."""
    import socket

    from consumers.commands import build_command_processor
    from consumers.worker import load_valid_workflow
    from wavestream.config import KafkaSettings

    loop = build_command_processor(KafkaSettings.from_env(), load_valid_workflow(workflow),
                                   instance=instance_id or socket.gethostname(), start=start)
    _run_loop(loop)


from consumers.models_cli import models  # noqa: E402

COMMANDS = [validate, worker, router, command_processor, models]
