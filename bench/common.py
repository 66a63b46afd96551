"""Shared plumbing of the stage benchmarks: a Kafka broker (``WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS``
when set, else an embedded KRaft broker in a temp dir), throwaway workflows with unique
stage names, worker subprocesses, and a reader that waits for events of given postings.
Nothing here asserts: benchmarks print what they measure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from confluent_kafka import KafkaException, TopicPartition  # noqa: E402

from wavestream.clients import build_admin, build_consumer, build_producer, high_watermarks  # noqa: E402
from wavestream.codec import AvroCodec  # noqa: E402
from wavestream.config import KafkaSettings, StackSettings  # noqa: E402
from wavestream.topics import EVENTS, create_topics, topic_specs, workflow_name, workflow_stages  # noqa: E402

CODEC = AvroCodec()


@contextlib.contextmanager
def kafka() -> Iterator[tuple[KafkaSettings, str]]:
    """(settings, bootstrap) of the broker from the environment or of one started here."""
    if os.environ.get("WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS"):
        settings = KafkaSettings.from_env()
        yield settings, settings.bootstrap_servers
        return
    from wavestream.stack.kafka import EmbeddedKafka
    from wavestream.stack.process import free_port

    tmp = Path(tempfile.mkdtemp(prefix="wavestream-bench-", dir="/tmp"))
    broker = EmbeddedKafka(replace(StackSettings.from_env({}), data_dir=tmp, kafka_port=free_port(),
                                   controller_port=free_port(), pg_port=free_port()))
    broker.start()
    try:
        yield KafkaSettings(client={"bootstrap.servers": broker.bootstrap_servers}), broker.bootstrap_servers
    finally:
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def write_workflow(directory: Path, name: str, doc: dict[str, Any]) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, **doc}, sort_keys=False))
    return path


def create_workflow_topics(settings: KafkaSettings, workflow: Path) -> None:
    create_topics(build_admin(settings), topic_specs(workflow_stages(workflow), settings, workflow_name(workflow)))


def posting(posting_id: str, **extra: Any) -> dict[str, Any]:
    return {"posting_id": posting_id, "title": f"Title {posting_id}", "company": None, "location": None,
            "description": f"Description of {posting_id}, a posting for the benchmark.", "url": None,
            "source": "bench", "summary": None, "submitted_at": datetime.now(timezone.utc), "attributes": {},
            **extra}


def produce_commands(settings: KafkaSettings, workflow: Path, stage: str, postings: Iterable[dict]) -> None:
    """Attempt-1 StageCommands for ``stage``, as the router would send them."""
    from consumers.routing import Context, stage_command
    from consumers.workflow import load_workflow

    ctx = Context(load_workflow(workflow), "bench")
    producer = build_producer(settings, **{"linger.ms": 5})
    for p in postings:
        cmd = stage_command(ctx, cause_id=f"bench:{p['posting_id']}", stage=stage, posting=p,
                            correlation_id=str(uuid.uuid4()), outputs={}, now_ms=int(time.time() * 1000))
        producer.produce(f"stage.{stage}", key=p["posting_id"], value=CODEC.encode("StageCommand", cmd))
        producer.poll(0)
    producer.flush(60)


class Events:
    """Reads ``events`` from its current end; counts events of the given postings."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.consumer = build_consumer(settings, f"bench-reader-{uuid.uuid4().hex[:8]}")
        highs = high_watermarks(self.consumer, EVENTS)
        self.consumer.assign([TopicPartition(EVENTS, p, high) for p, high in highs.items()])
        self.events: list[dict[str, Any]] = []

    def wait_for(self, event_type: str, posting_ids: set[str], timeout_s: float, at_least: int | None = None) -> float:
        """Seconds until every posting in ``posting_ids`` (or ``at_least`` of them) has an
        ``event_type`` event (time of the last one's arrival); raises TimeoutError past
        ``timeout_s``."""
        wanted = len(posting_ids) if at_least is None else at_least
        started = time.monotonic()
        seen = {e["posting_id"] for e in self.events if e["event_type"] == event_type} & posting_ids
        while time.monotonic() - started < timeout_s:
            for msg in self.consumer.consume(500, 0.2):
                if msg.error() is not None:
                    continue
                value = CODEC.decode(msg.value()).value
                self.events.append(value)  # every event: a later wait may ask for other postings
                if value["event_type"] == event_type and value["posting_id"] in posting_ids:
                    seen.add(value["posting_id"])
            if len(seen) >= wanted:
                return time.monotonic() - started
        raise TimeoutError(f"{len(seen)}/{wanted} postings reached {event_type} in {timeout_s:.0f}s")

    def close(self) -> None:
        self.consumer.close()


class Workers:
    """``wavestream`` subprocesses (worker, router) writing their logs to a directory."""

    def __init__(self, bootstrap: str, log_dir: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("WAVESTREAM_KAFKA_")}
        self.env.update(WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS=bootstrap, WAVESTREAM_LOG_FORMAT="text",
                        WAVESTREAM_LOG_LEVEL="WARNING",
                        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                        WAVESTREAM_KAFKA_SESSION_TIMEOUT_MS="6000", WAVESTREAM_KAFKA_HEARTBEAT_INTERVAL_MS="1000")
        self.log_dir, self.procs = log_dir, {}

    def start(self, name: str, *args: str) -> None:
        with open(self.log_dir / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen([sys.executable, "-m", "wavestream.cli", *args], cwd=ROOT,
                                                env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def wait_members(self, settings: KafkaSettings, group: str, members: int, timeout_s: float = 120) -> None:
        """Until ``members`` members of ``group`` hold partitions (workers are ready)."""
        admin = build_admin(settings)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"exited: {dead}: " + (self.log_dir / f"{dead[0]}.log").read_text()[-2000:])
            try:
                desc = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
                holding = [m for m in desc.members if m.assignment and m.assignment.topic_partitions]
                if len(holding) == members and str(desc.state).endswith("STABLE"):
                    return
            except KafkaException:  # the group or its coordinator is not there yet
                pass
            time.sleep(0.3)
        raise TimeoutError(f"group {group} never had {members} members holding partitions")

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.procs.clear()
