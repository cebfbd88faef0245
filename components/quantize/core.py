"""Quantize: quantization-aware training (tfmot), then full-integer int8 conversion.

The frozen normalization layers get a QuantizeConfig that quantizes only
their output: tfmot re-adds every quantized weight to the trainable weights,
even on a frozen layer, so with weight quantizers the normalization would
drift during QAT. The converter still stores its kernel as int8 per channel,
which is exact for a 1x1 depthwise kernel.

Export uses a batch_size=1 clone of the QAT model: a fixed batch avoids the
SHAPE/STRIDED_SLICE/PACK ops a dynamic batch adds, so the board's op
resolver stays small.

No step.py: the store side is one read, the dataset version's lineage
(components/datasets.py `read_lineage`), which component.py makes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.config import Config
from components.int8_model import operator_names
from components.model import LabelledData, build_model, compile_model, is_normalization_layer, seed_everything
from components.model_inputs import input_groups


def _norm_quantize_config():
    import tensorflow_model_optimization as tfmot

    quantizers = tfmot.quantization.keras.quantizers

    class NormQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                      narrow_range=False)]

        def get_config(self):
            return {}

    return NormQuantizeConfig


def quantization_aware(model):
    """The tfmot QAT version of a float model (default 8-bit scheme)."""
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    q = tfmot.quantization.keras
    norm_config = _norm_quantize_config()

    def annotate(layer):
        clone = layer.__class__.from_config(layer.get_config())
        if isinstance(layer, keras.layers.InputLayer):
            return clone
        if is_normalization_layer(layer.name):
            return q.quantize_annotate_layer(clone, quantize_config=norm_config())
        return q.quantize_annotate_layer(clone)

    annotated = keras.models.clone_model(model, clone_function=annotate)
    annotated.set_weights(model.get_weights())
    with q.quantize_scope({"NormQuantizeConfig": norm_config}):
        return q.quantize_apply(annotated)


@dataclass
class QuantizeResult:
    tflite: bytes
    ops: list[str]
    qat_history: dict[str, list[float]]


def quantize(float_model, data: LabelledData, config: Config) -> QuantizeResult:
    """QAT on the training devices, then int8 conversion with a representative set from them."""
    import tensorflow as tf

    seed_everything(config.train.seed)
    groups = input_groups(config.data)
    qat = quantization_aware(float_model)
    compile_model(qat, config.train.learning_rate / 10)
    train_inputs = data.inputs(data.train, groups)
    history = qat.fit(train_inputs, data.y[data.train],
                      validation_data=(data.inputs(data.validation, groups), data.y[data.validation]),
                      epochs=config.quantize.qat_epochs, batch_size=config.train.batch_size,
                      shuffle=True, verbose=0)
    export = quantization_aware(build_model(groups, config.data.window_length, len(config.data.class_names),
                                            batch_size=1))
    export.set_weights(qat.get_weights())

    def representative():
        picks = np.random.default_rng(config.train.seed).permutation(len(train_inputs[0]))
        for k in picks[:config.quantize.representative_windows]:
            yield [inputs[k:k + 1] for inputs in train_inputs]

    converter = tf.lite.TFLiteConverter.from_keras_model(export)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    tflite = converter.convert()
    curves = {k: [float(v) for v in values] for k, values in history.history.items()}
    return QuantizeResult(tflite, operator_names(tflite), curves)
