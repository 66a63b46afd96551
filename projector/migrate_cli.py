"""``wavestream migrate``: apply the pending SQL migrations to the read-model schema and
exit (the migrations Job of a deployment; the projector then runs with --no-migrate
under a role that cannot change the schema). Registered in :mod:`wavestream.cli`."""

from __future__ import annotations

import click

from projector.pgschema import DEFAULT_SCHEMA


@click.command("migrate")
@click.option("--schema", default=DEFAULT_SCHEMA, show_default=True,
              help="PostgreSQL schema holding the read models")
def migrate_cmd(schema: str) -> None:
    """Apply pending migrations to the read-model schema (needs the schema owner's rights)."""
    from projector.pgschema import migrate_schema
    from wavestream.config import PostgresSettings
    from wavestream.db import connect

    conn = connect(PostgresSettings.from_env(), application_name="wavestream-migrate")
    try:
        applied = migrate_schema(conn, schema)
    finally:
        conn.close()
    click.echo(f"applied {len(applied)} migration(s) to schema {schema}" + (": " + ", ".join(applied) if applied else ""))
