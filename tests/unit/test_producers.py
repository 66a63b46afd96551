"""Producers without a broker: row validation, JSONL/CSV reading, rejection events,
interaction commands."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from producers.command import CommandError, build_command
from producers.ingest import (
    LIMITS, IngestError, RowError, derived_posting_id, detect_format, plan, read_csv, read_jsonl, validate_row,
)
from wavestream.codec import AvroCodec

pytestmark = pytest.mark.unit

DESC = "Build data pipelines in Python and SQL for our analytics team."
GOOD = {"posting_id": "job-1", "title": "Data Engineer", "description": DESC}


def _valid(**changes):
    return validate_row({**GOOD, **changes}, source="f.jsonl:1", submitted_at_ms=1_700_000_000_000)


def test_valid_row_becomes_a_posting_that_encodes():
    posting = _valid(company="Acme", location=" Remote ", url=None, salary=90000, remote=True,
                     attributes={"team": "data"})
    assert posting["location"] == "Remote" and posting["url"] is None and posting["summary"] is None
    assert posting["attributes"] == {"team": "data", "salary": "90000", "remote": "true"}
    assert posting["source"] == "f.jsonl:1"
    AvroCodec().encode("Posting", posting)


def test_posting_id_derived_from_content_when_missing():
    posting = _valid(posting_id=None)
    assert posting["posting_id"] == derived_posting_id("Data Engineer", None, DESC)
    assert posting["posting_id"] == _valid(posting_id="")["posting_id"]
    assert _valid(posting_id=42)["posting_id"] == "42"


@pytest.mark.parametrize("changes, words", [
    ({"title": None}, "missing required field 'title'"),
    ({"description": None}, "missing required field 'description'"),
    ({"title": "   "}, "field 'title' is blank"),
    ({"description": 12345}, "'description' must be a string, got int"),
    ({"description": "too short"}, "fewer than 20"),
    ({"title": "x" * (LIMITS["title"] + 1)}, "more than 300"),
    ({"description": "d" * (LIMITS["description"] + 1)}, "more than 20000"),
    ({"company": ["a"]}, "'company' must be a string"),
    ({"posting_id": "has space"}, "may only hold"),
    ({"posting_id": True}, "'posting_id' must be a string"),
    ({"attributes": ["x"]}, "'attributes' must be an object"),
    ({"attributes": {"nested": {"a": 1}}}, "attribute 'nested' must be a string, number or boolean"),
    ({"extra": [1, 2]}, "attribute 'extra'"),
    ({**{f"a{i}": "v" for i in range(51)}}, "more than 50"),
    ({"title": "bad \udcff byte"}, "not valid UTF-8"),
])
def test_invalid_rows(changes, words):
    with pytest.raises(RowError, match=words):
        _valid(**changes)


def test_non_object_row():
    with pytest.raises(RowError, match="must be an object, got list"):
        validate_row(["a"], source="x", submitted_at_ms=0)


def test_read_jsonl_line_numbers_blank_lines_and_bad_json():
    data = b'{"a": 1}\n\n  \n{"broken": \n\xff\xfe{}\n'
    rows = list(read_jsonl(io.BytesIO(data)))
    assert [(r.line, r.error is None) for r in rows] == [(1, True), (4, False), (5, False)]
    assert rows[1].error.startswith("invalid JSON")


def test_read_csv_multiline_records_and_surplus_cells():
    data = ('posting_id,title,description,team\n'
            'c1,Nurse,"Night shifts on a\nbusy ward, 3 per week",icu\n'
            '\n'
            'c2,Cook,Kitchen work with extra cells,x,surplus\n'
            'c3,,No title here at all in this row,\n').encode()
    rows = list(read_csv(io.BytesIO(data)))
    assert [r.line for r in rows] == [2, 5, 6]
    assert rows[0].value["description"] == "Night shifts on a\nbusy ward, 3 per week"
    assert rows[2].value["title"] is None and rows[2].value["team"] is None
    with pytest.raises(RowError, match="more fields than the header"):
        validate_row(rows[1].value, source="x", submitted_at_ms=0)


def test_plan_rejects_with_reason_and_line(tmp_path: Path):
    path = tmp_path / "in.jsonl"
    lines = [json.dumps(GOOD), "not json", json.dumps({**GOOD, "title": None}), json.dumps(GOOD),
             json.dumps({**GOOD, "posting_id": "job-2"})]
    path.write_text("\n".join(lines) + "\n")
    with path.open("rb") as fh:
        results = list(plan(path, read_jsonl(fh), submitted_at_ms=0, worker_id="t"))
    accepted = [p["posting_id"] for _, p, _ in results if p]
    rejected = [(r.line, e["payload"]["reason"], e["posting_id"]) for r, _, e in results if e]
    assert accepted == ["job-1", "job-2"]
    assert [line for line, _, _ in rejected] == [2, 3, 4]
    assert rejected[0][1].startswith("invalid JSON") and rejected[0][2].endswith("in.jsonl:2")
    assert "missing required field 'title'" in rejected[1][1] and rejected[1][2] == "job-1"
    assert "duplicate posting_id 'job-1' (first at line 1)" in rejected[2][1]
    codec = AvroCodec()
    for _, _, event in results:
        if event:
            payload = codec.decode(codec.encode("InteractionEvent", event)).value["payload"]
            assert payload["source_file"] == str(path) and payload["raw"]


def test_rejection_ids_are_stable_across_submissions(tmp_path: Path):
    path = tmp_path / "in.jsonl"
    path.write_text("oops\n")

    def ids():
        with path.open("rb") as fh:
            return [e["event_id"] for _, _, e in plan(path, read_jsonl(fh), submitted_at_ms=0, worker_id="t")]

    assert ids() == ids()


def test_detect_format(tmp_path: Path):
    assert detect_format(Path("a.JSONL")) == "jsonl" and detect_format(Path("a.csv")) == "csv"
    assert detect_format(Path("a.txt"), "csv") == "csv"
    with pytest.raises(IngestError, match="--format"):
        detect_format(Path("a.txt"))


def test_example_file_has_good_and_malformed_rows():
    from wavestream import PROJECT_ROOT

    path = PROJECT_ROOT / "examples" / "postings.jsonl"
    with path.open("rb") as fh:
        results = list(plan(path, read_jsonl(fh), submitted_at_ms=0, worker_id="t"))
    accepted = sum(1 for _, p, _ in results if p)
    assert accepted >= 25 and len(results) - accepted >= 4
    assert any(p and p["summary"] for _, p, _ in results)


# --- interaction commands -------------------------------------------------------------------

def test_build_commands_encode():
    codec = AvroCodec()
    for cmd in (build_command("rerun", "p1", stage="score", issued_by="ops"),
                build_command("decide", "p1", stage="review", decision=" approve "),
                build_command("cancel", "p1", reason="duplicate", command_id="c-1", issued_at_ms=5)):
        decoded = codec.decode(codec.encode("InteractionCommand", cmd)).value
        assert decoded["posting_id"] == "p1" and decoded["action"] == cmd["action"]
    assert build_command("decide", "p1", stage="review", decision=" approve ")["decision"] == "approve"
    assert build_command("cancel", "p1", command_id="c-1")["command_id"] == "c-1"
    assert build_command("cancel", "p1")["command_id"] != build_command("cancel", "p1")["command_id"]


@pytest.mark.parametrize("args, kwargs, words", [
    (("pause", "p1"), {}, "unknown action"),
    (("cancel", " "), {}, "posting id"),
    (("rerun", "p1"), {}, "--stage"),
    (("decide", "p1"), {"decision": "yes"}, "--stage"),
    (("decide", "p1"), {"stage": "review"}, "decision"),
])
def test_invalid_commands(args, kwargs, words):
    with pytest.raises(CommandError, match=words):
        build_command(*args, **kwargs)


def test_cli_is_registered():
    from click.testing import CliRunner

    from wavestream.cli import main

    result = CliRunner().invoke(main, ["command", "--help"])
    assert result.exit_code == 0 and "rerun" in result.output and "decide" in result.output
    result = CliRunner().invoke(main, ["submit", "--help"])
    assert result.exit_code == 0 and "PostingRejected" in result.output


def test_check_stage_refuses_a_stage_the_workflow_lacks():
    from producers.command import CommandError, check_stage
    from wavestream.resources import default_workflow

    default = default_workflow()
    check_stage("rerun", "summarize", default)
    with pytest.raises(CommandError, match="no stage 'no_such_stage'"):
        check_stage("rerun", "no_such_stage", default)
    with pytest.raises(CommandError, match="not a human stage"):
        check_stage("decide", "summarize", default)
