"""deploy/k8s: every built-in object validates against the Kubernetes schemas (offline,
``kubernetes-validate``), the base and the example overlay (rendered here in Python:
resources, namespace, images, strategic-merge patches of mappings), and the KEDA
objects agree with the consumer groups and topics the code uses."""

from __future__ import annotations

import copy
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from projector.loop import ProjectorOptions
from tests.unit.test_compose import resolve
from wavestream import PROJECT_ROOT
from wavestream.config import KAFKA_PREFIX, KEYS, PREFIX
from wavestream.topics import (
    COMMANDS, EVENTS, POSTINGS, commands_group, router_group, stage_group, stage_topic, workflow_stages,
)

pytestmark = pytest.mark.unit

K8S = PROJECT_ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"
WORKFLOW = PROJECT_ROOT / "workflows" / "default.yaml"
WORKFLOW_NAME = yaml.safe_load(WORKFLOW.read_text())["name"]
PARTITIONS = 12  # WAVESTREAM_TOPIC_PARTITIONS of the base ConfigMap (checked below)


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _merge(base: dict, patch: dict) -> dict:
    """Strategic merge limited to what our patches use: mappings merge, the rest replaces."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def render(directory: Path) -> list[dict]:
    """The objects of a kustomization: its resources (recursively), then its namespace,
    image and patches."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    assert set(kustomization) <= {"apiVersion", "kind", "namespace", "resources", "images", "patches", "labels"}, \
        "a kustomize feature this renderer does not know"
    objects: list[dict] = []
    for resource in kustomization.get("resources", []):
        path = (directory / resource).resolve()
        objects.extend(render(path) if path.is_dir() else _docs(path))
    for patch in kustomization.get("patches", []):
        assert set(patch) == {"path"}, "only strategic-merge patch files are rendered"
        body = yaml.safe_load((directory / patch["path"]).read_text())
        targets = [i for i, o in enumerate(objects)
                   if o["kind"] == body["kind"] and o["metadata"]["name"] == body["metadata"]["name"]]
        assert len(targets) == 1, f"patch {patch['path']} matches {len(targets)} objects"
        objects[targets[0]] = _merge(objects[targets[0]], body)
    for image in kustomization.get("images", []):
        for container in _containers(objects):
            name, _, _tag = container["image"].partition(":")
            if name == image["name"]:
                container["image"] = f"{image.get('newName', name)}:{image['newTag']}"
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] != "Namespace":
                obj["metadata"]["namespace"] = kustomization["namespace"]
    return objects


def _pod_specs(objects: list[dict]) -> list[dict]:
    return [o["spec"]["template"]["spec"] for o in objects if o["kind"] in ("Deployment", "Job")]


def _containers(objects: list[dict]) -> list[dict]:
    return [c for spec in _pod_specs(objects) for c in spec["containers"]]


BASE = render(K8S / "base")
OVERLAY = render(K8S / "overlays" / "example")


