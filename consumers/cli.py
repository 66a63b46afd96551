"""Click commands of the consumers package: ``validate``, ``worker``, ``router``,
``command-processor``. Registered in :mod:`wavestream.cli`; heavy imports stay inside
the command functions."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from wavestream import PROJECT_ROOT

DEFAULT_WORKFLOW = PROJECT_ROOT / "workflows" / "default.yaml"

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


COMMANDS = [validate]
