"""The ``wavestream`` command line: one entry point, one subcommand per task.

User-facing results go to stdout with ``click.echo``; diagnostics go to the log
(stderr). Every :class:`WavestreamError` ends the command with a one-line message and
exit status 1, never a traceback.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import click

from wavestream import __version__
from wavestream.config import KafkaSettings, StackSettings
from wavestream.exceptions import WavestreamError
from wavestream.logs import configure_logging
from wavestream.resources import default_workflow

DEFAULT_WORKFLOW = default_workflow()


class _Group(click.Group):
    """Turns our errors into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except WavestreamError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


# Commands that need no Kafka or PostgreSQL endpoint (`stack` manages the stack itself).
_NO_ENDPOINTS = frozenset({"stack", "validate", "schemas"})


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="wavestream")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Job postings through LLM conversation stages on Apache Kafka.

    Without WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS / WAVESTREAM_PG_DSN, commands use the
    running embedded stack of this directory (or WAVESTREAM_STACK_DIR).
    """
    configure_logging()
    if ctx.invoked_subcommand not in _NO_ENDPOINTS and not ctx.resilient_parsing:
        from wavestream.stack.locate import fill_from_running_stack

        # Into the process environment: every *Settings.from_env() and every child
        # process of the command then sees the same endpoints.
        fill_from_running_stack(os.environ)


# --- stack ---------------------------------------------------------------------------


@main.group(cls=_Group)
def stack() -> None:
    """The embedded stack: KRaft Kafka (one node, or --brokers N) + PostgreSQL on loopback."""


def _stack(brokers: int | None = None):
    from dataclasses import replace

    from wavestream.stack.manager import Stack

    return Stack(replace(StackSettings.from_env(), brokers=brokers))


@stack.command("up")
@click.option("--brokers", type=click.IntRange(1, 9), default=None,
              help="Kafka nodes in the cluster (each broker + controller); default: what the stack "
                   "directory holds, else 1. Three give replication factor 3 and min.insync.replicas 2.")
def stack_up(brokers: int | None) -> None:
    """Start Kafka and PostgreSQL (a no-op for what already runs)."""
    status = _stack(brokers).up()
    for line in status.lines():
        click.echo(line)
    click.echo("wavestream commands run here use it; to point other tools at it: eval \"$(wavestream stack env)\"")


@stack.command("down")
def stack_down() -> None:
    """Stop what `stack up` started."""
    stopped = _stack().down()
    click.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@stack.command("status")
def stack_status() -> None:
    """Print every endpoint (each Kafka node) and whether each service runs."""
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


# --- Kafka's own tools ---------------------------------------------------------------


@main.command("kafka", context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("tool")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def kafka_tool(tool: str, args: tuple[str, ...]) -> None:
    """Run Kafka's own TOOL (consumer-groups, topics, transactions, ...) pointed at the
    cluster: `wavestream kafka consumer-groups --describe --all-groups`.

    `wavestream kafka help` lists the tools; `wavestream kafka TOOL --help` is the tool's.
    """
    from wavestream.stack.tools import TOOLS, run_tool

    if tool in ("help", "--help", "-h"):
        click.echo("usage: wavestream kafka TOOL [ARGS]...  (ARGS as for Kafka's bin/kafka-TOOL.sh)")
        click.echo("tools: " + ", ".join(sorted(TOOLS)))
        return
    sys.exit(run_tool(tool, args, settings=StackSettings.from_env(), env=os.environ))


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


# --- schemas -------------------------------------------------------------------------


@main.group(cls=_Group)
def schemas() -> None:
    """The Avro schemas as other readers need them."""


@schemas.command("canonical")
@click.option("--check", is_flag=True, help="only report stale files; exit 1 if any")
def schemas_canonical(check: bool) -> None:
    """Write schemas/canonical/: each record's standalone Parsing Canonical Form and
    the CRC-64-AVRO fingerprints that single-object encoded records carry."""
    from wavestream.canonical import CANONICAL_DIR, stale_files, write_canonical
    from wavestream.schemas import load_schemas

    loaded = load_schemas()
    if check:
        stale = stale_files(loaded)
        for name in stale:
            click.echo(f"stale    {CANONICAL_DIR / name}")
        if stale:
            sys.exit(1)
        click.echo(f"up to date: {CANONICAL_DIR}")
        return
    changed = write_canonical(loaded)
    for name in changed:
        click.echo(f"wrote    {CANONICAL_DIR / name}")
    click.echo(f"{len(changed)} file(s) changed in {CANONICAL_DIR}")


# --- backup and restore (DESIGN §10) --------------------------------------------------


@main.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--topic", "topics", multiple=True, help="export only this topic (repeatable); default: every topic")
@click.option("--pg-dump/--no-pg-dump", "pg_dump", default=True, show_default=True,
              help="dump the read-model schema too (when WAVESTREAM_PG_DSN is set and pg_dump is on the PATH)")
@click.option("--schema", "pg_schema", default="wavestream", show_default=True, help="read-model schema to dump")
@click.option("--progress/--no-progress", default=True, show_default=True, help="progress bar on stderr")
def export_cmd(directory: Path, topics: tuple[str, ...], pg_dump: bool, pg_schema: str, progress: bool) -> None:
    """Write every topic's records (read_committed), the consumer groups' offsets and the
    read-model dump into DIRECTORY, with a manifest of counts and sha256 sums."""
    import os

    from wavestream.backup import Exporter
    from wavestream.config import PostgresSettings

    postgres = PostgresSettings.from_env() if pg_dump and os.environ.get("WAVESTREAM_PG_DSN") else None
    manifest = Exporter(KafkaSettings.from_env(), directory, topics=list(topics) or None, postgres=postgres,
                        pg_schema=pg_schema, progress=progress).run()
    click.echo(json.dumps({"directory": str(directory), "topics": len(manifest["topics"]),
                           "records": sum(f["records"] for t in manifest["topics"] for f in t["files"]),
                           "groups": len(manifest["groups"]), "read_models": bool(manifest["read_models"]),
                           "seconds": manifest["seconds"]}))


@main.command("import")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--force", is_flag=True, help="import although the target cluster has topics (records are appended)")
@click.option("--replication-factor", default=None, type=click.IntRange(1),
              help="replication factor of the created topics (default: as exported)")
@click.option("--progress/--no-progress", default=True, show_default=True, help="progress bar on stderr")
def import_cmd(directory: Path, force: bool, replication_factor: int | None, progress: bool) -> None:
    """Verify the export in DIRECTORY and restore it into an empty cluster: topics, records
    (same partitions, same order), consumer-group offsets (translated). Then run
    `wavestream replay` to rebuild the read models."""
    from wavestream.restore import Importer

    report = Importer(KafkaSettings.from_env(), directory, force=force, replication_factor=replication_factor,
                      progress=progress).run()
    click.echo(json.dumps({"directory": str(directory), "topics": report.topics, "records": report.records,
                           "groups": report.groups, "seconds": round(report.seconds, 3)}))


# --- commands of the pipeline packages -------------------------------------------------
# Each package defines its click commands in its own cli module (heavy imports such as
# llama_cpp stay inside the command functions); they are registered here, one line each.
from consumers.cli import COMMANDS as _CONSUMER_COMMANDS  # noqa: E402 - validate, worker, router, command-processor
for _command in _CONSUMER_COMMANDS:
    main.add_command(_command)
from projector.cli import COMMANDS as _PROJECTOR_COMMANDS  # noqa: E402 - projector, migrate, replay, status
for _command in _PROJECTOR_COMMANDS:
    main.add_command(_command)
from projector.plots import plots as _plots  # noqa: E402 - plots
main.add_command(_plots)
from producers.cli import COMMANDS as _PRODUCER_COMMANDS  # noqa: E402 - submit, command
for _command in _PRODUCER_COMMANDS:
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
