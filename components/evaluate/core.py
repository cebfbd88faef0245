"""Evaluate: float and int8 (TFLM) on holdout devices, budgets, and the blessing.

The int8 path is measured as the board runs it: raw windows quantized with
the model's own input parameters, then the TFLM runtime at the minimal arena.
Every holdout window also runs in TFLite's reference kernels; the outputs
must be identical. The production model runs on the same holdout windows;
step.py reads it, and the holdouts, from the store.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from components.boards import check_budgets, check_latency
from components.c_sources import export_c_array
from components.config import Config
from components.evaluate.blessing import Blessing, bless, classification_metrics, model_card, target_checks
from components.holdouts import Holdout
from components.int8_model import Int8Model
from components.model_inputs import input_groups, model_inputs
from components.qemu_target import TargetCheck, check_on_target


@dataclass
class ProductionModel:
    """The model in production, which a candidate must not be worse than."""

    version: str
    tflite: bytes


@dataclass
class Evaluation:
    metrics: dict
    blessing: Blessing
    card: str
    target_inputs: dict[str, np.ndarray] | None = None  # what firmware-build reruns on the shipped sources


def target_sample(count: int, limit: int) -> np.ndarray:
    """Indices of at most `limit` windows spread over the holdout (devices come in blocks)."""
    return np.unique(np.linspace(0, count - 1, min(count, limit)).round().astype(int)) if limit else np.zeros(0, int)


def check_target(tflite: bytes, inputs: list[np.ndarray], host_scores: np.ndarray, arena: int,
                 config: Config) -> TargetCheck | None:
    """The holdout sample's int8 inputs on the Cortex-M4F under QEMU; the host's arena (64-bit pointers) is
    ample for it."""
    if not len(host_scores):
        return None
    return check_on_target(export_c_array(tflite, config, arena), inputs, host_scores)


def evaluate(float_model, tflite: bytes, holdouts: dict[str, Holdout], production: ProductionModel | None,
             config: Config, dataset_version: str) -> Evaluation:
    groups = input_groups(config.data)
    names = config.data.class_names
    int8 = Int8Model(tflite, groups)
    main = holdouts["holdout"]
    arena = int8.minimal_arena(main.x)
    tflm_scores = int8.run_tflm(main.x, arena)
    mismatches = int(np.any(tflm_scores != int8.run_reference(main.x), axis=1).sum())
    results = {}
    for name, holdout in holdouts.items():
        float_pred = float_model.predict(model_inputs(holdout.x, groups), verbose=0).argmax(1)
        int8_pred = (tflm_scores if name == "holdout" else int8.run_tflm(holdout.x, arena)).argmax(1)
        f, q = classification_metrics(holdout.y, float_pred, names), classification_metrics(holdout.y, int8_pred, names)
        results[name] = {"windows": len(holdout.y), "float_accuracy": f["accuracy"], "int8_accuracy": q["accuracy"],
                         "float": f, "int8": q}
    production_result = None
    if production is not None:
        try:
            production_pred = Int8Model(production.tflite, groups).run_reference(main.x).argmax(1)
            production_result = {"version": production.version,
                                 "int8_accuracy": float(np.mean(production_pred == main.y))}
        except ValueError as exc:  # trained for another data contract: not comparable
            production_result = {"version": production.version, "int8_accuracy": None, "not_comparable": str(exc)}
    sample = target_sample(len(main.x), config.evaluate.target_windows)
    sample_inputs = int8.quantize(main.x[sample])
    target = check_target(tflite, sample_inputs, tflm_scores[sample], arena, config)
    # The arena the export declares: what the board's 32-bit TFLM needs when measured, else the host's figure.
    board_arena = target.arena_needed_bytes if target is not None and target.ran else arena
    budgets = check_budgets(len(tflite), board_arena, config.evaluate)
    latency = check_latency(target, config.data, config.evaluate)
    int8_accuracy = results["holdout"]["int8_accuracy"]
    blessing = bless(int8_accuracy, production_result and production_result["int8_accuracy"],
                     production_result and production_result["version"], budgets, mismatches, config.evaluate,
                     target_checks(target, latency, config.evaluate))
    metrics = {
        "dataset_version": dataset_version, "holdouts": results, "int8_accuracy": int8_accuracy,
        "float_accuracy": results["holdout"]["float_accuracy"], "tflite_bytes": len(tflite),
        "arena_bytes": board_arena, "host_arena_bytes": arena,
        "arena_measured_on": "Cortex-M4F (QEMU)" if target is not None and target.ran else "host (64-bit)",
        "cortex_m4": target.record() if target is not None else None,
        "latency": [c.to_dict() for c in latency], "ops": int8.ops, "tflm_mismatches": mismatches,
        "tflm_windows_compared": len(main.y), "production": production_result,
        "budgets": [b.to_dict() for b in budgets],
        "input_quantization": [asdict(q) for q in int8.inputs],
        "output_quantization": {"scale": float(int8.output_scale), "zero_point": int(int8.output_zero_point)},
    }
    card = model_card("challenger", dataset_version, metrics, blessing, names)
    # Also where this machine could not run the check: firmware-build's image can.
    inputs = {f"input_{i}": a for i, a in enumerate(sample_inputs)} if len(sample) else None
    if inputs is not None:
        inputs["host_scores"] = tflm_scores[sample]
    return Evaluation(metrics, blessing, card, inputs)
