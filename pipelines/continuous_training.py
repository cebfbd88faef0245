"""The continuous-training pipeline: new data in, a blessed int8 model in production out.

It trains on the labelled dataset versions available: what relabel-queue's import added (the demo's
oracle answers at once) or, on a real fleet, labels imported since the last run.
"""

from kfp import dsl

from components.config import ClusterConfig
from components.detect_drift.component import detect_drift
from components.evaluate.component import evaluate
from components.export_c_array.component import export_c_array
from components.firmware_build.component import firmware_build
from components.ingest.component import ingest
from components.promote.component import promote
from components.quantize.component import quantize
from components.relabel_queue.component import relabel_queue
from components.train.component import train
from components.validate_schema.component import validate_schema
from pipelines.common import DEFAULT_CONFIG_JSON, configure


def continuous_training_pipeline(cluster: ClusterConfig):
    """The pipeline, its tasks in the images `cluster` names and its store defaulting to the cluster's."""

    @dsl.pipeline(name="continuous-training",
                  description="Ingest, validate, detect drift, queue labels, train, quantize to int8, evaluate, "
                              "export C, build firmware, promote.")
    def continuous_training(store_url: str = cluster.store_url, config_json: str = DEFAULT_CONFIG_JSON) -> str:
        common = {"store_url": store_url, "config_json": config_json}
        # 1. ingest: new uploads -> a dataset version (or the latest, when nothing is new)
        ingested = configure(ingest(**common), "ingest", cluster)
        # 2. validate-schema: blocking anomalies stop the run before training
        validated = configure(validate_schema(**common, dataset_version=ingested.outputs["new_version"],
                                              dataset=ingested.outputs["dataset"]), "validate-schema", cluster)
        # 3. detect-drift: what changed since the production model's training data, with evidence
        detected = configure(detect_drift(**common, dataset_version=ingested.outputs["dataset_version"]),
                             "detect-drift", cluster, memory="4Gi").after(validated)
        # 4. relabel-queue: windows to label (stale old labels, uncertain new windows) -> the version to train on
        queued = configure(relabel_queue(**common, decision=detected.outputs["decision"]), "relabel-queue", cluster)
        version = queued.outputs["Output"]
        # 5. train: float model, split by device, early stopping
        trained = configure(train(**common, dataset_version=version), "train", cluster,
                            cache=True, cpu="2", memory="4Gi")
        # 6. quantize: QAT, then full-integer int8
        quantized = configure(quantize(**common, dataset_version=version, model=trained.outputs["model"]),
                              "quantize", cluster, cache=True, cpu="2", memory="4Gi")
        # 7. evaluate: float and int8 (TFLM) on holdout devices, budgets, blessing
        evaluated = configure(evaluate(**common, dataset_version=version, model=trained.outputs["model"],
                                       tflite=quantized.outputs["tflite"]), "evaluate", cluster, memory="4Gi")
        # 8. export-C-array: model_data.h/.cc, model_settings.h, model_ops.h
        exported = configure(export_c_array(config_json=config_json, tflite=quantized.outputs["tflite"],
                                            evaluation=evaluated.outputs["evaluation"]), "export-c-array", cluster,
                             cache=True)
        # 9. firmware-build: both boards, in the builder image (or exactly what is missing); the shipped
        #    sources on the Cortex-M4F under QEMU, bit-exact with the host on evaluate's sample
        built = configure(firmware_build(c_sources=exported.outputs["c_sources"],
                                         target_inputs=evaluated.outputs["target_inputs"]), "firmware-build", cluster,
                          builder=True, cache=True, cpu="2", memory="4Gi")
        # 10. promote: register the version; production moves only if blessed (and, if required, built)
        promoted = configure(promote(
            **common, model=trained.outputs["model"], tflite=quantized.outputs["tflite"],
            ops=quantized.outputs["ops"], training=trained.outputs["training"],
            curves_png=trained.outputs["curves_png"], evaluation=evaluated.outputs["evaluation"],
            card=evaluated.outputs["card"], c_sources=exported.outputs["c_sources"],
            firmware=built.outputs["firmware"]), "promote", cluster)
        return promoted.outputs["Output"]

    return continuous_training
