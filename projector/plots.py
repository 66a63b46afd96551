"""``wavestream plots``: throughput and latency plots (PNG) rendered from the read models.

- ``throughput.png``: interactions completed and failed per minute, and postings
  finished per minute, over time.
- ``stage_latency.png``: the distribution of actor duration per stage (box plot).
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from wavestream.db import Connection, transaction

log = logging.getLogger(__name__)

_THROUGHPUT = """
SELECT date_trunc('minute', created_at) AS minute,
       count(*) FILTER (WHERE event_type = 'InteractionCompleted') AS completed,
       count(*) FILTER (WHERE event_type = 'InteractionFailed') AS failed,
       count(*) FILTER (WHERE event_type = 'PostingCompleted') AS postings
  FROM execution_events
 GROUP BY 1 ORDER BY 1
"""
_LATENCY = """
SELECT stage, array_agg(duration_ms ORDER BY duration_ms)
  FROM execution_events
 WHERE event_type = 'InteractionCompleted' AND duration_ms IS NOT NULL
 GROUP BY stage ORDER BY min(created_at), stage
"""


def _query(conn: Connection, sql: str) -> list[tuple]:
    with transaction(conn) as tx, tx.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def render_plots(conn: Connection, out_dir: Path) -> list[Path]:
    """Write the PNGs into ``out_dir`` and return their paths (none when no data yet).

    Raises:
        DatabaseError: the read models cannot be queried.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    rows = _query(conn, _THROUGHPUT)
    if rows:
        minutes = [r[0] for r in rows]
        fig, ax = plt.subplots(figsize=(9, 4))
        ax.plot(minutes, [r[1] for r in rows], marker="o", label="interactions completed / min")
        ax.plot(minutes, [r[2] for r in rows], marker="x", label="interactions failed / min")
        ax.plot(minutes, [r[3] for r in rows], marker="s", label="postings finished / min")
        ax.set_title("wavestream throughput")
        ax.set_xlabel("time (UTC)")
        ax.set_ylabel("per minute")
        ax.legend()
        fig.autofmt_xdate()
        written.append(_save(fig, out_dir / "throughput.png", plt))
    rows = _query(conn, _LATENCY)
    if rows:
        fig, ax = plt.subplots(figsize=(9, 4))
        ax.boxplot([[d / 1000 for d in r[1]] for r in rows], showfliers=True)
        ax.set_xticks(range(1, len(rows) + 1), [f"{r[0]}\n(n={len(r[1])})" for r in rows])
        ax.set_title("actor duration per stage")
        ax.set_ylabel("seconds")
        written.append(_save(fig, out_dir / "stage_latency.png", plt))
    return written


def _save(fig, path: Path, plt) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    log.info("wrote %s", path)
    return path


@click.command("plots")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-output"),
              show_default=True, help="directory for the PNG files")
@click.option("--schema", default="wavestream", show_default=True, help="read-model schema")
def plots(out_dir: Path, schema: str) -> None:
    """Render throughput and per-stage latency plots (PNG) from the read models."""
    from projector.pgschema import connect_schema
    from wavestream.config import PostgresSettings

    conn = connect_schema(PostgresSettings.from_env(), schema, application_name="wavestream-plots")
    try:
        paths = render_plots(conn, out_dir)
    finally:
        conn.close()
    for path in paths:
        click.echo(str(path))
    if not paths:
        click.echo("no events projected yet: nothing to plot")
