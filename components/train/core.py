"""Train: a small CNN for the configured windows, reproducible from a seed, split by device.

The model takes raw sensor units: one input per unit (features.py), then a
frozen per-channel normalization (a 1x1 DepthwiseConv2D with kernel 1/std and
bias -mean/std from the training windows) inside the model. Windows are
(T, 1, C) with Conv2D (k, 1) kernels because tfmot's QAT rejects Conv1D.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from components.config import Config
from components.datasets import WindowSet
from components.features import DeviceSplit, InputGroup, input_groups, label_indices, model_inputs, split_devices

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tfmot needs Keras 2 (tf_keras); read at TF import


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
        norm = keras.layers.DepthwiseConv2D(1, use_bias=True, name=f"norm_{group.name}")
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
        model.get_layer(f"norm_{group.name}").set_weights([
            (1.0 / std).reshape(1, 1, -1, 1).astype(np.float32), (-mean / std).astype(np.float32)])
        stats[group.name] = {"channels": list(group.channel_names), "mean": mean.tolist(), "std": std.tolist()}
    return stats


def compile_model(model, learning_rate: float) -> None:
    import tf_keras as keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])


@dataclass
class TrainResult:
    model: object  # tf_keras.Model, float
    history: dict[str, list[float]]
    normalization: dict
    data: LabelledData
    epochs_run: int


def train(windows: WindowSet, config: Config) -> TrainResult:
    """Fit the float model on training devices, stopping early on validation devices."""
    import tf_keras as keras

    seed_everything(config.train.seed)
    data = labelled_data(windows, config)
    groups = input_groups(config.data)
    model = build_model(groups, config.data.window_length, len(config.data.class_names))
    normalization = set_normalization(model, groups, data.windows.x[data.train])
    compile_model(model, config.train.learning_rate)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.train.early_stopping_patience,
                                         restore_best_weights=True)
    history = model.fit(data.inputs(data.train, groups), data.y[data.train],
                        validation_data=(data.inputs(data.validation, groups), data.y[data.validation]),
                        epochs=config.train.epochs, batch_size=config.train.batch_size, callbacks=[stop],
                        shuffle=True, verbose=0)
    curves = {k: [float(v) for v in values] for k, values in history.history.items()}
    return TrainResult(model, curves, normalization, data, len(curves["loss"]))


def plot_curves(history: dict[str, list[float]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (loss, accuracy) = plt.subplots(1, 2, figsize=(9, 3.2))
    for key, axis in (("loss", loss), ("accuracy", accuracy)):
        axis.plot(history[key], label="train")
        axis.plot(history[f"val_{key}"], label="validation (other devices)")
        axis.set_xlabel("epoch")
        axis.set_title(key)
        axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90, format="png")  # KFP artifact paths have no extension
    plt.close(fig)


def training_record(result: TrainResult, config: Config, dataset_version: str) -> dict:
    """What the registry keeps about how a model was trained."""
    data = result.data
    return {
        "dataset_version": dataset_version, "seed": config.train.seed, "config": config.to_dict(),
        "config_fingerprint": config.fingerprint(), "epochs_run": result.epochs_run,
        "best_val_accuracy": max(result.history["val_accuracy"]), "history": result.history,
        "normalization": result.normalization,
        "devices": {"train": list(data.split.train), "validation": list(data.split.validation),
                    "holdout": list(data.split.holdout)},
        "train_windows": int(data.train.sum()), "validation_windows": int(data.validation.sum()),
        "holdout_windows": int(data.holdout.sum()),
    }


def curves_html(png_path: str, record: dict) -> str:
    """The training curves as one self-contained page for the KFP UI."""
    import base64

    with open(png_path, "rb") as f:
        image = base64.b64encode(f.read()).decode()
    return (f"<html><body><h3>Training on dataset {record['dataset_version']} (seed {record['seed']}): "
            f"{record['epochs_run']} epochs, best validation accuracy {record['best_val_accuracy']:.2%}</h3>"
            f'<img src="data:image/png;base64,{image}"/></body></html>')
