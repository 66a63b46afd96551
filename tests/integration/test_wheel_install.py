"""`pip install` of the built wheel into a fresh virtual environment (not editable, not
the source tree): the wheel holds schemas/, sql/ and workflows/, and `wavestream
validate`, `topics create`, `projector` and `stack up` work from an empty directory.

The fresh venv gets the wheel with ``--no-deps``; its dependencies come from the venv
running the tests through a ``.pth`` line (appended after the fresh venv's own
site-packages, so the installed wavestream is the one imported; the editable install's
finder is not loaded, since ``.pth`` files of an added path are not processed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import traversable_tmp
from wavestream import PROJECT_ROOT
from wavestream.stack.process import free_port

pytestmark = pytest.mark.integration

_SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".wavestream",
                               "demo-output", ".pytest_cache", "tests", "bench", "deploy")


class Installed:
    def __init__(self, wheel: Path, venv: Path, workdir: Path) -> None:
        self.wheel, self.venv, self.workdir = wheel, venv, workdir

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("WAVESTREAM_") and k != "PYTHONPATH"}
        return {**base, "WAVESTREAM_LOG_FORMAT": "text", **extra}

    def run(self, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.venv / "bin" / "wavestream"), *args], cwd=self.workdir, env=self.env(**env),
                              capture_output=True, text=True, timeout=timeout)

    def python(self, code: str) -> str:
        result = subprocess.run([str(self.venv / "bin" / "python"), "-c", code], cwd=self.workdir, env=self.env(),
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(PROJECT_ROOT, source, ignore=_SKIP)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(root / "dist")], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((root / "dist").glob("wavestream-*.whl"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                                "-q", "--no-deps", "--no-index", str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-3000:]
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    workdir = root / "elsewhere"
    workdir.mkdir()
    return Installed(wheel, venv, workdir)


def test_the_wheel_holds_schemas_migrations_and_workflows(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    expected = {
        "wavestream/_data/schemas/InteractionEvent.avsc",
        "wavestream/_data/schemas/history/v1/InteractionEvent.avsc",
        "wavestream/_data/sql/001_projector_offsets.sql",
        "wavestream/_data/sql/004_read_model_roles.sql",
        "wavestream/_data/workflows/default.yaml",
        "wavestream/_data/examples/postings.jsonl",
        "wavestream/stack/kafka-pom.xml",
    }
    assert expected - names == set()
    assert not any(name.startswith(("schemas/", "sql/", "workflows/", "tests/")) for name in names)


def test_the_installed_package_finds_its_data_outside_the_source_tree(installed):
    out = installed.python(
        "import wavestream, wavestream.schemas as c, wavestream.migrations as m, wavestream.resources as r; "
        "print(wavestream.__file__); print(c.DEFAULT_SCHEMA_DIR); print(m.SQL_DIR); print(r.default_workflow()); "
        "print(len(m.discover()), len(c.load_schemas().history))")
    module, schemas, sql, workflow, counts = out.splitlines()
    for path in (module, schemas, sql, workflow):
        assert Path(path).is_relative_to(installed.venv), path
    migrations, versions = map(int, counts.split())
    assert migrations >= 4 and versions >= 1


def test_validate_from_any_directory(installed):
    workflow = installed.python("import wavestream.resources as r; print(r.default_workflow())")
    result = installed.run("validate", workflow)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: workflow job-postings" in result.stdout


def test_topics_create_and_projector_from_any_directory(installed, kafka_settings, fresh_db, unique):
    import psycopg2

    env = {"WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers, "WAVESTREAM_TOPIC_PARTITIONS": "3"}
    created = installed.run("topics", "create", **env)  # the packaged default workflow
    assert created.returncode == 0, created.stderr
    assert {line.split()[1] for line in created.stdout.splitlines()} >= {"postings", "events", "stage.summarize"}

    projected = installed.run("projector", "--group", f"g-{unique}", "--until-caught-up",
                              WAVESTREAM_PG_DSN=fresh_db, **env)
    assert projected.returncode == 0, projected.stderr[-3000:]
    conn = psycopg2.connect(fresh_db)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM wavestream.schema_migrations")
            assert cur.fetchone()[0] >= 4
    finally:
        conn.close()


def test_stack_up_from_any_directory(installed):
    root = traversable_tmp("wheel-stack")
    env = {"WAVESTREAM_STACK_DIR": str(root), "WAVESTREAM_STACK_KAFKA_PORT": str(free_port()),
           "WAVESTREAM_STACK_CONTROLLER_PORT": str(free_port()), "WAVESTREAM_STACK_PG_PORT": str(free_port())}
    try:
        up = installed.run("stack", "up", **env)
        assert up.returncode == 0, up.stderr[-3000:]
        assert "Kafka 4." in up.stdout, up.stdout
    finally:
        down = installed.run("stack", "down", **env)
        shutil.rmtree(root, ignore_errors=True)
    assert down.returncode == 0 and "kafka" in down.stdout, down.stdout + down.stderr
