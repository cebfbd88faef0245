"""Train: the model (components/model.py) fitted to the configured windows, reproducible from a seed, split by
device: fitted on the training devices, stopped early on the validation devices.

No step.py: the store side is one read, the dataset version's lineage (components/datasets.py `read_lineage`),
which component.py makes; the model and its record go out as KFP artifacts."""

from __future__ import annotations

from dataclasses import dataclass

from components.config import Config
from components.datasets import WindowSet
from components.model import LabelledData, build_model, compile_model, labelled_data, seed_everything, set_normalization
from components.model_inputs import input_groups


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
