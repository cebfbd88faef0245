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
    from components.evaluate.core import evaluate, load_champion
    from components.holdouts import load_holdouts
    from components.store import open_store

    config = Config.from_json(config_json)
    store = open_store(store_url, config.store)
    with open(tflite.path, "rb") as f:
        result = evaluate(keras.models.load_model(model.path), f.read(), load_holdouts(store, dataset_version, config),
                          load_champion(store), config, dataset_version)
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
