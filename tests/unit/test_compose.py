"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine), so their
contract with the code is checked statically: every wavestream service's command exists
in the CLI with the options it passes, every env key it sets is a setting the code reads,
services log in with least-privilege roles, image tags are pinned, and the image is a
multi-stage build whose runtime stage installs wheels without a compiler."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import click
import pytest
import yaml

from wavestream import PROJECT_ROOT
from wavestream.cli import main
from wavestream.config import KAFKA_PREFIX, KEYS, PREFIX

pytestmark = pytest.mark.unit

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
OURS = {name: svc for name, svc in SERVICES.items() if svc.get("image") == "wavestream:local"}


def resolve(args: list[str]) -> click.Command:
    """Walk the click tree along `args`; fail on an unknown command or option."""
    command: click.Command = main
    ctx = click.Context(main)
    rest = list(args)
    while isinstance(command, click.Group) and rest:
        name = rest.pop(0)
        sub = command.get_command(ctx, name)
        assert sub is not None, f"no command {name!r} in `wavestream {' '.join(args)}`"
        command = sub
    options = {opt for p in command.params for opt in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]}
    for token in rest:
        if token.startswith("--"):
            assert token.split("=")[0] in options, f"`wavestream {' '.join(args)}`: unknown option {token}"
    return command


def test_there_are_wavestream_services():
    assert {"topic-init", "projector"} <= set(OURS)
    assert any(name.startswith("worker-") for name in OURS)


@pytest.mark.parametrize("name,service", list(OURS.items()), ids=list(OURS))
def test_service_command_exists(name, service):
    resolve(service["command"])


def _served(command: list[str]) -> list[str]:
    return [command[i + 1] for i, word in enumerate(command) if word == "--stage"]


def test_every_stage_of_the_default_workflow_has_a_worker_service():
    from wavestream.topics import workflow_stages

    served = {s for svc in OURS.values() if svc["command"][0] == "worker" for s in _served(svc["command"])}
    assert served == set(workflow_stages(PROJECT_ROOT / "workflows" / "default.yaml"))


def test_llm_stages_of_one_model_share_one_worker_service():
    from consumers.workflow import load_workflow

    flow = load_workflow(PROJECT_ROOT / "workflows" / "default.yaml")
    by_model: dict[str, set[str]] = {}
    for name, stage in flow.stages.items():
        if stage.actor.kind == "llm":
            by_model.setdefault(stage.actor.model, set()).add(name)
    workers = [set(_served(svc["command"])) for svc in OURS.values()
               if svc["command"][0] == "worker" and "gpu" not in svc.get("profiles", [])]
    for stages in by_model.values():
        assert stages in workers, (stages, workers)


def test_gpu_workers_are_opt_in_and_reserve_a_gpu():
    gpu = [svc for svc in OURS.values() if "gpu" in svc.get("profiles", [])]
    assert gpu
    for svc in gpu:
        devices = svc["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"]


@pytest.mark.parametrize("name,service", [(n, s) for n, s in OURS.items()])
def test_service_env_keys_are_read_by_the_code(name, service):
    for key in service["environment"]:
        if key.startswith(KAFKA_PREFIX):
            continue  # librdkafka pass-through: any property is allowed
        assert key.startswith(PREFIX) and key[len(PREFIX):] in KEYS, f"{name}: {key} is not a wavestream setting"


