"""KFP component: quantization-aware training and int8 conversion."""

from kfp import dsl

from components.runtime import RUNTIME_IMAGE


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def quantize(store_url: str, config_json: str, dataset_version: str, model: dsl.Input[dsl.Model],
             tflite: dsl.Output[dsl.Model], ops: dsl.Output[dsl.Artifact], metrics: dsl.Output[dsl.Metrics]):
    import json

    import tf_keras as keras

    from components.config import Config
    from components.datasets import read_lineage
    from components.model import labelled_data
    from components.quantize.core import quantize
    from components.store import open_store

    config = Config.from_json(config_json)
    data = labelled_data(read_lineage(open_store(store_url, config.store), dataset_version), config)
    result = quantize(keras.models.load_model(model.path), data, config)
    with open(tflite.path, "wb") as f:
        f.write(result.tflite)
    with open(ops.path, "w") as f:
        json.dump({"ops": result.ops, "op_set": sorted(set(result.ops))}, f, indent=2)
    metrics.log_metric("tflite_bytes", len(result.tflite))
    metrics.log_metric("qat_val_accuracy", result.qat_history["val_accuracy"][-1])
