"""The ``wavestream`` command line: one entry point, one subcommand per task.

User-facing results go to stdout with ``click.echo``; diagnostics go to the log
(stderr). Every :class:`WavestreamError` ends the command with a one-line message and
exit status 1, never a traceback.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from wavestream import PROJECT_ROOT, __version__
from wavestream.config import KafkaSettings, StackSettings
from wavestream.exceptions import WavestreamError
from wavestream.logs import configure_logging

DEFAULT_WORKFLOW = PROJECT_ROOT / "workflows" / "default.yaml"


class _Group(click.Group):
    """Turns our errors into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except WavestreamError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="wavestream")
def main() -> None:
    """Job postings through LLM conversation stages on Apache Kafka."""
    configure_logging()


# --- stack ---------------------------------------------------------------------------


@main.group(cls=_Group)
def stack() -> None:
    """The embedded single-node stack: KRaft Kafka + PostgreSQL on loopback."""


def _stack():
    from wavestream.stack.manager import Stack

    return Stack(StackSettings.from_env())


@stack.command("up")
def stack_up() -> None:
    """Start Kafka and PostgreSQL (a no-op for what already runs)."""
    status = _stack().up()
    for line in status.lines():
        click.echo(line)
    click.echo("point commands at it with: eval \"$(wavestream stack env)\"")


@stack.command("down")
def stack_down() -> None:
    """Stop what `stack up` started."""
    stopped = _stack().down()
    click.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@stack.command("status")
def stack_status() -> None:
    """Print both endpoints and whether each service runs."""
    status = _stack().status()
    for line in status.lines():
        click.echo(line)
    if not (status.kafka_running and status.postgres_running):
        sys.exit(3)


@stack.command("env")
def stack_env() -> None:
    """Print `export` lines that point wavestream commands at the running stack.

    The output contains the database password: eval it, do not paste it in a ticket.
    """
    s = _stack()
    status = s.status()
    if not (status.kafka_running and status.postgres_running):
        raise WavestreamError("the stack is not running (run `wavestream stack up`)")
    for key, value in s.env().items():
        click.echo(f"export {key}={shlex.quote(value)}")


# --- topics --------------------------------------------------------------------------


@main.group(cls=_Group)
def topics() -> None:
    """Create and describe the topics of a workflow."""


_workflow_option = click.option(
    "--workflow", "workflow", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_WORKFLOW,
    show_default=True, help="workflow YAML whose stages get topics",
)


def _topic_specs(workflow: Path):
    from wavestream.topics import topic_specs, workflow_name, workflow_stages

    settings = KafkaSettings.from_env()
    return settings, topic_specs(workflow_stages(workflow), settings, workflow_name(workflow))


@topics.command("create")
@_workflow_option
def topics_create(workflow: Path) -> None:
    """Create every topic (idempotent)."""
    from wavestream.clients import build_admin
    from wavestream.topics import create_topics

    settings, specs = _topic_specs(workflow)
    for name, outcome in create_topics(build_admin(settings), specs).items():
        click.echo(f"{outcome:8} {name}")


@topics.command("describe")
@_workflow_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def topics_describe(workflow: Path, as_json: bool) -> None:
    """Print partitions, replication, retention and cleanup policy of every topic."""
    from wavestream.clients import build_admin
    from wavestream.topics import describe_topics

    settings, specs = _topic_specs(workflow)
    rows = describe_topics(build_admin(settings), [s.name for s in specs])
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'topic':32} {'parts':>5} {'rf':>3} {'min.isr':>7} {'retention.ms':>14} cleanup")
    for r in rows:
        click.echo(
            f"{r['topic']:32} {r['partitions']:>5} {r['replication_factor']:>3} "
            f"{r.get('min.insync.replicas', '?'):>7} {r.get('retention.ms', '?'):>14} {r.get('cleanup.policy', '?')}"
        )


# --- commands of the pipeline packages -------------------------------------------------
# Each package defines its click commands in its own cli module (heavy imports such as
# llama_cpp stay inside the command functions); they are registered here, one line each.
from consumers.cli import COMMANDS as _CONSUMER_COMMANDS  # noqa: E402 - validate, worker, router, command-processor
for _command in _CONSUMER_COMMANDS:
    main.add_command(_command)
from projector.cli import COMMANDS as _PROJECTOR_COMMANDS  # noqa: E402 - projector, replay, status
for _command in _PROJECTOR_COMMANDS:
    main.add_command(_command)
from projector.plots import plots as _plots  # noqa: E402 - plots
main.add_command(_plots)
from producers.cli import COMMANDS as _PRODUCER_COMMANDS  # noqa: E402 - submit, command
for _command in _PRODUCER_COMMANDS:
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
