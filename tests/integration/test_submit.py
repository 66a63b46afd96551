"""`wavestream submit` and `wavestream command` through a real broker: postings and
PostingRejected events (reason + line number) read back from the topics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from producers.ingest import derived_posting_id, submit_file
from wavestream.clients import build_admin, build_consumer
from wavestream.codec import AvroCodec
from wavestream.topics import TopicSpec, create_topics

from tests.integration.test_worker_helpers import script_stage, write_workflow

pytestmark = pytest.mark.integration

DESC = "Maintain Kubernetes clusters and write Terraform modules for our platform team."


def _topics(settings, unique: str, *names: str) -> list[str]:
    topics = [f"{name}-{unique}" for name in names]
    create_topics(build_admin(settings), [TopicSpec(t, 3, 1) for t in topics])
    return topics


def _read_all(settings, topic: str, group: str, count: int) -> list[dict]:
    codec = AvroCodec.from_settings(settings)
    consumer = build_consumer(settings, group)
    consumer.subscribe([topic])
    records = []
    try:
        for _ in range(240):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                records.append({"key": msg.key().decode(), **codec.decode(msg.value()).value})
                if len(records) >= count:
                    for _ in range(4):  # nothing more should arrive
                        extra = consumer.poll(0.5)
                        if extra is not None and extra.error() is None:
                            records.append({"key": extra.key().decode(), **codec.decode(extra.value()).value})
                    break
    finally:
        consumer.close()
    return records


def _input_file(tmp_path: Path) -> Path:
    rows = [
        json.dumps({"posting_id": "ok-1", "title": "DevOps Engineer", "description": DESC, "team": "platform"}),
        '{"posting_id": "bad-json", "title": ',
        json.dumps({"posting_id": "ok-2", "title": "SRE", "company": "Polar", "description": DESC,
                    "summary": "An SRE role."}),
        "",
        json.dumps({"posting_id": "no-title", "description": DESC}),
        json.dumps({"posting_id": "bad-type", "title": "X", "description": 42}),
        json.dumps({"title": "No id given", "description": DESC}),
        json.dumps({"posting_id": "ok-1", "title": "Duplicate", "description": DESC}),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_submit_good_and_malformed_rows(kafka_settings, unique, tmp_path: Path):
    postings_topic, events_topic = _topics(kafka_settings, unique, "postings", "events")
    path = _input_file(tmp_path)
    summary = submit_file(path, kafka_settings, postings_topic=postings_topic, events_topic=events_topic,
                          progress=False)
    assert (summary.rows, summary.accepted, summary.rejected) == (7, 3, 4)

    postings = _read_all(kafka_settings, postings_topic, f"g-p-{unique}", 3)
    derived_id = derived_posting_id("No id given", None, DESC)
    assert len(postings) == 3 and {p["posting_id"] for p in postings} == {"ok-1", "ok-2", derived_id}
    by_id = {p["posting_id"]: p for p in postings}
    assert all(p["key"] == p["posting_id"] for p in postings)
    assert by_id["ok-1"]["attributes"] == {"team": "platform"} and by_id["ok-1"]["source"] == "mixed.jsonl:1"
    assert by_id["ok-2"]["summary"] == "An SRE role."
    assert by_id[derived_id]["title"] == "No id given"

    events = _read_all(kafka_settings, events_topic, f"g-e-{unique}", 4)
    assert len(events) == 4
    rejected = {e["payload"]["line"]: e for e in events}
    assert set(rejected) == {2, 5, 6, 8}
    assert all(e["event_type"] == "PostingRejected" and e["payload"]["source_file"] == str(path) for e in events)
    assert rejected[2]["payload"]["reason"].startswith("invalid JSON")
    assert rejected[5]["payload"]["reason"] == "missing required field 'title'" and rejected[5]["key"] == "no-title"
    assert "must be a string, got int" in rejected[6]["payload"]["reason"]
    assert "duplicate posting_id 'ok-1' (first at line 1)" in rejected[8]["payload"]["reason"]
    assert rejected[6]["payload"]["raw"].startswith('{"posting_id": "bad-type"')


def test_submit_cli_csv_and_command_cli(kafka_settings, unique, tmp_path: Path, monkeypatch):
    from wavestream.cli import main

    postings_topic, events_topic, commands_topic = _topics(kafka_settings, unique, "postings", "events", "commands")
    monkeypatch.setenv("WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)
    monkeypatch.setenv("WAVESTREAM_SUBMIT_LEDGER_DIR", str(tmp_path / "ledger"))
    path = tmp_path / "in.csv"
    path.write_text(f'posting_id,title,description\nc-1,Cook,"{DESC}"\nc-2,,"{DESC}"\n')
    result = CliRunner().invoke(main, ["submit", str(path), "--no-progress", "--postings-topic", postings_topic,
                                       "--events-topic", events_topic])
    assert result.exit_code == 0, result.output
    assert "2 rows, 1 accepted, 1 rejected" in result.output
    assert "rejected 1x: missing required field 'title'" in result.output
    assert [p["posting_id"] for p in _read_all(kafka_settings, postings_topic, f"g-{unique}", 1)] == ["c-1"]
    events = _read_all(kafka_settings, events_topic, f"g2-{unique}", 1)
    assert [(e["payload"]["line"], e["key"]) for e in events] == [(3, "c-2")]

    reviewed = write_workflow(tmp_path, f"reviewed-{unique}", {
        "score": script_stage("echo", "review"),
        "review": {"actor": {"kind": "human"}, "branches": [{"when": "*", "next": "done"}]}})
    for args in (["cancel", "c-1", "--reason", "dup"], ["rerun", "c-1", "--stage", "score", "--workflow", str(reviewed)],
                 ["decide", "c-1", "approve", "--stage", "review", "--by", "ops", "--workflow", str(reviewed)]):
        result = CliRunner().invoke(main, ["command", "--topic", commands_topic, *args])
        assert result.exit_code == 0, result.output
    commands = _read_all(kafka_settings, commands_topic, f"g3-{unique}", 3)
    assert [c["action"] for c in commands] == ["cancel", "rerun", "decide"]  # one key: one partition, in order
    assert commands[2]["decision"] == "approve" and commands[2]["issued_by"] == "ops"
    assert commands[1]["stage"] == "score" and commands[0]["reason"] == "dup"
    assert {c["key"] for c in commands} == {"c-1"}

    missing = CliRunner().invoke(main, ["submit", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 1 and "no such file" in missing.output
