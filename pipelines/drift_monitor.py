"""The drift-monitor pipeline: new uploads in; a validated dataset version and a drift decision out.

`tinymlops monitor` runs it and, on an alert, starts a continuous-training run (pipelines/monitor.py):
pipelines use no control flow (see shared/design.md), so the trigger lives outside.
"""

from kfp import dsl

from components.config import ClusterConfig
from components.detect_drift.component import detect_drift
from components.ingest.component import ingest
from components.validate_schema.component import validate_schema
from pipelines.common import DEFAULT_CONFIG_JSON, configure


def drift_monitor_pipeline(cluster: ClusterConfig):
    """The pipeline, its tasks in the images `cluster` names and its store defaulting to the cluster's."""

    @dsl.pipeline(name="drift-monitor",
                  description="Ingest new device uploads, validate them against the schema, detect drift.")
    def drift_monitor(store_url: str = cluster.store_url, config_json: str = DEFAULT_CONFIG_JSON) -> str:
        common = {"store_url": store_url, "config_json": config_json}
        # 1. ingest: uploads under incoming/ -> an immutable dataset version (+ quarantine)
        ingest_task = configure(ingest(**common), "ingest", cluster)
        # 2. validate-schema: TFDV statistics of the new windows against the stored schema
        validated = configure(validate_schema(**common, dataset_version=ingest_task.outputs["new_version"],
                                              dataset=ingest_task.outputs["dataset"]), "validate-schema", cluster)
        # 3. detect-drift: the production model's training data vs every window it has not seen
        detected = configure(detect_drift(**common, dataset_version=ingest_task.outputs["dataset_version"]),
                             "detect-drift", cluster, memory="4Gi").after(validated)
        return detected.outputs["Output"]

    return drift_monitor
