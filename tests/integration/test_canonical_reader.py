"""Issue 13.5: a reader without wavestream decodes our topics with only the shipped
schemas/canonical/ files. Records are produced by the real `wavestream submit`; the
reader below uses confluent_kafka and fastavro, never wavestream's codec."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import fastavro
import pytest
from confluent_kafka import Consumer
from fastavro.schema import fingerprint

from wavestream import PROJECT_ROOT

pytestmark = pytest.mark.integration

CANONICAL = PROJECT_ROOT / "schemas" / "canonical"
DESC = "Run our Kafka clusters, automate their upgrades and keep consumer lag low for every team."


class StandaloneReader:
    """What a reader in any language does: look the fingerprint after C3 01 up in
    fingerprints.txt and decode the rest with that file's schema."""

    def __init__(self, directory: Path) -> None:
        self.schemas = {}
        for line in (directory / "fingerprints.txt").read_text().splitlines():
            if line and not line.startswith("#"):
                digest, name = line.split()
                text = (directory / name).read_text().strip()
                # The file is the Parsing Canonical Form: its CRC-64-AVRO is the fingerprint.
                assert fingerprint(text, "CRC-64-AVRO") == digest, name
                self.schemas[bytes.fromhex(digest)] = fastavro.parse_schema(json.loads(text))

    def decode(self, value: bytes) -> dict:
        assert value[:2] == b"\xc3\x01", value[:2]
        schema = self.schemas[value[2:10]]  # KeyError: a fingerprint nothing shipped matches
        body = io.BytesIO(value[10:])
        record = fastavro.schemaless_reader(body, schema)
        assert body.tell() == len(value) - 10
        return record


def _wavestream(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "wavestream.cli", *args], env=env, cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _records(bootstrap: str, topic: str, group: str, wanted) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "isolation.level": "read_committed", "enable.auto.commit": False})
    consumer.subscribe([topic])
    found: list[bytes] = []
    try:
        for _ in range(240):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None and wanted(msg.value()):
                found.append(msg.value())
            elif found and msg is None:
                break
    finally:
        consumer.close()
    return found


def test_a_standalone_fastavro_reader_decodes_real_records(kafka_bootstrap, unique, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAVESTREAM_")}
    env.update(WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap, WAVESTREAM_TOPIC_PARTITIONS="3",
               WAVESTREAM_LOG_FORMAT="text")
    _wavestream(env, "topics", "create")
    source = tmp_path / f"rows-{unique}.jsonl"
    source.write_text(
        json.dumps({"posting_id": f"p-{unique}", "title": "SRE", "description": DESC, "team": "ops"})
        + "\n" + '{"posting_id": "broken", "title": \n')
    assert "2 rows, 1 accepted, 1 rejected" in _wavestream(env, "submit", str(source))
    reader = StandaloneReader(CANONICAL)

    events = _records(kafka_bootstrap, "events", f"reader-e-{unique}", lambda v: unique.encode() in v)
    assert len(events) == 1, "expected one PostingRejected event for the submitted file"
    event = reader.decode(events[0])
    assert event["event_type"] == "PostingRejected" and event["posting_id"]
    assert event["payload"]["source_file"] == str(source) and event["payload"]["line"] == 2
    assert isinstance(event["occurred_at"], int)  # timestamp-millis: not in the canonical form

    postings = _records(kafka_bootstrap, "postings", f"reader-p-{unique}", lambda v: unique.encode() in v)
    posting = reader.decode(postings[0])
    assert posting["posting_id"] == f"p-{unique}" and posting["attributes"] == {"team": "ops"}
