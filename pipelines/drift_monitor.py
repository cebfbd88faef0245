"""The drift-monitor pipeline: new uploads in, a validated dataset version out.

Later issues add detect-drift and the trigger that starts a continuous-training run.
"""

from kfp import dsl

from components.ingest.component import ingest
from components.validate_schema.component import validate_schema
from pipelines.common import CLUSTER_STORE, DEFAULT_CONFIG_JSON, configure


@dsl.pipeline(name="drift-monitor",
              description="Ingest new device uploads and validate them against the schema.")
def drift_monitor(store_url: str = CLUSTER_STORE, config_json: str = DEFAULT_CONFIG_JSON) -> str:
    # 1. ingest: uploads under incoming/ -> an immutable dataset version (+ quarantine)
    ingest_task = configure(ingest(store_url=store_url, config_json=config_json), "ingest")
    # 2. validate-schema: TFDV statistics of the new windows against the stored schema
    configure(validate_schema(store_url=store_url, config_json=config_json,
                              dataset_version=ingest_task.outputs["new_version"],
                              dataset=ingest_task.outputs["dataset"]), "validate-schema")
    return ingest_task.outputs["new_version"]
