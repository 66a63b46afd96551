"""docker-compose.yml cannot run here (no Docker engine), so its contract with the code
is checked statically: every wavestream service's command exists in the CLI with the
options it passes, and every env key it sets is a setting the code reads."""

from __future__ import annotations

import re

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


def test_every_stage_of_the_default_workflow_has_a_worker_service():
    from wavestream.topics import workflow_stages

    served = {svc["command"][2] for svc in OURS.values() if svc["command"][0] == "worker"}
    assert served == set(workflow_stages(PROJECT_ROOT / "workflows" / "default.yaml"))


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
    for name, svc in OURS.items():
        if name != "topic-init":
            assert svc["depends_on"]["topic-init"]["condition"] == "service_completed_successfully"


def test_no_secret_literal_in_compose():
    for line in (PROJECT_ROOT / "docker-compose.yml").read_text().splitlines():
        code = line.split("#", 1)[0]
        if "PASSWORD" in code and ":" in code:
            value = code.split(":", 1)[1].strip()
            assert not value or "${" in value, f"literal secret in compose: {line.strip()}"
