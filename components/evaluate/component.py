"""KFP component: evaluate float and int8 (TFLM) on holdout devices; bless or not."""

from kfp import dsl

from components.runtime import RUNTIME_IMAGE


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def evaluate(store_url: str, config_json: str, dataset_version: str, model: dsl.Input[dsl.Model],
             tflite: dsl.Input[dsl.Model], evaluation: dsl.Output[dsl.Artifact], card: dsl.Output[dsl.Markdown],
             metrics: dsl.Output[dsl.Metrics], confusion: dsl.Output[dsl.ClassificationMetrics],
             target_inputs: dsl.Output[dsl.Artifact]) -> bool:
    """target_inputs (.npz): the int8 holdout sample and the host's scores, for firmware-build's Cortex-M4 check."""
    import json

    import numpy as np
    import tf_keras as keras

    from components.config import Config
    from components.evaluate.step import run
    from components.store import open_store

    config = Config.from_json(config_json)
    with open(tflite.path, "rb") as f:
        result = run(open_store(store_url, config.store), config, dataset_version,
                     keras.models.load_model(model.path), f.read())
    with open(evaluation.path, "w") as f:
        json.dump({"metrics": result.metrics, "blessing": result.blessing.to_dict()}, f, indent=2)
    with open(card.path, "w") as f:
        f.write(result.card)
    with open(target_inputs.path, "wb") as f:
        np.savez(f, **(result.target_inputs or {}))
    for name in ("int8_accuracy", "float_accuracy", "tflite_bytes", "arena_bytes", "tflm_mismatches"):
        metrics.log_metric(name, result.metrics[name])
    matrix = result.metrics["holdouts"]["holdout"]["int8"]["confusion"]
    confusion.log_confusion_matrix(list(config.data.class_names), matrix)
    return result.blessing.blessed
