"""The projector's commands: ``wavestream projector``, ``migrate``, ``replay`` and ``status``.

Registered in :mod:`wavestream.cli`. Heavy imports stay inside the command functions.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from consumers.cli import DEFAULT_WORKFLOW
from projector.pgschema import DEFAULT_SCHEMA

_schema_option = click.option(
    "--schema", default=DEFAULT_SCHEMA, show_default=True,
    help="PostgreSQL schema holding the read models (chosen through search_path)",
)


@click.command("projector")
@_schema_option
@click.option("--topic", default="events", show_default=True, help="the topic to project")
@click.option("--group", "group_id", default="wavestream-projector", show_default=True, help="consumer group")
@click.option("--instance-id", default=None, help="group.instance.id (static membership: a restart keeps "
              "its partitions without a rebalance)")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--batch-timeout", "batch_timeout_s", default=1.0, show_default=True, type=float,
              help="seconds to wait for a full batch")
@click.option("--bulk-threshold", default=1000, show_default=True, type=click.IntRange(1),
              help="batches with this many events are inserted with COPY")
@click.option("--migrate/--no-migrate", default=True, show_default=True,
              help="apply pending migrations to the schema first (needs the schema owner's rights)")
@click.option("--metrics-port", default=None, type=click.IntRange(0, 65535),
              help="serve Prometheus metrics on this port (/metrics); default: WAVESTREAM_METRICS_PORT")
@click.option("--until-caught-up", is_flag=True,
              help="exit once the topic is applied up to its end at start (drains; for jobs and tests)")
def projector_cmd(schema: str, topic: str, group_id: str, instance_id: str | None, batch_size: int, batch_timeout_s: float,
                  bulk_threshold: int, migrate: bool, metrics_port: int | None, until_caught_up: bool) -> None:
    """Project the `events` topic into the PostgreSQL read models (exactly once).

    Stops cleanly on SIGTERM/SIGINT after the batch in flight.
    """
    from projector.loop import Projector, ProjectorOptions
    from projector.pgschema import migrate_schema
    from wavestream.config import KafkaSettings, PostgresSettings
    from wavestream.db import connect
    from wavestream.metrics import metrics_port as configured_metrics_port

    kafka, postgres = KafkaSettings.from_env(), PostgresSettings.from_env()
    if metrics_port is None:
        metrics_port = configured_metrics_port()
    if migrate:
        conn = connect(postgres, application_name="wavestream-migrate")
        try:
            migrate_schema(conn, schema)
        finally:
            conn.close()
    options = ProjectorOptions(schema=schema, topic=topic, group_id=group_id, instance_id=instance_id, batch_size=batch_size,
                               batch_timeout_s=batch_timeout_s, bulk_threshold=bulk_threshold,
                               until_caught_up=until_caught_up, metrics_port=metrics_port)
    projector = Projector(kafka, postgres, options)
    projector.install_signal_handlers()
    stats = projector.run()
    click.echo(json.dumps({"applied": stats.applied, "duplicates": stats.duplicates, "errors": stats.errors,
                           "batches": stats.batches, "positions": stats.positions}))


@click.command("replay")
@_schema_option
@click.option("--topic", default="events", show_default=True, help="the topic to replay")
@click.option("--rollback", is_flag=True, help="swap the previous schema back in instead of replaying")
@click.option("--force", is_flag=True, help="swap even when the rebuilt tables differ from live "
              "(after a change of the projection logic)")
@click.option("--wait-live", "wait_live_s", default=60.0, show_default=True, type=float,
              help="seconds to wait for a lagging live projection before comparing")
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--progress/--no-progress", default=True, show_default=True, help="progress bar on stderr")
@click.option("--incremental", is_flag=True, help="build with the live projector's per-batch path instead of "
              "the bulk load (slower; what the bulk load falls back to by itself when it must)")
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="bulk-load processes (partition groups); default: the CPU count")
def replay_cmd(schema: str, topic: str, rollback: bool, force: bool, wait_live_s: float, batch_size: int,
               progress: bool, incremental: bool, workers: int | None) -> None:
    """Rebuild the read models into a fresh schema from offset 0 (a bulk load), verify
    row counts and checksums against live, and swap schemas atomically (the old one is
    kept as <schema>_previous for --rollback)."""
    from projector.replay import Replay
    from wavestream.config import KafkaSettings, PostgresSettings

    replay = Replay(KafkaSettings.from_env(), PostgresSettings.from_env(), schema=schema, topic=topic,
                    batch_size=batch_size, progress=progress, force=force, wait_live_s=wait_live_s,
                    bulk=not incremental, workers=workers)
    if rollback:
        replay.rollback()
        click.echo(f"rolled back: {schema} is the previous build again; the replaced one is {schema}_previous")
        return
    result = replay.run()
    click.echo(json.dumps({"schema": result.schema, "previous": result.previous, "events": result.events,
                           "seconds": round(result.seconds, 3), "events_per_s": round(result.events_per_s, 1),
                           "counts": result.counts, "differences": sorted(result.differences)}))


@click.command("status")
@_schema_option
@click.option("--workflow", "workflow", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_WORKFLOW,
              show_default=True, help="workflow YAML: what --check expects of a completed posting, and the stage "
              "groups whose lag counts even before they commit")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--posting", "posting_id", default=None, help="one posting's timeline instead of the dashboard")
@click.option("--check", is_flag=True, help="run the data-quality checks the workflow implies; exit 2 on a violation")
@click.option("--stale-after", "stale_after", default=None, type=click.IntRange(1), metavar="MINUTES",
              help="an in-flight posting with no event for this long is stale  [default: "
              "WAVESTREAM_STALE_AFTER_MINUTES, else 30]")
@click.option("--error-hours", default=24, show_default=True, type=click.IntRange(1),
              help="window of the recent-errors view")
@click.option("--no-kafka", is_flag=True, help="skip consumer lag (no Kafka connection)")
def status_cmd(schema: str, workflow: Path, as_json: bool, posting_id: str | None, check: bool,
               stale_after: int | None, error_hours: int, no_kafka: bool) -> None:
    """Dashboard of the read models: workflow summary, stage completion, actor
    performance, error patterns, stale interactions, throughput per hour, consumer lag
    (records behind, per group and topic; uncommitted partitions count)."""
    from projector import dashboard, status
    from projector.pgschema import connect_schema
    from wavestream.config import DashboardSettings, KafkaSettings, PostgresSettings

    if stale_after is None:
        stale_after = DashboardSettings.from_env().stale_after_minutes
    flow = _load_workflow(workflow, required=check)
    conn = connect_schema(PostgresSettings.from_env(), schema, application_name="wavestream-status")
    try:
        if check:
            from projector.checks import workflow_checks

            results = status.run_checks(conn, workflow_checks(flow))
            click.echo(json.dumps(results, indent=2) if as_json else dashboard.render_checks(results))
            if not all(r["ok"] for r in results):
                sys.exit(2)
            return
        if posting_id is not None:
            data = status.timeline(conn, posting_id)
            click.echo(json.dumps(data, indent=2) if as_json else dashboard.render_timeline(data, posting_id))
            if data["posting"] is None and not data["events"]:
                sys.exit(3)
            return
        report = status.collect(conn, error_hours=error_hours, stale_minutes=stale_after)
    finally:
        conn.close()
    report["schema"] = schema
    report["workflow"] = flow.name if flow is not None else None
    if no_kafka:
        report["consumer_lag"] = {"groups": [], "projector": [], "error": "skipped (--no-kafka)"}
    else:
        from projector.lag import kafka_lag

        report["consumer_lag"] = kafka_lag(KafkaSettings.from_env(), report["projector_offsets"],
                                           expected=_stage_groups(flow))
    click.echo(json.dumps(report, indent=2) if as_json else dashboard.render(report))


def _load_workflow(path: Path, *, required: bool):
    """The workflow at ``path``; None when it cannot be read and is not ``required``
    (the dashboard then shows the groups Kafka knows only).

    Raises:
        click.UsageError: ``required`` and the workflow cannot be read.
    """
    import logging

    from consumers.exceptions import WorkflowError
    from consumers.workflow import load_workflow

    try:
        return load_workflow(path)
    except WorkflowError as exc:
        if required:
            raise click.UsageError(f"--check needs the workflow: {exc}") from exc
        logging.getLogger(__name__).warning("workflow not read; stage groups without commits are not shown",
                                            extra={"workflow": str(path), "error": str(exc)})
        return None


def _stage_groups(flow) -> dict[str, list[str]]:
    """group -> topics of every stage of ``flow`` (none without a workflow)."""
    from wavestream.topics import retry_topic, stage_group, stage_topic

    if flow is None:
        return {}
    return {stage_group(name): [stage_topic(name), retry_topic(name)] for name in flow.stages}


@click.command("migrate")
@_schema_option
def migrate_cmd(schema: str) -> None:
    """Apply the pending read-model migrations to SCHEMA and exit.

    Run it as the schema owner (a one-shot job before `projector --no-migrate`, which then
    needs only the wavestream_projector role). Prints the migrations applied.
    """
    from projector.pgschema import migrate_schema
    from wavestream.config import PostgresSettings
    from wavestream.db import connect

    conn = connect(PostgresSettings.from_env(), application_name="wavestream-migrate")
    try:
        applied = migrate_schema(conn, schema)
    finally:
        conn.close()
    click.echo(f"schema {schema}: " + (f"applied {', '.join(applied)}" if applied else "up to date"))


COMMANDS = [projector_cmd, migrate_cmd, replay_cmd, status_cmd]
