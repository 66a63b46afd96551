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


COMMANDS = [projector_cmd]
