"""Exactly-once under SIGKILL: a projector killed at random points and restarted builds
the same tables as an uninterrupted run (per-table md5 checksums of ordered rows)."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import threading

import pytest

from projector.loop import Projector, ProjectorOptions
from projector.pgschema import connect_schema, migrate_schema, table_checksums
from projector.synthetic import encode_events, produce, synthetic_events
from wavestream import PROJECT_ROOT
from wavestream.clients import build_admin
from wavestream.codec import AvroCodec
from wavestream.config import PostgresSettings
from wavestream.db import connect
from wavestream.topics import TopicSpec, create_topics

pytestmark = pytest.mark.integration

log = logging.getLogger("wavestream.tests.projector")

EVENTS = 10_000
KILLS = 6


def _count(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM execution_events")
        count = cur.fetchone()[0]
    conn.rollback()
    return count


def test_sigkill_at_random_points_neither_loses_nor_doubles(kafka_settings, fresh_db, unique):
    seed = int(os.environ.get("WAVESTREAM_TEST_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    log.info("random seed %s (set WAVESTREAM_TEST_SEED to repeat)", seed)
    topic = f"events-{unique}"
    create_topics(build_admin(kafka_settings), [TopicSpec(topic, 3, 1)])
    pairs = encode_events(AvroCodec(), synthetic_events(EVENTS, seed=seed % 1000))
    for i in range(0, EVENTS, 2500):  # several transactions: commit markers inside partitions
        produce(kafka_settings, topic, pairs[i:i + 2500], transactional_id=f"tx-{unique}")

    postgres = PostgresSettings(fresh_db)
    setup = connect(postgres)
    try:
        migrate_schema(setup, "reference")
        migrate_schema(setup, "wavestream")
    finally:
        setup.close()
    Projector(kafka_settings, postgres, ProjectorOptions(
        schema="reference", topic=topic, group_id=f"ref-{unique}", until_caught_up=True,
        batch_size=500, batch_timeout_s=0.2)).run()

    env = {**os.environ, "WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
           "WAVESTREAM_PG_DSN": fresh_db, "WAVESTREAM_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "wavestream.cli", "projector", "--topic", topic, "--group", f"g-{unique}",
               "--instance-id", "projector-0", "--batch-size", str(rng.choice((50, 100, 200))),
               "--batch-timeout", "0.2", "--no-migrate"]
    thresholds = sorted(rng.sample(range(300, int(EVENTS * 0.85)), KILLS))
    watcher = connect_schema(postgres, "wavestream")
    killed_at = []
    try:
        for threshold in thresholds:
            # Each incarnation applies something before it dies.
            threshold = max(threshold, _count(watcher) + rng.randint(50, 600))
            proc = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
            try:
                while proc.poll() is None and _count(watcher) < threshold:
                    threading.Event().wait(0.02)
                assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
                threading.Event().wait(rng.uniform(0, 0.15))  # land anywhere inside a batch
                proc.send_signal(signal.SIGKILL)
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
                proc.stderr.close()
            killed_at.append(_count(watcher))
        final = subprocess.run([*command, "--until-caught-up"], cwd=PROJECT_ROOT, env=env,
                               capture_output=True, text=True, timeout=300)
        assert final.returncode == 0, final.stderr[-3000:]
    finally:
        watcher.close()

    log.info("killed at %s applied events", killed_at)
    assert len([n for n in killed_at if n < EVENTS]) >= 5
    assert killed_at == sorted(set(killed_at))  # every incarnation made progress before its kill
    conn = connect(postgres)
    try:
        live, reference = table_checksums(conn, "wavestream"), table_checksums(conn, "reference")
    finally:
        conn.close()
    assert live["execution_events"][0] == EVENTS
    assert live == reference
