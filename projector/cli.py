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
@click.option("--until-caught-up", is_flag=True,
              help="exit once the topic is applied up to its end at start (drains; for jobs and tests)")
def projector_cmd(schema: str, topic: str, group_id: str, instance_id: str | None, batch_size: int, batch_timeout_s: float,
                  bulk_threshold: int, migrate: bool, until_caught_up: bool) -> None:
    """Project the `events` topic into the PostgreSQL read models (exactly once).

    Stops cleanly on SIGTERM/SIGINT after the batch in flight.
    """
    from projector.loop import Projector, ProjectorOptions
    from projector.pgschema import migrate_schema
    from wavestream.config import KafkaSettings, PostgresSettings
    from wavestream.db import connect

    kafka, postgres = KafkaSettings.from_env(), PostgresSettings.from_env()
    if migrate:
        conn = connect(postgres, application_name="wavestream-migrate")
        try:
            migrate_schema(conn, schema)
        finally:
            conn.close()
    options = ProjectorOptions(schema=schema, topic=topic, group_id=group_id, instance_id=instance_id, batch_size=batch_size,
                               batch_timeout_s=batch_timeout_s, bulk_threshold=bulk_threshold,
                               until_caught_up=until_caught_up)
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
def replay_cmd(schema: str, topic: str, rollback: bool, force: bool, wait_live_s: float, batch_size: int,
               progress: bool) -> None:
    """Rebuild the read models into a fresh schema from offset 0, verify row counts and
    checksums against live, and swap schemas atomically (the old one is kept as
    <schema>_previous for --rollback)."""
    from projector.replay import Replay
    from wavestream.config import KafkaSettings, PostgresSettings

    replay = Replay(KafkaSettings.from_env(), PostgresSettings.from_env(), schema=schema, topic=topic,
                    batch_size=batch_size, progress=progress, force=force, wait_live_s=wait_live_s)
    if rollback:
        replay.rollback()
        click.echo(f"rolled back: {schema} is the previous build again; the replaced one is {schema}_previous")
        return
    result = replay.run()
    click.echo(json.dumps({"schema": result.schema, "previous": result.previous, "events": result.events,
                           "seconds": round(result.seconds, 3), "events_per_s": round(result.events_per_s, 1),
                           "counts": result.counts, "differences": sorted(result.differences)}))


COMMANDS = [projector_cmd, replay_cmd]
