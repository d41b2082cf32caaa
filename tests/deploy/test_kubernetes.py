"""deploy/k8s, offline: every object against the Kubernetes OpenAPI schemas (the JSON schemas
that kubernetes-validate bundles, strict: unknown fields are errors), the kustomization as
`kubectl kustomize` renders it, and what the schemas cannot say: probes, resources, non-root,
secrets by reference only, HPAs for every Deployment, the migration Job, Services that select
real pods and ports.

The checks are plain functions returning the problems they find, so each test can also feed
them a deliberately broken copy and see the mistake reported."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from tests.deploy._support import (
    CREDENTIALS_IN_URL,
    K8S,
    PORTS,
    SECRET_NAME,
    SERVICES,
    cli_args,
    k8s_documents,
    k8s_files,
    load_all,
    tool,
)

Doc = dict[str, Any]
DOCS = k8s_documents()
#: The oldest and the newest Kubernetes whose schemas the package bundles.
VERSIONS = sorted({all_versions()[0], all_versions()[-1]})


def ident(doc: Doc) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d.get("kind") == kind]


def only_docs() -> list[Doc]:
    return [copy.deepcopy(doc) for _, doc in DOCS]


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    (doc,) = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


# -- schemas -------------------------------------------------------------------------------------


def schema_errors(doc: Doc, version: str) -> list[str]:
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path)
        return [f"{ident(doc)} (Kubernetes {version}): {where}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{ident(doc)}: {exc.message}"]
    return []


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("doc", [d for _, d in DOCS], ids=[f"{f}:{ident(d)}" for f, d in DOCS])
def test_every_object_matches_the_kubernetes_schema(doc: Doc, version: str) -> None:
    assert schema_errors(doc, version) == []


def test_the_schemas_are_bundled_and_cover_every_kind() -> None:
    """Offline: the schemas come with the package; none is fetched. Every kind used here has
    one (an unknown kind or apiVersion is reported, not skipped)."""
    assert kubernetes_validate.__version__.startswith("1.")
    kinds = {(d["apiVersion"], d["kind"]) for _, d in DOCS}
    assert ("autoscaling/v2", "HorizontalPodAutoscaler") in kinds
    assert {"Deployment", "Service", "Job", "ConfigMap", "Secret", "Namespace"} <= {
        k for _, k in kinds
    }
    made_up = {"apiVersion": "autoscaling/v9", "kind": "HorizontalPodAutoscaler"}
    assert schema_errors(made_up | {"metadata": {"name": "x"}}, VERSIONS[-1])


def _misspelt_probe_field(docs: list[Doc]) -> Doc:
    dep = find(docs, "Deployment", "routing")
    dep["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/"
    return dep


def _port_as_string(docs: list[Doc]) -> Doc:
    dep = find(docs, "Deployment", "intake")
    dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8001"
    return dep


def _hpa_without_max(docs: list[Doc]) -> Doc:
    hpa = find(docs, "HorizontalPodAutoscaler", "gateway")
    del hpa["spec"]["maxReplicas"]
    return hpa


def _hpa_v1_fields_in_v2(docs: list[Doc]) -> Doc:
    hpa = find(docs, "HorizontalPodAutoscaler", "tracking")
    hpa["spec"]["targetCPUUtilizationPercentage"] = 70
    return hpa


@pytest.mark.parametrize(
    "breaks", [_misspelt_probe_field, _port_as_string, _hpa_without_max, _hpa_v1_fields_in_v2]
)
def test_schema_validation_rejects_a_broken_copy(breaks: Callable[[list[Doc]], Doc]) -> None:
    broken = breaks(only_docs())
    assert schema_errors(broken, VERSIONS[-1]) != []


# -- kustomization -------------------------------------------------------------------------------

KUSTOMIZATION = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    listed = KUSTOMIZATION["resources"]
    assert len(listed) == len(set(listed)), "a file is listed twice"
    for name in listed:
        assert (K8S / name).is_file(), f"kustomization.yaml lists {name}, which does not exist"
    expected = {p.name for p in k8s_files()} - {"secret.example.yaml"}
    assert set(listed) == expected
    assert KUSTOMIZATION["namespace"] == "xinfang"


def test_kustomization_does_not_set_replicas() -> None:
    """The HPAs own the replica counts: neither a `replicas:` entry nor a patch may set them."""
    assert "replicas" not in KUSTOMIZATION
    for key in ("patches", "patchesStrategicMerge", "patchesJson6902"):
        assert "replicas" not in yaml.safe_dump(KUSTOMIZATION.get(key, [])), key


def test_kustomization_renames_the_image_every_container_runs() -> None:
    (image,) = KUSTOMIZATION["images"]
    for doc in of_kind(only_docs(), "Deployment") + of_kind(only_docs(), "Job"):
        for c in containers(doc):
            assert c["image"].split(":")[0] == image["name"], (ident(doc), c["name"])


def test_kubectl_kustomize_renders_what_the_files_say(tmp_path: Any) -> None:
    """`kubectl kustomize` (kustomize built into kubectl; no cluster needed) renders the
    directory: every object of the listed files, in namespace xinfang, with the image of
    kustomization.yaml, no Deployment with `replicas`, and each valid against the schema."""
    kubectl = tool("kubectl")
    out = subprocess.run(
        [str(kubectl), "kustomize", str(K8S)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    sources = [d for name, d in DOCS if name in KUSTOMIZATION["resources"]]
    assert sorted(map(ident, rendered)) == sorted(map(ident, sources))
    (image,) = KUSTOMIZATION["images"]
    for doc in rendered:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "xinfang", ident(doc)
        if doc["kind"] == "Deployment":
            assert "replicas" not in doc["spec"], f"{ident(doc)}: the HPA owns replicas"
        for c in containers(doc):
            assert c["image"] == f"{image['newName']}:{image['newTag']}", ident(doc)
        assert schema_errors(doc, VERSIONS[-1]) == []


# -- pods: probes, resources, non-root, secrets by reference -------------------------------------


def pod_spec(doc: Doc) -> Doc:
    return doc["spec"]["template"]["spec"]


def containers(doc: Doc) -> list[Doc]:
    if doc.get("kind") not in ("Deployment", "Job"):
        return []
    spec = pod_spec(doc)
    return list(spec.get("initContainers", [])) + list(spec.get("containers", []))


def secret_keys(docs: list[Doc]) -> dict[str, set[str]]:
    """The Secrets the manifests may refer to (secret.example.yaml) and their keys."""
    return {
        d["metadata"]["name"]: set(d.get("stringData", {})) | set(d.get("data", {}))
        for d in of_kind(docs, "Secret")
    }


def config_keys(docs: list[Doc]) -> dict[str, set[str]]:
    return {d["metadata"]["name"]: set(d.get("data", {})) for d in of_kind(docs, "ConfigMap")}


def env_problems(doc: Doc, c: Doc, docs: list[Doc]) -> list[str]:
    where = f"{ident(doc)} container {c['name']}"
    problems = []
    secrets, configs = secret_keys(docs), config_keys(docs)
    for source in c.get("envFrom", []):
        if "secretRef" in source and source["secretRef"]["name"] not in secrets:
            problems.append(f"{where}: envFrom secret {source['secretRef']['name']} is not defined")
        if "configMapRef" in source and source["configMapRef"]["name"] not in configs:
            problems.append(f"{where}: envFrom ConfigMap {source['configMapRef']['name']} unknown")
    for var in c.get("env", []):
        name = var["name"]
        if "value" in var:
            value = str(var["value"])
            if SECRET_NAME.search(name):
                problems.append(f"{where}: {name} is a literal value; use a secretKeyRef")
            if CREDENTIALS_IN_URL.search(value):
                problems.append(f"{where}: {name} has credentials in a literal URL")
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None and ref["key"] not in secrets.get(ref["name"], set()):
            problems.append(f"{where}: {name} refers to {ref['name']}/{ref['key']}, not defined")
        ref = var.get("valueFrom", {}).get("configMapKeyRef")
        if ref is not None and ref["key"] not in configs.get(ref["name"], set()):
            problems.append(f"{where}: {name} refers to ConfigMap {ref['name']}/{ref['key']}")
        if SECRET_NAME.search(name) and ref is not None:
            problems.append(f"{where}: {name} comes from a ConfigMap; secrets belong in a Secret")
    return problems


def security_problems(doc: Doc, c: Doc) -> list[str]:
    """What the namespace's Pod Security Standard "restricted" (namespace.yaml) demands, and
    what would make the kubelet refuse to start the pod (runAsNonRoot with uid 0)."""
    where = f"{ident(doc)} container {c['name']}"
    pod, own = pod_spec(doc).get("securityContext", {}), c.get("securityContext", {})
    problems = []

    def setting(key: str) -> Any:
        return own.get(key, pod.get(key))

    if setting("runAsNonRoot") is not True:
        problems.append(f"{where}: runAsNonRoot is not true")
    if setting("runAsUser") == 0:
        problems.append(f"{where}: runs as uid 0")
    if (setting("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
        problems.append(f"{where}: no RuntimeDefault seccomp profile")
    if own.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: allowPrivilegeEscalation is not false")
    if "ALL" not in own.get("capabilities", {}).get("drop", []):
        problems.append(f"{where}: capabilities are not all dropped")
    if own.get("privileged"):
        problems.append(f"{where}: privileged")
    return problems


def declared_port(c: Doc, port: Any) -> int | None:
    """The container port a probe or Service names (by name or number), if declared."""
    for p in c.get("ports", []):
        if port in (p.get("name"), p["containerPort"]):
            return p["containerPort"]
    return None


def deployment_problems(docs: list[Doc]) -> list[str]:
    problems = []
    for doc in of_kind(docs, "Deployment"):
        name = ident(doc)
        template_labels = doc["spec"]["template"]["metadata"]["labels"]
        if not doc["spec"]["selector"]["matchLabels"].items() <= template_labels.items():
            problems.append(f"{name}: the selector does not match its own pod template")
        if len(pod_spec(doc)["containers"]) != 1:
            problems.append(f"{name}: expected one container")
        for c in pod_spec(doc)["containers"]:
            where = f"{name} container {c['name']}"
            for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                get = c.get(probe, {}).get("httpGet")
                if get is None:
                    problems.append(f"{where}: no {probe} with httpGet")
                    continue
                if get.get("path") != path:
                    problems.append(f"{where}: {probe} asks {get.get('path')}, not {path}")
                if declared_port(c, get.get("port")) is None:
                    problems.append(f"{where}: {probe} port {get.get('port')} is not declared")
            requests = c.get("resources", {}).get("requests", {})
            for resource in ("cpu", "memory"):
                if resource not in requests:
                    problems.append(f"{where}: no {resource} request")
            if "memory" not in c.get("resources", {}).get("limits", {}):
                problems.append(f"{where}: no memory limit")
            if "command" in c:
                problems.append(f"{where}: overrides the image's entrypoint (xinfang)")
            args = cli_args(c.get("args", []))
            if isinstance(args, str):
                problems.append(f"{where}: `xinfang {' '.join(c.get('args', []))}`: {args}")
            elif args.command != "serve" or args.service != doc["metadata"]["name"]:
                problems.append(f"{where}: does not run `serve {doc['metadata']['name']}`")
            elif declared_port(c, args.port) is None:
                problems.append(f"{where}: serves on {args.port}, which is not a container port")
    for doc in of_kind(docs, "Deployment") + of_kind(docs, "Job"):
        for c in containers(doc):
            problems += env_problems(doc, c, docs)
            problems += security_problems(doc, c)
            if "cpu" not in c.get("resources", {}).get("requests", {}):
                problems.append(f"{ident(doc)} container {c['name']}: no cpu request")
    return problems


def test_deployments_probe_request_and_run_as_non_root() -> None:
    deployments = {d["metadata"]["name"] for d in of_kind(only_docs(), "Deployment")}
    assert deployments == set(PORTS)
    assert deployment_problems(only_docs()) == []


def test_secrets_are_placeholders_and_configmaps_hold_no_secret() -> None:
    """secret.example.yaml holds no real value; the ConfigMap nothing secret-looking."""
    docs = only_docs()
    for secret in of_kind(docs, "Secret"):
        for key, value in secret["stringData"].items():
            assert "REPLACE_ME" in value, f"{ident(secret)}: {key} is not a placeholder"
    for cm in of_kind(docs, "ConfigMap"):
        for key, value in cm["data"].items():
            assert not SECRET_NAME.search(key), f"{ident(cm)}: {key} belongs in a Secret"
            assert not CREDENTIALS_IN_URL.search(str(value)), f"{ident(cm)}: {key}"
    config = find(docs, "ConfigMap", "xinfang-config")["data"]
    assert config["XINFANG_MIGRATE_ON_START"] == "false"  # the Job migrates
    assert config["XINFANG_ENV"] == "production"
    # each service gets its own database URL and no other's
    for doc in of_kind(docs, "Deployment"):
        urls = {
            v["name"]
            for c in containers(doc)
            for v in c.get("env", [])
            if v["name"].endswith("_DATABASE_URL")
        }
        name = doc["metadata"]["name"]
        assert urls == ({f"XINFANG_{name.upper()}_DATABASE_URL"} if name in SERVICES else set())


def _literal_secret(docs: list[Doc]) -> None:
    c = pod_spec(find(docs, "Deployment", "intake"))["containers"][0]
    c["env"].append({"name": "XINFANG_HMAC_KEY", "value": "not-so-secret-after-all"})


def _literal_database_url(docs: list[Doc]) -> None:
    c = pod_spec(find(docs, "Deployment", "routing"))["containers"][0]
    url = "postgresql+asyncpg://u:hunter2@db/routing"
    c["env"][0] = {"name": "XINFANG_ROUTING_DATABASE_URL", "value": url}


def _credentials_under_another_name(docs: list[Doc]) -> None:
    c = pod_spec(find(docs, "Deployment", "gateway"))["containers"][0]
    c.setdefault("env", []).append({"name": "UPSTREAM", "value": "http://admin:pw@intake:8001"})


def _unknown_secret_key(docs: list[Doc]) -> None:
    c = pod_spec(find(docs, "Deployment", "tracking"))["containers"][0]
    c["env"][0]["valueFrom"]["secretKeyRef"]["key"] = "trackign"


def _readiness_on_healthz(docs: list[Doc]) -> None:
    c = pod_spec(find(docs, "Deployment", "evaluation"))["containers"][0]
    c["readinessProbe"]["httpGet"]["path"] = "/healthz"


def _liveness_on_undeclared_port(docs: list[Doc]) -> None:
    c = pod_spec(find(docs, "Deployment", "gateway"))["containers"][0]
    c["livenessProbe"]["httpGet"]["port"] = 9000


def _no_memory_request(docs: list[Doc]) -> None:
    c = pod_spec(find(docs, "Deployment", "intake"))["containers"][0]
    del c["resources"]["requests"]["memory"]


def _root(docs: list[Doc]) -> None:
    pod_spec(find(docs, "Deployment", "routing"))["securityContext"]["runAsNonRoot"] = False


def _job_escalates(docs: list[Doc]) -> None:
    c = pod_spec(find(docs, "Job", "xinfang-migrate"))["containers"][0]
    c["securityContext"]["allowPrivilegeEscalation"] = True


def _serves_the_wrong_process(docs: list[Doc]) -> None:
    c = pod_spec(find(docs, "Deployment", "tracking"))["containers"][0]
    c["args"] = ["serve", "routing", "--port", "8003"]


def _unknown_command(docs: list[Doc]) -> None:
    c = pod_spec(find(docs, "Deployment", "intake"))["containers"][0]
    c["args"] = ["run", "intake"]


def _serves_on_another_port(docs: list[Doc]) -> None:
    c = pod_spec(find(docs, "Deployment", "evaluation"))["containers"][0]
    c["args"] = ["serve", "evaluation", "--port", "8080"]


@pytest.mark.parametrize(
    ("breaks", "reported"),
    [
        (_literal_secret, "XINFANG_HMAC_KEY is a literal value"),
        (_literal_database_url, "XINFANG_ROUTING_DATABASE_URL is a literal value"),
        (_credentials_under_another_name, "credentials in a literal URL"),
        (_unknown_secret_key, "xinfang-databases/trackign, not defined"),
        (_readiness_on_healthz, "readinessProbe asks /healthz"),
        (_liveness_on_undeclared_port, "livenessProbe port 9000 is not declared"),
        (_no_memory_request, "no memory request"),
        (_root, "runAsNonRoot is not true"),
        (_job_escalates, "Job/xinfang-migrate container topics: allowPrivilegeEscalation"),
        (_serves_the_wrong_process, "does not run `serve tracking`"),
        (_unknown_command, "invalid choice: 'run'"),
        (_serves_on_another_port, "serves on 8080"),
    ],
)
def test_deployment_checks_catch_a_broken_copy(
    breaks: Callable[[list[Doc]], None], reported: str
) -> None:
    docs = only_docs()
    breaks(docs)
    problems = deployment_problems(docs)
    assert any(reported in p for p in problems), problems


# -- autoscaling -----------------------------------------------------------------------------------


def partitions(docs: list[Doc]) -> int:
    return int(find(docs, "ConfigMap", "xinfang-config")["data"]["XINFANG_TOPIC_PARTITIONS"])


def hpa_problems(docs: list[Doc]) -> list[str]:
    """Every Deployment is stateless (the gateway holds nothing, the services keep their state
    in PostgreSQL and Kafka), so every one has an HPA that owns its replica count."""
    problems = []
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    deployments = {d["metadata"]["name"]: d for d in of_kind(docs, "Deployment")}
    for hpa in hpas:
        name, spec = ident(hpa), hpa["spec"]
        ref = spec["scaleTargetRef"]
        target = deployments.get(ref["name"])
        if hpa["apiVersion"] != "autoscaling/v2":
            problems.append(f"{name}: {hpa['apiVersion']}, not autoscaling/v2")
        if (ref.get("apiVersion"), ref["kind"]) != ("apps/v1", "Deployment") or target is None:
            problems.append(f"{name}: targets {ref['kind']}/{ref['name']}, not a Deployment here")
            continue
        low, high = spec.get("minReplicas", 1), spec["maxReplicas"]
        if low < 2:
            problems.append(f"{name}: minReplicas {low} < 2 (one pod is no redundancy)")
        if high <= low:
            problems.append(f"{name}: maxReplicas {high} leaves nothing to scale")
        if ref["name"] in SERVICES and high > partitions(docs):
            problems.append(
                f"{name}: maxReplicas {high} > {partitions(docs)} partitions: consumers idle"
            )
        cpu = [
            m["resource"]["target"]
            for m in spec.get("metrics", [])
            if m["type"] == "Resource" and m["resource"]["name"] == "cpu"
        ]
        if not cpu or cpu[0].get("type") != "Utilization":
            problems.append(f"{name}: no CPU utilization target")
        elif not 0 < cpu[0]["averageUtilization"] <= 100:
            problems.append(f"{name}: CPU target {cpu[0]['averageUtilization']}%")
        for c in pod_spec(target)["containers"]:
            if "cpu" not in c.get("resources", {}).get("requests", {}):
                problems.append(f"{name}: {c['name']} has no CPU request to measure against")
        down = spec.get("behavior", {}).get("scaleDown", {})
        if down.get("stabilizationWindowSeconds", 0) < 60:
            problems.append(f"{name}: scale-down stabilization under 60 s (flapping)")
        for pdb in of_kind(docs, "PodDisruptionBudget"):
            same_pods = pdb["spec"]["selector"] == target["spec"]["selector"]
            if same_pods and pdb["spec"].get("minAvailable", 0) >= low:
                problems.append(f"{ident(pdb)}: minAvailable blocks every drain at {low}")
    targeted = [h["spec"]["scaleTargetRef"]["name"] for h in hpas]
    for dep_name, dep in deployments.items():
        if targeted.count(dep_name) != 1:
            problems.append(f"Deployment/{dep_name}: {targeted.count(dep_name)} HPAs target it")
        elif "replicas" in dep["spec"]:
            problems.append(
                f"Deployment/{dep_name}: sets replicas, which every apply resets under its HPA"
            )
    return problems


def test_every_deployment_has_an_hpa_that_owns_its_replicas() -> None:
    assert {
        h["spec"]["scaleTargetRef"]["name"] for h in of_kind(only_docs(), "HorizontalPodAutoscaler")
    } == set(PORTS)
    assert hpa_problems(only_docs()) == []


def test_hpas_live_beside_their_deployment() -> None:
    for name in PORTS:
        kinds = {d["kind"] for d in load_all(K8S / f"{name}.yaml")}
        assert "HorizontalPodAutoscaler" in kinds, name


def _replicas_back(docs: list[Doc]) -> None:
    find(docs, "Deployment", "routing")["spec"]["replicas"] = 2


def _more_consumers_than_partitions(docs: list[Doc]) -> None:
    find(docs, "HorizontalPodAutoscaler", "tracking")["spec"]["maxReplicas"] = 24


def _hpa_lost(docs: list[Doc]) -> None:
    docs.remove(find(docs, "HorizontalPodAutoscaler", "intake"))


def _hpa_aims_at_a_typo(docs: list[Doc]) -> None:
    find(docs, "HorizontalPodAutoscaler", "gateway")["spec"]["scaleTargetRef"]["name"] = "gatway"


def _single_replica(docs: list[Doc]) -> None:
    find(docs, "HorizontalPodAutoscaler", "evaluation")["spec"]["minReplicas"] = 1


def _no_cpu_request(docs: list[Doc]) -> None:
    c = pod_spec(find(docs, "Deployment", "gateway"))["containers"][0]
    del c["resources"]["requests"]["cpu"]


def _flapping(docs: list[Doc]) -> None:
    hpa = find(docs, "HorizontalPodAutoscaler", "routing")
    hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] = 0


@pytest.mark.parametrize(
    ("breaks", "reported"),
    [
        (_replicas_back, "Deployment/routing: sets replicas"),
        (_more_consumers_than_partitions, "maxReplicas 24 > 12 partitions"),
        (_hpa_lost, "Deployment/intake: 0 HPAs"),
        (_hpa_aims_at_a_typo, "targets Deployment/gatway"),
        (_single_replica, "minReplicas 1 < 2"),
        (_no_cpu_request, "gateway has no CPU request"),
        (_flapping, "scale-down stabilization"),
    ],
)
def test_hpa_checks_catch_a_broken_copy(breaks: Callable[[list[Doc]], None], reported: str) -> None:
    docs = only_docs()
    breaks(docs)
    problems = hpa_problems(docs)
    assert any(reported in p for p in problems), problems


# -- the migration Job ---------------------------------------------------------------------------


def test_the_migration_job_migrates_every_database_then_creates_topics() -> None:
    job = find(only_docs(), "Job", "xinfang-migrate")
    spec = pod_spec(job)
    assert spec["restartPolicy"] in ("OnFailure", "Never")
    assert job["spec"]["backoffLimit"] >= 1
    (migrate,) = spec["initContainers"]  # runs to completion before the topics container
    args = cli_args(migrate["args"])
    assert not isinstance(args, str), args
    assert (args.command, args.services) == ("migrate", [])  # [] = all four
    urls = {
        v["name"]: v["valueFrom"]["secretKeyRef"]["key"]
        for v in migrate["env"]
        if v["name"].endswith("_DATABASE_URL")
    }
    assert urls == {f"XINFANG_{s.upper()}_DATABASE_URL": s for s in SERVICES}
    (topics,) = spec["containers"]
    args = cli_args(topics["args"])
    assert not isinstance(args, str), args
    assert (args.command, args.action) == ("topics", "create")
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migrate"


# -- Services ------------------------------------------------------------------------------------


def service_problems(docs: list[Doc]) -> list[str]:
    problems = []
    deployments = of_kind(docs, "Deployment")
    for svc in of_kind(docs, "Service"):
        selector = svc["spec"].get("selector") or {}
        pods = [
            d
            for d in deployments
            if selector and selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        if len(pods) != 1:
            problems.append(f"{ident(svc)}: selects the pods of {len(pods)} Deployments")
            continue
        (c,) = pod_spec(pods[0])["containers"]
        for port in svc["spec"]["ports"]:
            number = declared_port(c, port.get("targetPort", port["port"]))
            if number is None:
                problems.append(f"{ident(svc)}: targetPort {port.get('targetPort')} undeclared")
            elif number != port["port"]:
                problems.append(f"{ident(svc)}: port {port['port']} forwards to {number}")
    config = find(docs, "ConfigMap", "xinfang-config")["data"]
    ports = {
        s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]}
        for s in of_kind(docs, "Service")
    }
    for service in SERVICES:
        url = config[f"XINFANG_{service.upper()}_URL"]
        host, _, port = url.removeprefix("http://").partition(":")
        if int(port or 80) not in ports.get(host, set()):
            problems.append(f"ConfigMap: XINFANG_{service.upper()}_URL {url} reaches no Service")
    return problems


def test_services_select_a_deployment_and_a_declared_port() -> None:
    assert {s["metadata"]["name"] for s in of_kind(only_docs(), "Service")} == set(PORTS)
    assert service_problems(only_docs()) == []


def _selector_typo(docs: list[Doc]) -> None:
    find(docs, "Service", "routing")["spec"]["selector"]["app.kubernetes.io/name"] = "routeing"


def _target_port_typo(docs: list[Doc]) -> None:
    find(docs, "Service", "intake")["spec"]["ports"][0]["targetPort"] = "htp"


def _gateway_points_elsewhere(docs: list[Doc]) -> None:
    find(docs, "ConfigMap", "xinfang-config")["data"]["XINFANG_TRACKING_URL"] = (
        "http://tracking:8004"
    )


@pytest.mark.parametrize(
    ("breaks", "reported"),
    [
        (_selector_typo, "Service/routing: selects the pods of 0"),
        (_target_port_typo, "Service/intake: targetPort htp"),
        (_gateway_points_elsewhere, "XINFANG_TRACKING_URL http://tracking:8004 reaches no"),
    ],
)
def test_service_checks_catch_a_broken_copy(
    breaks: Callable[[list[Doc]], None], reported: str
) -> None:
    docs = only_docs()
    breaks(docs)
    problems = service_problems(docs)
    assert any(reported in p for p in problems), problems
