"""What every task of a tinymlops pipeline shares on the cluster."""

import dataclasses

from kfp import dsl, kubernetes

from components.config import Config, FirmwareConfig

# The cluster's store; `tinymlops run` passes the local one instead.
CLUSTER_STORE = "minio://minio-service.kubeflow:9000/tinymlops"
# The cluster's builder image has the toolchains: there, promotion waits for built firmware.
DEFAULT_CONFIG_JSON = dataclasses.replace(Config(), firmware=FirmwareConfig(require_for_promotion=True)).to_json()
# Kubernetes secret holding the store's credentials (see manifests/).
STORE_SECRET = "tinymlops-minio"


def configure(task: dsl.PipelineTask, display_name: str) -> dsl.PipelineTask:
    """Name the task, never cache it, and give it the store's credentials from a secret."""
    task.set_display_name(display_name)
    # Tasks read the store, which changes between runs with the same parameters:
    # a cached result would silently skip new uploads.
    task.set_caching_options(False)
    kubernetes.use_secret_as_env(task, secret_name=STORE_SECRET, secret_key_to_env={
        "accesskey": "MINIO_ACCESS_KEY", "secretkey": "MINIO_SECRET_KEY"})
    return task
