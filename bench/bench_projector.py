"""Projector rebuild rate vs a raw COPY of the same rows into the same tables.

For each size N: produce N synthetic events to a fresh topic, rebuild the read models
from it with the replay's build step (:func:`projector.bulk.bulk_build`: Kafka consume
-> batch decode -> in-memory fold -> binary COPY into unindexed tables, a process per
partition group, then keys and indexes built), then load the rows that rebuild produced
into an empty copy of the same tables (same indexes, present while loading) with plain
text COPY. Prints events/s of the rebuild, rows/s of the COPY, and the ratio of the
two wall times, all measured in this one run; the last line is one JSON object with
``rebuild_vs_copy`` (COPY time / rebuild time) and ``events_per_s`` for the largest
size. No assertions.

    .venv/bin/python bench/bench_projector.py --events 100000 --events 1000000

Uses WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS and WAVESTREAM_PG_DSN when set; otherwise
starts the embedded stack in a temp dir and stops it at the end.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from psycopg2 import sql  # noqa: E402

from projector.pgschema import TABLES, migrate_schema  # noqa: E402
from projector.bulk import bulk_build  # noqa: E402
from projector.synthetic import iter_encoded, iter_synthetic_events, produce  # noqa: E402
from wavestream.clients import build_admin, build_consumer, high_watermarks  # noqa: E402
from wavestream.codec import AvroCodec  # noqa: E402
from wavestream.config import KafkaSettings, PostgresSettings, StackSettings  # noqa: E402
from wavestream.db import connect  # noqa: E402
from wavestream.topics import TopicSpec, create_topics  # noqa: E402


def _drop(conn, *schemas: str) -> None:
    conn.rollback()
    with conn.cursor() as cur:
        for schema in schemas:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    conn.commit()


def bench(kafka: KafkaSettings, postgres: PostgresSettings, events: int, partitions: int,
          workers: int | None) -> dict:
    tag = uuid.uuid4().hex[:8]
    topic, built, raw = f"bench-events-{tag}", f"bench_built_{tag}", f"bench_copy_{tag}"
    create_topics(build_admin(kafka), [TopicSpec(topic, partitions, 1)])
    t0 = time.monotonic()
    produce(kafka, topic, iter_encoded(AvroCodec(), iter_synthetic_events(events, seed=1)))
    produced_s = time.monotonic() - t0

    conn = connect(postgres, application_name="wavestream-bench")
    try:
        migrate_schema(conn, built)
        migrate_schema(conn, raw)
        consumer = build_consumer(kafka, "wavestream-bench")
        targets = high_watermarks(consumer, topic)
        consumer.close()
        t0 = time.monotonic()
        applied = bulk_build(kafka, postgres, built, topic, targets, workers=workers,
                             progress=sys.stderr.isatty()).applied
        rebuild_s = time.monotonic() - t0

        dumps: dict[str, tuple[str, bytes]] = {}
        with conn.cursor() as cur:
            for table in TABLES:  # generated columns cannot be loaded: leave them out
                cur.execute("SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)"
                            " FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                            " AND is_generated = 'NEVER'", (built, table))
                columns = cur.fetchone()[0]
                buf = io.BytesIO()
                cur.copy_expert(f"COPY {built}.{table} ({columns}) TO STDOUT", buf)
                dumps[table] = (columns, buf.getvalue())
        conn.commit()
        rows = sum(data.count(b"\n") for _, data in dumps.values())
        t0 = time.monotonic()
        with conn.cursor() as cur:
            for table, (columns, data) in dumps.items():
                cur.copy_expert(f"COPY {raw}.{table} ({columns}) FROM STDIN", io.BytesIO(data))
        conn.commit()
        copy_s = time.monotonic() - t0
    finally:
        _drop(conn, built, raw)
        conn.close()
    return {"events": events, "applied": applied, "produce_s": produced_s, "rebuild_s": rebuild_s,
            "copy_s": copy_s, "rows": rows}


def _stack(tmp: Path):
    from wavestream.stack.kafka import EmbeddedKafka
    from wavestream.stack.postgres import EmbeddedPostgres
    from wavestream.stack.process import free_port

    settings = replace(StackSettings.from_env({}), data_dir=tmp, kafka_port=free_port(),
                       controller_port=free_port(), pg_port=free_port())
    return EmbeddedKafka(settings), EmbeddedPostgres(settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, action="append", help="sizes to run (default 100000)")
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--workers", type=int, default=None, help="rebuild processes (default: CPU count)")
    args = parser.parse_args()
    sizes = args.events or [100_000]
    started = []
    tmp = None
    try:
        if os.environ.get("WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("WAVESTREAM_PG_DSN"):
            kafka, postgres = KafkaSettings.from_env(), PostgresSettings.from_env()
        else:
            tmp = Path(tempfile.mkdtemp(prefix="wavestream-bench-", dir="/tmp"))
            os.chmod(tmp, 0o711)
            k, pg = _stack(tmp)
            started = [k, pg]
            k.start()
            kafka = KafkaSettings(client={"bootstrap.servers": k.bootstrap_servers})
            postgres = PostgresSettings(pg.start())
        print(f"{'events':>10} {'rebuild s':>10} {'events/s':>10} {'copy s':>8} {'rows':>10} {'rows/s':>10}"
              f" {'ratio':>7}")
        r = {}
        for n in sizes:
            r = bench(kafka, postgres, n, args.partitions, args.workers)
            print(f"{r['events']:>10,} {r['rebuild_s']:>10.1f} {r['applied'] / r['rebuild_s']:>10,.0f}"
                  f" {r['copy_s']:>8.1f} {r['rows']:>10,} {r['rows'] / r['copy_s']:>10,.0f}"
                  f" {r['rebuild_s'] / r['copy_s']:>6.1f}x", flush=True)
        print("ratio = projector rebuild wall time / raw COPY wall time of the rows it produced "
              "(same tables, same indexes)")
        print(json.dumps({"events": r["events"], "events_per_s": round(r["applied"] / r["rebuild_s"], 1),
                          "rebuild_s": round(r["rebuild_s"], 2), "copy_s": round(r["copy_s"], 2),
                          "rebuild_vs_copy": round(r["copy_s"] / r["rebuild_s"], 3),
                          "workers": args.workers or os.cpu_count(), "cpus": os.cpu_count()}))
    finally:
        for service in reversed(started):
            service.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
