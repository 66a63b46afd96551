"""``wavestream export`` and ``import`` rates: seconds per million events.

Produces N synthetic events to ``events`` (12 partitions, in transactions of 5,000 records,
so the topic has markers like a real one) on one embedded broker, exports it, starts a
second empty broker and imports the export into it. Prints records/s of each step and
the seconds a million events would take at those rates; the last line is one JSON
object. No assertions; the read-model dump is left out (``pg_dump`` time depends on
PostgreSQL, not on wavestream).

    .venv/bin/python bench/bench_backup.py --events 200000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from projector.synthetic import iter_encoded, iter_synthetic_events, produce  # noqa: E402
from wavestream.backup import Exporter  # noqa: E402
from wavestream.clients import build_admin  # noqa: E402
from wavestream.codec import AvroCodec  # noqa: E402
from wavestream.config import KafkaSettings, StackSettings  # noqa: E402
from wavestream.restore import Importer  # noqa: E402
from wavestream.topics import EVENTS, TopicSpec, create_topics  # noqa: E402


def _broker(tmp: Path):
    from wavestream.stack.kafka import EmbeddedKafka
    from wavestream.stack.process import free_port

    broker = EmbeddedKafka(replace(StackSettings.from_env({}), data_dir=tmp, kafka_port=free_port(),
                                   controller_port=free_port(), pg_port=free_port()))
    broker.start()
    return broker, KafkaSettings(client={"bootstrap.servers": broker.bootstrap_servers})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wavestream-bench-backup-", dir="/tmp"))
    brokers = []
    try:
        source, kafka = _broker(tmp / "a")
        brokers.append(source)
        create_topics(build_admin(kafka), [TopicSpec(EVENTS, 12, 1, {"retention.ms": "-1"})])
        pairs = iter_encoded(AvroCodec(), iter_synthetic_events(args.events, seed=3))
        for _ in range(0, args.events, 5000):
            produce(kafka, EVENTS, islice(pairs, 5000), transactional_id="bench-backup")
        t0 = time.monotonic()
        manifest = Exporter(kafka, tmp / "export", progress=sys.stderr.isatty()).run()
        export_s = time.monotonic() - t0
        size = sum(f["bytes"] for t in manifest["topics"] for f in t["files"])
        target, kafka2 = _broker(tmp / "b")
        brokers.append(target)
        t0 = time.monotonic()
        report = Importer(kafka2, tmp / "export", progress=sys.stderr.isatty()).run()
        import_s = time.monotonic() - t0
        result = {"events": args.events, "export_s": round(export_s, 2), "import_s": round(import_s, 2),
                  "export_per_million_s": round(export_s * 1e6 / args.events, 1),
                  "import_per_million_s": round(import_s * 1e6 / args.events, 1),
                  "bytes_per_event": round(size / args.events, 1), "imported": report.records}
        print(f"export {args.events:,} events: {export_s:.1f}s ({args.events / export_s:,.0f}/s); "
              f"import: {import_s:.1f}s ({args.events / import_s:,.0f}/s); {size / 1e6:.1f} MB")
        print(json.dumps(result))
    finally:
        for broker in reversed(brokers):
            broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
