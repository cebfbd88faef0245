"""Promote (TFX Pusher style): register every trained model; move production only if blessed."""

from __future__ import annotations

from dataclasses import dataclass

from components.registry import new_model_version, promote, register
from components.store import Store


@dataclass
class PromoteResult:
    version: str
    promoted: bool
    reasons: list[str]  # why not, when not promoted


def register_and_promote(store: Store, files: dict[str, bytes], evaluation: dict, training: dict) -> PromoteResult:
    """`files`: model.tflite, model.h5, ops.json, curves.png, model_card.md; the rest is written here."""
    import json

    version = new_model_version()
    blessing, metrics = evaluation["blessing"], evaluation["metrics"]
    files = dict(files)
    if "model_card.md" in files:  # evaluate could not know the version's name yet
        files["model_card.md"] = files["model_card.md"].replace(b"Model card: challenger",
                                                                f"Model card: {version}".encode(), 1)
    files = {**files,
             "metrics.json": json.dumps(metrics, indent=2).encode(),
             "blessing.json": json.dumps(blessing, indent=2).encode(),
             "training.json": json.dumps(training, indent=2).encode()}
    register(store, version, files, {
        "dataset_version": training["dataset_version"], "seed": training["seed"],
        "config_fingerprint": training["config_fingerprint"], "blessed": blessing["blessed"],
        "blessing_reasons": blessing["reasons"], "int8_accuracy": metrics["int8_accuracy"],
        "float_accuracy": metrics["float_accuracy"], "tflite_bytes": metrics["tflite_bytes"],
        "arena_bytes": metrics["arena_bytes"],
    })
    if not blessing["blessed"]:
        return PromoteResult(version, False, blessing["reasons"])
    promote(store, version, by="continuous-training pipeline", reason="blessed by the evaluator")
    return PromoteResult(version, True, [])
