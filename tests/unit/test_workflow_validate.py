"""`wavestream validate`: one test per check of DESIGN §4, plus the shipped workflow."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from consumers.validate import validate_file
from wavestream.cli import main

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

BASE = {
    "name": "t",
    "error_handler": "handler",
    "entry_points": [{"when": "*", "stage": "first"}],
    "stages": {
        "first": {
            "actor": {"kind": "script", "callable": "echo"},
            "prompt": "{posting.title}",
            "branches": [{"when": "[FAILED]", "next": "handler"}, {"when": "*", "next": "second"}],
        },
        "second": {
            "actor": {"kind": "script", "callable": "echo"},
            "prompt": "{outputs.first} {posting.description}",
            "branches": [{"when": "[FAILED]", "next": "handler"}, {"when": "*", "next": "done"}],
        },
        "handler": {"actor": {"kind": "script", "callable": "echo"}, "branches": [{"when": "*", "next": "done"}]},
    },
}


def _write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _lines(tmp_path: Path, doc: dict) -> list[str]:
    return [p.line() for p in validate_file(_write(tmp_path, doc)).problems]


def _variant(edit) -> dict:
    doc = copy.deepcopy(BASE)
    edit(doc)
    return doc


def _cli(path: Path):
    return CliRunner().invoke(main, ["validate", str(path)])


def test_base_workflow_is_clean(tmp_path):
    assert _lines(tmp_path, BASE) == []
    result = _cli(_write(tmp_path, BASE))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: workflow t sha256=")


def test_shipped_default_workflow_is_valid_and_records_model_sha256():
    result = CliRunner().invoke(main, ["validate", str(ROOT / "workflows" / "default.yaml")])
    assert result.exit_code == 0, result.output
    assert "error" not in result.output
    assert "model smollm2 sha256=" in result.output


def test_entry_point_to_missing_stage_is_an_error(tmp_path):
    doc = _variant(lambda d: d["entry_points"].append({"when": {"has": "summary"}, "stage": "nowhere"}))
    result = _cli(_write(tmp_path, doc))
    assert result.exit_code == 1
    assert result.output.splitlines() == ["error: entry point nowhere: stage does not exist"]


def test_missing_error_handler_stage_is_an_error(tmp_path):
    doc = _variant(lambda d: d.update(error_handler="ghost"))
    assert "error: workflow: error_handler 'ghost' is not a stage" in _lines(tmp_path, doc)


def test_unknown_actor_kind_is_an_error(tmp_path):
    doc = _variant(lambda d: d["stages"]["second"].update(actor={"kind": "robot"}))
    result = _cli(_write(tmp_path, doc))
    assert result.exit_code == 1
    assert result.output.startswith("error: stage second: `actor` must be a mapping with kind")


def test_script_that_does_not_import_is_an_error(tmp_path):
    doc = _variant(lambda d: d["stages"]["second"]["actor"].update(callable="no_such_module:fn"))
    (line,) = _lines(tmp_path, doc)
    assert line.startswith("error: stage second: script 'no_such_module:fn': cannot import no_such_module")


def test_llm_actor_with_unknown_model_is_an_error(tmp_path):
    doc = _variant(lambda d: d["stages"]["second"].update(actor={"kind": "llm", "model": "nope"}))
    assert _lines(tmp_path, doc) == ["error: stage second: llm actor uses unknown model 'nope'"]


def test_missing_model_file_is_an_error_and_present_one_is_hashed(tmp_path):
    (tmp_path / "tiny.gguf").write_bytes(b"GGUF not really")
    doc = _variant(lambda d: d.update(models={"ok": {"path": "tiny.gguf"}, "gone": {"path": "missing.gguf"}}))
    report = validate_file(_write(tmp_path, doc))
    assert [p.line() for p in report.problems] == [
        f"error: model gone: file {tmp_path / 'missing.gguf'} does not exist"
    ]
    assert report.model_sha256 == {"ok": hashlib.sha256(b"GGUF not really").hexdigest()}


def test_branch_to_missing_stage_is_an_error(tmp_path):
    doc = _variant(lambda d: d["stages"]["first"]["branches"].__setitem__(1, {"when": "*", "next": "secnd"}))
    lines = _lines(tmp_path, doc)
    assert "error: stage first: branch '*' goes to unknown stage 'secnd'" in lines


def test_self_loop_is_a_warning_only(tmp_path):
    doc = _variant(lambda d: d["stages"]["first"]["branches"].insert(1, {"when": "again", "next": "first"}))
    path = _write(tmp_path, doc)
    assert _lines(tmp_path, doc) == ["warning: stage first: branch 'again' loops back to the stage itself"]
    assert _cli(path).exit_code == 0
    assert CliRunner().invoke(main, ["validate", "--strict", str(path)]).exit_code == 1


def test_unreachable_stage_is_a_warning(tmp_path):
    def edit(d):
        d["stages"]["orphan"] = {"actor": {"kind": "script", "callable": "echo"},
                                 "branches": [{"when": "[FAILED]", "next": "handler"}, {"when": "*", "next": "done"}]}

    assert _lines(tmp_path, _variant(edit)) == ["warning: stage orphan: unreachable from every entry point"]


def test_stage_without_error_branch_is_a_warning(tmp_path):
    doc = _variant(lambda d: d["stages"]["second"].update(branches=[{"when": "*", "next": "done"}]))
    assert _lines(tmp_path, doc) == [
        "warning: stage second: no error branch ([FAILED]/[ERROR]/[TIMEOUT]); failures go to the error handler"
    ]


def test_output_of_a_stage_not_upstream_on_every_path_is_an_error(tmp_path):
    # A second entry point jumps straight to `second`, so `first` is not always upstream.
    doc = _variant(lambda d: d["entry_points"].insert(0, {"when": {"has": "summary"}, "stage": "second"}))
    result = _cli(_write(tmp_path, doc))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "error: stage second: placeholder {outputs.first}: stage first is not upstream on every path"
    ]


def test_entry_point_seeding_the_output_makes_the_placeholder_guaranteed(tmp_path):
    doc = _variant(lambda d: d["entry_points"].insert(
        0, {"when": {"has": "summary"}, "stage": "second", "outputs": {"first": "summary"}}))
    assert _lines(tmp_path, doc) == []


def test_output_only_reached_through_a_failure_edge_is_not_guaranteed(tmp_path):
    # handler runs after `first` failed, so {outputs.first} may be missing there.
    doc = _variant(lambda d: d["stages"]["handler"].update(prompt="{outputs.first}"))
    assert _lines(tmp_path, doc) == [
        "error: stage handler: placeholder {outputs.first}: stage first is not upstream on every path"
    ]


def test_placeholder_that_is_not_a_posting_field_is_an_error(tmp_path):
    doc = _variant(lambda d: d["stages"]["first"].update(prompt="{posting.salary} {posting.attributes.team} {x}"))
    assert _lines(tmp_path, doc) == ["error: stage first: placeholder {posting.salary} is not a posting field"]


def test_malformed_file_reports_each_shape_problem(tmp_path):
    doc = _variant(lambda d: (d.pop("entry_points"), d["stages"]["first"].update(retry={"max_attempts": 0})))
    result = _cli(_write(tmp_path, doc))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "error: stage first: `retry`: values must be positive numbers",
        "error: workflow: `entry_points` must be a non-empty list",
    ]