def test_env_example_documents_exactly_the_declared_keys():
    text = (PROJECT_ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*WAVESTREAM_([A-Z0-9_]+)=", text, flags=re.M))
    plain = {k for k in documented if not ("WAVESTREAM_" + k).startswith(KAFKA_PREFIX)}
    assert plain == set(KEYS)
    assert "BOOTSTRAP_SERVERS" in {k[len("KAFKA_"):] for k in documented if k.startswith("KAFKA_")}


def test_kafka_is_official_image_in_kraft_mode():
    kafka = SERVICES["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka["environment"]["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == 1


def test_topic_init_runs_before_the_pipeline():
    long_running = {name: svc for name, svc in OURS.items() if svc.get("restart") == "unless-stopped"}
    assert {"router", "projector", "worker-llm"} <= set(long_running)
    for name, svc in long_running.items():
        assert svc["depends_on"]["topic-init"]["condition"] == "service_completed_successfully", name


def test_no_secret_literal_in_compose():
    for line in (PROJECT_ROOT / "docker-compose.yml").read_text().splitlines():
        code = line.split("#", 1)[0]
        if "PASSWORD" in code and ":" in code:
            value = code.split(":", 1)[1].strip()
            assert not value or "${" in value, f"literal secret in compose: {line.strip()}"


# --- least privilege ------------------------------------------------------------------

def _dsn(svc: dict) -> str | None:
    return svc.get("environment", {}).get("WAVESTREAM_PG_DSN")


def _roles_of_the_migrations() -> set[str]:
    text = (PROJECT_ROOT / "sql" / "004_read_model_roles.sql").read_text()
    return set(re.findall(r"'(wavestream_[a-z]+)'", text))


def test_only_the_migration_job_uses_the_owner_account():
    owner = SERVICES["postgres"]["environment"]["POSTGRES_USER"]
    users = {name: urlsplit(_dsn(svc)).username for name, svc in OURS.items() if _dsn(svc)}
    assert users == {"migrate": owner, "projector": "projector", "status": "reader"}
    assert OURS["migrate"]["restart"] == "no" and OURS["migrate"]["command"] == ["migrate"]
    assert OURS["projector"]["command"] == ["projector", "--no-migrate"]


def test_router_and_workers_get_no_database_credentials():
    for name, svc in OURS.items():
        if name.startswith("worker-") or name in ("router", "command-processor", "topic-init"):
            env = svc["environment"]
            assert not any(k.startswith("WAVESTREAM_PG_") for k in env), name


def test_no_password_inside_a_dsn():
    """Passwords travel in WAVESTREAM_PG_PASSWORD: a DSN with an interpolated password
    breaks on '@', ':' or '/' in it, and it would need URL encoding compose cannot do."""
    for name, svc in OURS.items():
        if _dsn(svc):
            assert urlsplit(_dsn(svc)).password is None, name
            assert svc["environment"]["WAVESTREAM_PG_PASSWORD"].startswith("${"), name


def test_logins_inherit_the_roles_of_the_migrations_and_come_before_the_projector():
    roles = _roles_of_the_migrations()
    assert roles == {"wavestream_projector", "wavestream_reader"}
    logins = SERVICES["db-logins"]
    assert logins["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert OURS["projector"]["depends_on"]["db-logins"]["condition"] == "service_completed_successfully"
    host_path, mounted = logins["volumes"][0].split(":")[:2]
    assert mounted in logins["command"]
    script = (PROJECT_ROOT / host_path).read_text()
    assert "GRANT wavestream_projector TO :\"projector_login\"" in script
    assert "GRANT wavestream_reader TO :\"reader_login\"" in script
    assert "\\getenv projector_password PROJECTOR_DB_PASSWORD" in script
    assert set(logins["environment"]) >= {"PROJECTOR_DB_PASSWORD", "READER_DB_PASSWORD", "PGPASSWORD"}


def test_metrics_listen_on_every_interface_only_where_compose_says_so():
    for name, svc in OURS.items():
        assert svc["environment"].get("WAVESTREAM_METRICS_HOST") == "0.0.0.0", name
    assert not any("9108" in str(p) for svc in SERVICES.values() for p in svc.get("ports", []))


# --- images -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [n for n, s in SERVICES.items() if s.get("image") != "wavestream:local"])
def test_third_party_images_are_pinned(name):
    image = SERVICES[name]["image"]
    repo, _, tag = image.rpartition(":")
    assert repo and re.fullmatch(r"v?\d+\.\d+(\.\d+)?(-[a-z0-9.-]+)?", tag), f"{name}: {image} is not pinned"


def test_kafka_ui_is_the_maintained_kafbat_project():
    assert SERVICES["kafka-ui"]["image"].startswith("kafbat/kafka-ui:v")


def _stages(dockerfile: str) -> list[list[str]]:
    """The Dockerfile's build stages, each a list of instructions (continuations joined)."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    stages: list[list[str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_the_image_is_a_multi_stage_build_with_a_wheel_only_runtime():
    stages = _stages((PROJECT_ROOT / "Dockerfile").read_text())
    assert len(stages) >= 2, "build and runtime stages"
    runtime = " ".join(stages[-1])
    for tool in ("build-essential", "gcc", "g++", "cmake", "clang", "make "):
        assert tool not in runtime, f"the runtime stage carries {tool}"
    assert "COPY --from=build" in runtime and "--no-index" in runtime
    assert "pip install -e" not in runtime and "pip install --no-cache-dir -e" not in runtime
    assert "USER wavestream" in runtime
    build = " ".join(stages[0])
    assert "pip wheel" in build and "llama-cpp-python" in build


def test_the_image_bases_are_pinned():
    bases = re.findall(r"^ARG (?:RUNTIME_)?BASE=(\S+)$", (PROJECT_ROOT / "Dockerfile").read_text(), flags=re.M)
    assert len(bases) == 2
    for base in bases:
        assert re.fullmatch(r"[a-z0-9/._-]+:\d+\.\d+\.\d+[a-z0-9.-]*", base), f"{base} is not pinned"
