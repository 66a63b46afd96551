"""The projector's commands: ``wavestream projector``, ``replay`` and ``status``.

Registered in :mod:`wavestream.cli`. Heavy imports stay inside the command functions.
"""

from __future__ import annotations

import json
import sys

import click

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
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--posting", "posting_id", default=None, help="one posting's timeline instead of the dashboard")
@click.option("--check", is_flag=True, help="run the data-quality checks; exit 2 on a violation")
@click.option("--stale-minutes", default=30, show_default=True, type=click.IntRange(1),
              help="an in-flight posting with no event for this long is stale")
@click.option("--error-hours", default=24, show_default=True, type=click.IntRange(1),
              help="window of the recent-errors view")
@click.option("--no-kafka", is_flag=True, help="skip consumer lag (no Kafka connection)")
def status_cmd(schema: str, as_json: bool, posting_id: str | None, check: bool, stale_minutes: int,
               error_hours: int, no_kafka: bool) -> None:
    """Dashboard of the read models: workflow summary, stage completion, actor
    performance, error patterns, stale interactions, throughput per hour, consumer lag."""
    from projector import dashboard, status
    from projector.pgschema import connect_schema
    from wavestream.config import KafkaSettings, PostgresSettings

    conn = connect_schema(PostgresSettings.from_env(), schema, application_name="wavestream-status")
    try:
        if check:
            results = status.run_checks(conn)
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
        report = status.collect(conn, error_hours=error_hours, stale_minutes=stale_minutes)
    finally:
        conn.close()
    report["schema"] = schema
    if no_kafka:
        report["consumer_lag"] = {"groups": [], "projector": [], "error": "skipped (--no-kafka)"}
    else:
        report["consumer_lag"] = status.kafka_lag(KafkaSettings.from_env(), report["projector_offsets"])
    click.echo(json.dumps(report, indent=2) if as_json else dashboard.render(report))


COMMANDS = [projector_cmd, replay_cmd, status_cmd]
