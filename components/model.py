"""The model the project trains, quantizes and ships: its labelled data, its layers, how it is seeded.

Train and quantize both build it (quantize rebuilds it for quantization-aware training), so it lives here,
not in either step. The model takes raw sensor units: one input per unit (model_inputs.py), then a frozen
per-channel normalization (a 1x1 DepthwiseConv2D with kernel 1/std and bias -mean/std from the training
windows) inside the model. Windows are (T, 1, C) with Conv2D (k, 1) kernels because tfmot's QAT rejects Conv1D.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from components.config import Config
from components.datasets import WindowSet
from components.model_inputs import DeviceSplit, InputGroup, label_indices, model_inputs, split_devices

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tfmot needs Keras 2 (tf_keras); read at TF import

# The frozen normalization layers' names start with this: quantize gives them their own QuantizeConfig.
NORMALIZATION_PREFIX = "norm_"


def normalization_layer(group_name: str) -> str:
    """The name of an input group's normalization layer."""
    return f"{NORMALIZATION_PREFIX}{group_name}"


def is_normalization_layer(layer_name: str) -> bool:
    return layer_name.startswith(NORMALIZATION_PREFIX)


@dataclass
class LabelledData:
    """The labelled windows of a dataset lineage, as model inputs, with the device split."""

    windows: WindowSet
    y: np.ndarray
    split: DeviceSplit
    train: np.ndarray  # boolean masks over windows
    validation: np.ndarray
    holdout: np.ndarray

    def inputs(self, mask: np.ndarray, groups: list[InputGroup]) -> list[np.ndarray]:
        return model_inputs(self.windows.x[mask], groups)


def labelled_data(windows: WindowSet, config: Config) -> LabelledData:
    y = label_indices(windows.labels, config.data.class_names)
    windows, y = windows.select(y >= 0), y[y >= 0]
    split = split_devices(windows.device_ids, config.train)
    train, validation, holdout = split.masks(windows.device_ids)
    if not train.any() or not validation.any():
        raise ValueError("no labelled windows for training or validation: label some data first")
    return LabelledData(windows, y, split, train, validation, holdout)


def seed_everything(seed: int) -> None:
    """Same seed, same data -> same weights: seeded RNGs, deterministic ops, one thread."""
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised in this process; the setting stands
        pass


def build_model(groups: list[InputGroup], window_length: int, classes: int, batch_size: int | None = None):
    import tf_keras as keras

    inputs, branches = [], []
    for group in groups:
        raw = keras.Input(shape=(window_length, 1, len(group.channels)), batch_size=batch_size, name=group.name)
        norm = keras.layers.DepthwiseConv2D(1, use_bias=True, name=normalization_layer(group.name))
        norm.trainable = False  # set from the training data, never learned
        inputs.append(raw)
        branches.append(norm(raw))
    x = keras.layers.Concatenate(axis=-1, name="concat")(branches) if len(branches) > 1 else branches[0]
    x = keras.layers.Conv2D(16, (5, 1), activation="relu", name="conv1")(x)
    x = keras.layers.MaxPooling2D((2, 1), name="pool1")(x)
    x = keras.layers.Conv2D(24, (5, 1), activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D((2, 1), name="pool2")(x)
    x = keras.layers.Conv2D(32, (3, 1), activation="relu", name="conv3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    scores = keras.layers.Dense(classes, activation="softmax", name="scores")(x)
    return keras.Model(inputs, scores, name="gesture_cnn")


def set_normalization(model, groups: list[InputGroup], x_train: np.ndarray) -> dict:
    """(x - mean) / std per channel, as the frozen 1x1 depthwise layer's kernel and bias."""
    stats = {}
    for group in groups:
        values = x_train[:, :, list(group.channels)].reshape(-1, len(group.channels)).astype(np.float64)
        mean, std = values.mean(0), np.maximum(values.std(0), 1e-6)
        model.get_layer(normalization_layer(group.name)).set_weights([
            (1.0 / std).reshape(1, 1, -1, 1).astype(np.float32), (-mean / std).astype(np.float32)])
        stats[group.name] = {"channels": list(group.channel_names), "mean": mean.tolist(), "std": std.tolist()}
    return stats


def compile_model(model, learning_rate: float) -> None:
    import tf_keras as keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
