"""The continuous-training pipeline: new data in, a blessed int8 model in production out.

Later issues insert detect-drift and relabel-queue before train.
"""

from kfp import dsl

from components.evaluate.component import evaluate
from components.export_c_array.component import export_c_array
from components.firmware_build.component import firmware_build
from components.ingest.component import ingest
from components.promote.component import promote
from components.quantize.component import quantize
from components.train.component import train
from components.validate_schema.component import validate_schema
from pipelines.common import CLUSTER_STORE, DEFAULT_CONFIG_JSON, configure


@dsl.pipeline(name="continuous-training",
              description="Ingest, validate, train, quantize to int8, evaluate, export C, build firmware, promote.")
def continuous_training(store_url: str = CLUSTER_STORE, config_json: str = DEFAULT_CONFIG_JSON) -> str:
    common = {"store_url": store_url, "config_json": config_json}
    # 1. ingest: new uploads -> a dataset version (or the latest, when nothing is new)
    ingested = configure(ingest(**common), "ingest")
    version = ingested.outputs["dataset_version"]
    # 2. validate-schema: blocking anomalies stop the run before training
    validated = configure(validate_schema(**common, dataset_version=ingested.outputs["new_version"],
                                          dataset=ingested.outputs["dataset"]), "validate-schema")
    # 3. train: float model, split by device, early stopping
    trained = configure(train(**common, dataset_version=version), "train", cache=True, cpu="2",
                        memory="4Gi").after(validated)
    # 4. quantize: QAT, then full-integer int8
    quantized = configure(quantize(**common, dataset_version=version, model=trained.outputs["model"]), "quantize",
                          cache=True, cpu="2", memory="4Gi")
    # 5. evaluate: float and int8 (TFLM) on holdout devices, budgets, blessing
    evaluated = configure(evaluate(**common, dataset_version=version, model=trained.outputs["model"],
                                   tflite=quantized.outputs["tflite"]), "evaluate", memory="4Gi")
    # 6. export-C-array: model_data.h/.cc, model_settings.h, model_ops.h
    exported = configure(export_c_array(config_json=config_json, tflite=quantized.outputs["tflite"],
                                        evaluation=evaluated.outputs["evaluation"]), "export-c-array",
                         cache=True)
    # 7. firmware-build: both boards, in the builder image (or exactly what is missing)
    built = configure(firmware_build(c_sources=exported.outputs["c_sources"]), "firmware-build", cache=True,
                      cpu="2", memory="4Gi")
    # 8. promote: register the version; production moves only if blessed (and, if required, built)
    promoted = configure(promote(
        **common, model=trained.outputs["model"], tflite=quantized.outputs["tflite"],
        ops=quantized.outputs["ops"], training=trained.outputs["training"], curves_png=trained.outputs["curves_png"],
        evaluation=evaluated.outputs["evaluation"], card=evaluated.outputs["card"],
        c_sources=exported.outputs["c_sources"], firmware=built.outputs["firmware"]), "promote")
    return promoted.outputs["Output"]
