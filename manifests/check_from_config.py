"""The manifests say what the configuration says: the bucket, the namespace and the images have one place.

    python3 manifests/check_from_config.py [MANIFESTS_DIR]      (manifests/check.sh runs it)

The one place is the configuration's `cluster` section, ClusterConfig in components/config.py (its image
defaults are components/runtime.py's, which the components' decorators use). The compiled pipelines' store and
task images, `make images`' tags and, through regen-config.sh, the ConfigMap already come from it.
base/cluster-overrides.yaml is not it: it feeds the ConfigMap and nothing else, so a bucket changed there would
miss the compiled pipelines; it must not have a `cluster` section.

Checked, each against the configuration (defaults merged with base/cluster-overrides.yaml, as the ConfigMap):
  the bucket and endpoint  base/drift-monitor-cronjob.yaml's --store, minio/minio-setup-job.yaml's MINIO_URL
                           and BUCKET                                                   (cluster.store_url)
  the namespace            base/kustomization.yaml's namespace, base/namespace.yaml's name, and the overlays'
                           secretGenerator namespaces (this one, or KFP's: minio/'s)   (cluster.namespace)
  the store's secret       the overlays' secretGenerators for it (in KFP's namespace and in this one), and
                           every secret volume of base/ holding the store's keys       (cluster.store_secret)
  the images               every container of base/ (all run the tinymlops CLI)        (cluster.runtime_image)
                           any container naming a tinymlops image, and the overlays' `images:` entries
                                                                (cluster.runtime_image, firmware_builder_image)
  the ConfigMap            base/tinymlops-config.yaml is what regen-config.sh writes now

Prints one line per disagreement, naming the file and the field, and exits 1; otherwise one line and 0.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlparse

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for components.config

from components.config import ClusterConfig, Config, load_config  # noqa: E402

POD_KINDS = ("CronJob", "Job")


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _containers(doc: dict) -> list[tuple[str, dict]]:
    """(field path, container) of a CronJob's or Job's pod."""
    if doc.get("kind") == "CronJob":
        where, spec = "spec.jobTemplate.spec.template.spec", doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    elif doc.get("kind") == "Job":
        where, spec = "spec.template.spec", doc["spec"]["template"]["spec"]
    else:
        return []
    return [(f"{where}.{group}[{i}]", c) for group in ("initContainers", "containers")
            for i, c in enumerate(spec.get(group, []))]


def _repository(image: str) -> str:
    """The image without its tag or digest."""
    name = image.split("@", 1)[0]
    head, _, tag = name.rpartition(":")
    return head if head and "/" not in tag else name


def _first_difference(found, expected, path: str = "") -> tuple[str, object, object] | None:
    if isinstance(found, dict) and isinstance(expected, dict):
        for key in list(expected) + [k for k in found if k not in expected]:
            diff = _first_difference(found.get(key), expected.get(key), f"{path}.{key}" if path else str(key))
            if diff:
                return diff
        return None
    return None if found == expected else (path, found, expected)


class Check:
    def __init__(self, manifests: Path):
        self.manifests = manifests
        self.problems: list[str] = []

    def disagree(self, file: str, field: str, found, expected, key: str) -> None:
        self.problems.append(f"{file}: {field} is {found!r}, the configuration's {key} is {expected!r}")

    def equal(self, file: str, field: str, found, expected, key: str) -> None:
        if found != expected:
            self.disagree(file, field, found, expected, key)

    def run(self) -> list[str]:
        overrides = self.manifests / "base" / "cluster-overrides.yaml"
        if "cluster" in (yaml.safe_load(overrides.read_text()) or {}):
            self.problems.append("base/cluster-overrides.yaml: cluster: the cluster's store, namespace and images "
                                 "are set in components/config.py (ClusterConfig), which the compiled pipelines "
                                 "read too; remove the section")
        config = load_config(overrides)
        self.configmap(config)
        self.store(config.cluster)
        self.namespace(config.cluster)
        self.images(config.cluster)
        self.store_secret(config.cluster)
        return self.problems

    def configmap(self, config: Config) -> None:
        file = "base/tinymlops-config.yaml"
        text = (self.manifests / file).read_text()
        body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
        expected = yaml.safe_dump(config.to_dict(), sort_keys=False)
        if body == expected:
            return
        diff = _first_difference(yaml.safe_load(body), yaml.safe_load(expected))
        field, found, wanted = diff or ("(layout)", "", "")
        self.problems.append(f"{file}: {field} is {found!r}, the configuration gives {wanted!r}: "
                             "the ConfigMap is generated, run manifests/regen-config.sh")

    def kfp_namespace(self) -> str | None:
        """Where KFP's install (and so its MinIO and the pipelines' task pods) lives: minio/'s namespace."""
        return yaml.safe_load((self.manifests / "minio" / "kustomization.yaml").read_text()).get("namespace")

    def overlays(self) -> list[tuple[str, dict]]:
        """(file, its kustomization) of each overlay."""
        return [(str(path.relative_to(self.manifests)), yaml.safe_load(path.read_text()))
                for path in sorted((self.manifests / "overlays").glob("*/kustomization.yaml"))]

    def store(self, cluster: ClusterConfig) -> None:
        url = urlparse(cluster.store_url)
        bucket = url.path.lstrip("/").partition("/")[0]
        if url.scheme != "minio" or not url.netloc or not bucket:
            self.problems.append(f"cluster.store_url {cluster.store_url!r} is not minio://host:port/bucket[/prefix]")
            return
        file = "base/drift-monitor-cronjob.yaml"
        for doc in _docs(self.manifests / file):
            for where, c in _containers(doc):
                command = c.get("command", []) + c.get("args", [])
                if "--store" in command:
                    field = f"{where}.command (--store)"
                    self.equal(file, field, command[command.index("--store") + 1], cluster.store_url,
                               "cluster.store_url")
        file = "minio/minio-setup-job.yaml"
        for doc in _docs(self.manifests / file):
            for where, c in _containers(doc):
                env = {e["name"]: (i, e.get("value")) for i, e in enumerate(c.get("env", []))}
                if "BUCKET" in env:
                    i, value = env["BUCKET"]
                    self.equal(file, f"{where}.env[{i}] (BUCKET)", value, bucket, "cluster.store_url's bucket")
                if "MINIO_URL" in env:
                    i, value = env["MINIO_URL"]
                    self.equal(file, f"{where}.env[{i}] (MINIO_URL)", urlparse(value or "").netloc, url.netloc,
                               "cluster.store_url's host:port")

    def namespace(self, cluster: ClusterConfig) -> None:
        ours = cluster.namespace
        self.equal("base/kustomization.yaml", "namespace",
                   yaml.safe_load((self.manifests / "base" / "kustomization.yaml").read_text()).get("namespace"),
                   ours, "cluster.namespace")
        for doc in _docs(self.manifests / "base" / "namespace.yaml"):
            if doc.get("kind") == "Namespace":
                self.equal("base/namespace.yaml", "metadata.name", doc["metadata"]["name"], ours, "cluster.namespace")
        kfp = self.kfp_namespace()
        for file, kustomization in self.overlays():
            if "namespace" in kustomization:
                self.equal(file, "namespace", kustomization["namespace"], ours, "cluster.namespace")
            for i, generator in enumerate(kustomization.get("secretGenerator", [])):
                found = generator.get("namespace")
                if found not in (ours, kfp):  # KFP's namespace is KFP's install's, not ours
                    self.problems.append(f"{file}: secretGenerator[{i}].namespace ({generator.get('name')}) is "
                                         f"{found!r}, neither the configuration's cluster.namespace {ours!r} "
                                         f"nor KFP's {kfp!r} (minio/kustomization.yaml)")

    def store_secret(self, cluster: ClusterConfig) -> None:
        """The secret the pipelines' tasks read (the compiled YAML names cluster.store_secret) must exist in KFP's
        namespace and in ours (the drift monitor's), and the monitor's volume of the store's keys must name it."""
        for file, kustomization in self.overlays():
            generated = {g.get("namespace") for g in kustomization.get("secretGenerator", [])
                         if g.get("name") == cluster.store_secret}
            for namespace in sorted({self.kfp_namespace(), cluster.namespace} - generated):
                self.problems.append(f"{file}: secretGenerator: no {cluster.store_secret!r} in namespace "
                                     f"{namespace!r}, the configuration's cluster.store_secret")
        file = "base/drift-monitor-cronjob.yaml"
        for doc in _docs(self.manifests / file):
            if doc.get("kind") != "CronJob":
                continue
            volumes = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"].get("volumes", [])
            for i, volume in enumerate(volumes):
                if volume["name"] == "minio-keys":
                    self.equal(file, f"spec.jobTemplate.spec.template.spec.volumes[{i}].secret.secretName",
                               volume.get("secret", {}).get("secretName"), cluster.store_secret,
                               "cluster.store_secret")

    def images(self, cluster: ClusterConfig) -> None:
        ours = {_repository(image): (image, key) for image, key in
                ((cluster.runtime_image, "cluster.runtime_image"),
                 (cluster.firmware_builder_image, "cluster.firmware_builder_image"))}
        used = set()
        for folder in ("base", "minio"):
            for path in sorted((self.manifests / folder).glob("*.yaml")):
                file = f"{folder}/{path.name}"
                for doc in _docs(path):
                    for where, c in _containers(doc):
                        image = c.get("image", "")
                        used.add(_repository(image))
                        if folder == "base":  # every workload of ours runs the tinymlops CLI
                            self.equal(file, f"{where}.image", image, cluster.runtime_image, "cluster.runtime_image")
                        elif _repository(image) in ours:
                            self.equal(file, f"{where}.image", image, *ours[_repository(image)])
        for file, kustomization in self.overlays():
            for i, entry in enumerate(kustomization.get("images", [])):
                name = entry.get("name")
                if name not in used:
                    self.problems.append(f"{file}: images[{i}].name {name!r} names no image of the manifests "
                                         f"(the configuration's cluster.runtime_image is {cluster.runtime_image!r})")
                elif name in ours and "digest" not in entry:
                    image, key = ours[name]
                    tag = image.rpartition(":")[2]
                    self.equal(file, f"images[{i}].newTag", entry.get("newTag"), tag, f"{key}'s tag")
                    self.equal(file, f"images[{i}].newName", entry.get("newName", name), name, key)


def main(argv: list[str]) -> int:
    manifests = Path(argv[0]) if argv else Path(__file__).resolve().parent
    problems = Check(manifests).run()
    for problem in problems:
        print(f"config FAIL {problem}")
    if not problems:
        cluster = load_config(manifests / "base" / "cluster-overrides.yaml").cluster
        print(f"config: the manifests agree with the configuration (store {cluster.store_url}, namespace "
              f"{cluster.namespace}, images {cluster.runtime_image}, {cluster.firmware_builder_image}, store "
              f"secret {cluster.store_secret}); the ConfigMap is current")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