def _of(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.mark.parametrize("objects", [BASE, OVERLAY], ids=["base", "overlay"])
def test_builtin_objects_validate_against_the_kubernetes_schemas(objects):
    builtin = [o for o in objects if not o["apiVersion"].startswith("keda.sh/")]
    assert {o["kind"] for o in builtin} >= {"ConfigMap", "Deployment", "Job", "PodDisruptionBudget"}
    for obj in builtin:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")


def test_the_validator_rejects_a_broken_object():
    deployment = copy.deepcopy(_of(BASE, "Deployment")["wavestream-router"])
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_every_container_runs_an_existing_command_with_known_settings():
    for container in _containers(BASE):
        resolve(container["args"])
        for env in container.get("env", []):
            name = env["name"]
            assert name.startswith(KAFKA_PREFIX) or name[len(PREFIX):] in KEYS, name
            assert "value" not in env or "PASSWORD" not in name and "DSN" not in name, f"secret literal {name}"
    settings = _of(BASE, "ConfigMap")["wavestream-env"]["data"]
    for key in settings:
        assert key.startswith(KAFKA_PREFIX) or (key.startswith(PREFIX) and key[len(PREFIX):] in KEYS), key
    assert int(settings["WAVESTREAM_TOPIC_PARTITIONS"]) == PARTITIONS


def test_credentials_come_from_secrets():
    for container in _containers(BASE):
        for env in container.get("env", []):
            if "PASSWORD" in env["name"] or env["name"] == "WAVESTREAM_PG_DSN":
                assert env["valueFrom"]["secretKeyRef"]["name"] == "wavestream-credentials"
    assert not _of(BASE, "Secret"), "no Secret with values ships in the manifests"


def test_the_workflow_configmap_is_the_default_workflow():
    data = _of(BASE, "ConfigMap")["wavestream-workflow"]["data"]
    assert data["default.yaml"] == WORKFLOW.read_text()


def _stages_served(deployment: dict) -> list[str]:
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return [args[i + 1] for i, a in enumerate(args) if a == "--stage"] if args[0] == "worker" else []


def test_one_worker_deployment_per_stage_and_a_gpu_llm_worker():
    deployments = _of(BASE, "Deployment")
    served = [s for d in deployments.values() for s in _stages_served(d)]
    assert sorted(served) == sorted(workflow_stages(WORKFLOW))
    llm_stages = {n for n, s in yaml.safe_load(WORKFLOW.read_text())["stages"].items() if s["actor"]["kind"] == "llm"}
    llm = deployments["wavestream-worker-llm"]
    assert set(_stages_served(llm)) == llm_stages
    spec = llm["spec"]["template"]["spec"]
    assert spec["nodeSelector"] and spec["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"wavestream-router", "wavestream-command-processor", "wavestream-projector"} <= set(deployments)


def test_probes_pdbs_and_jobs():
    deployments, pdbs = _of(BASE, "Deployment"), _of(BASE, "PodDisruptionBudget")
    for name, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        labels = deployment["spec"]["selector"]["matchLabels"]
        assert pdbs[name]["spec"]["selector"]["matchLabels"] == labels, name
    jobs = {n: j["spec"]["template"]["spec"]["containers"][0]["args"] for n, j in _of(BASE, "Job").items()}
    assert jobs["wavestream-migrations"][0] == "migrate"
    assert jobs["wavestream-topic-init"][:2] == ["topics", "create"]
    projector = deployments["wavestream-projector"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--no-migrate" in projector  # the migrations Job owns the schema


def _expected_triggers() -> dict[str, str]:
    """consumer group -> the topic whose lag scales it, as the code names them."""
    expected = {stage_group(s): stage_topic(s) for s in workflow_stages(WORKFLOW)}
    expected[router_group(WORKFLOW_NAME)] = POSTINGS
    expected[commands_group(WORKFLOW_NAME)] = COMMANDS
    expected[ProjectorOptions().group_id] = EVENTS
    return expected


def test_keda_scales_every_consumer_group_on_lag_up_to_the_partition_count():
    scaled = _of(BASE, "ScaledObject")
    deployments = _of(BASE, "Deployment")
    triggers: dict[str, str] = {}
    for name, obj in scaled.items():
        spec = obj["spec"]
        target = deployments[spec["scaleTargetRef"]["name"]]
        assert spec["maxReplicaCount"] == PARTITIONS, name
        assert spec["minReplicaCount"] == 1, name  # never scaled to zero: no cold start of a loop or a model
        served = {stage_group(s) for s in _stages_served(target)}
        for trigger in spec["triggers"]:
            assert trigger["type"] == "kafka"
            meta = trigger["metadata"]
            assert int(meta["lagThreshold"]) > 0
            assert meta["bootstrapServersFromEnv"] == "WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS"
            assert meta["consumerGroup"] not in triggers, f"{meta['consumerGroup']} has two triggers"
            triggers[meta["consumerGroup"]] = meta["topic"]
            if served:  # a worker scales on the groups of exactly the stages it serves
                assert meta["consumerGroup"] in served, (name, meta["consumerGroup"])
        if served:
            assert served == {t["metadata"]["consumerGroup"] for t in spec["triggers"]}, name
        assert trigger["authenticationRef"]["name"] in _of(BASE, "TriggerAuthentication")
    assert triggers == _expected_triggers()


def test_overlay_sets_namespace_image_and_brokers():
    assert all(o["metadata"].get("namespace") == "wavestream" for o in OVERLAY if o["kind"] != "Namespace")
    assert all(c["image"].startswith("registry.example.com/wavestream:") for c in _containers(OVERLAY))
    env = _of(OVERLAY, "ConfigMap")["wavestream-env"]["data"]
    assert env["WAVESTREAM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["WAVESTREAM_TOPIC_PARTITIONS"] == str(PARTITIONS)  # merged, not replaced
    assert _of(OVERLAY, "Deployment")["wavestream-worker-llm"]["spec"]["replicas"] == 2
