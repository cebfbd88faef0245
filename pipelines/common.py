"""What every task of a tinymlops pipeline shares on the cluster."""

import dataclasses

from kfp import dsl, kubernetes

from components.config import ClusterConfig, Config, FirmwareConfig, LabellingConfig


def cluster_default() -> Config:
    """The built-in configuration as a cluster runs it: its builder image has the toolchains, so promotion
    waits for built firmware; people answer the relabel queue, so the simulator's oracle is off."""
    return dataclasses.replace(Config(), firmware=FirmwareConfig(require_for_promotion=True),
                               labelling=LabellingConfig(oracle=False))


# The built-in configuration, a pipeline's `config_json` default; its store default is the ClusterConfig's it
# is built for. `tinymlops compile --config` overrides both; `tinymlops run` passes the local ones instead.
DEFAULT_CONFIG_JSON = cluster_default().to_json()


def configure(task: dsl.PipelineTask, display_name: str, cluster: ClusterConfig, *, builder: bool = False,
              cache: bool = False, cpu: str = "1", memory: str = "2Gi", retries: int = 2) -> dsl.PipelineTask:
    """Name the task, put it in the cluster's runtime image (with `builder`, its firmware-builder image), size
    it, retry it, and give it the store's credentials from the cluster's secret (cluster.store_secret).

    Caching is off unless the task's inputs fully determine its output: a task
    that reads moving data (new uploads, the schema, the production pointer)
    would otherwise be served a stale result on a run with the same parameters.
    Retries with backoff cover transient store and node failures.
    """
    task.set_display_name(display_name)
    task.set_container_image(cluster.firmware_builder_image if builder else cluster.runtime_image)
    task.set_caching_options(cache)
    task.set_cpu_request(cpu).set_cpu_limit(cpu)
    task.set_memory_request(memory).set_memory_limit(memory)
    if retries:
        task.set_retry(num_retries=retries, backoff_duration="30s", backoff_factor=2.0, backoff_max_duration="600s")
    kubernetes.use_secret_as_env(task, secret_name=cluster.store_secret, secret_key_to_env={
        "accesskey": "MINIO_ACCESS_KEY", "secretkey": "MINIO_SECRET_KEY"})
    return task
