"""Benchmark of drift detection: false alarms and detection rates over seeded trials (a script, not a test).

    python -m tests.bench_drift --trials 100 --out bench_drift.json

Reference: baseline seed 0, 12 devices x 100 windows. Per trial t:
- false alarm (data): baseline seed 1000+t, 10 devices x 50 windows;
- detection (data): data-drift seed 2000+t, 10 devices x 50 windows;
- false alarm (concept): baseline seed 3000+t, 10 devices x 20 labelled windows;
- detection (concept): concept-drift seed 4000+t, 10 devices x 20 labelled windows;
with the device-level test, and (data only) evidently's DataDriftPreset with default settings on the raw
per-window features. Concept drift uses the int8 model (TFLite reference kernels) trained once on the
reference with the default Config (train + quantize), against its accuracy on its own holdout devices.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from components.config import Config  # noqa: E402
from components.datasets import WindowSet  # noqa: E402
from components.detect_drift import (  # noqa: E402
    DriftConfig,
    detect_concept_drift,
    detect_data_drift,
    evidently_default_drift,
    feature_frame,
)
from components.features import input_groups, label_indices  # noqa: E402
from components.simulator import simulate_arrays  # noqa: E402


def window_set(x, labels, devices) -> WindowSet:
    n, t, _ = x.shape
    empty = np.full(n, "", dtype=str)
    return WindowSet(x=x, t_ms=np.tile(np.arange(t) * 20.0, (n, 1)), labels=labels, device_ids=devices,
                     window_ids=np.array([f"w{i}" for i in range(n)]), sources=empty, pred_labels=empty,
                     pred_scores=np.full(n, np.nan, dtype=np.float32), hashes=np.array([f"h{i}" for i in range(n)]))


def train_reference(config: Config, x, labels, devices):
    from components.int8_model import Int8Model
    from components.quantize.core import quantize
    from components.train.core import train

    trained = train(window_set(x, labels, devices), config)
    tflite = quantize(trained.model, trained.data, config).tflite
    data = trained.data
    holdout_x, holdout_y = data.windows.x[data.holdout], data.y[data.holdout]
    int8 = Int8Model(tflite, input_groups(config.data))
    accuracy = float((int8.run_reference(holdout_x).argmax(1) == holdout_y).mean())
    return tflite, accuracy, len(holdout_y), list(data.split.holdout)


def rate(flags: list[bool]) -> dict:
    k, n = int(sum(flags)), len(flags)
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(0.95, method="exact") if n else None
    return {"count": k, "trials": n, "rate": k / n if n else None,
            "ci95": [ci.low, ci.high] if ci else None}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--out", default="bench_drift.json")
    parser.add_argument("--no-evidently", action="store_true")
    args = parser.parse_args(argv)
    config, drift = Config(), DriftConfig()
    data = config.data
    started = time.time()
    command = "python -m tests.bench_drift " + " ".join(sys.argv[1:] if argv is None else argv)
    ref_x, ref_labels, ref_devices = simulate_arrays("baseline", data, devices=12, windows_per_device=100, seed=0)
    ref_frame = feature_frame(ref_x, data)
    tflite, holdout_accuracy, holdout_n, holdout_devices = train_reference(config, ref_x, ref_labels, ref_devices)
    trained_s = time.time() - started
    print(f"model trained and quantized in {trained_s:.0f} s; int8 holdout accuracy {holdout_accuracy:.3f} "
          f"on {holdout_n} windows of {holdout_devices}", flush=True)
    groups = input_groups(data)
    flags = {k: [] for k in ("data_false_alarm", "data_detection", "concept_false_alarm", "concept_detection",
                             "evidently_false_alarm", "evidently_detection")}
    accuracies = {"baseline": [], "concept-drift": []}
    for t in range(args.trials):
        cfg = DriftConfig(**{**drift.__dict__, "seed": t})
        for scenario, seed, key in (("baseline", 1000 + t, "false_alarm"), ("data-drift", 2000 + t, "detection")):
            x, _, devices = simulate_arrays(scenario, data, devices=10, windows_per_device=50, seed=seed)
            flags[f"data_{key}"].append(detect_data_drift(ref_x, ref_devices, x, devices, cfg, data).drifted)
            if not args.no_evidently:
                flags[f"evidently_{key}"].append(evidently_default_drift(ref_frame, feature_frame(x, data)))
        for scenario, seed, key in (("baseline", 3000 + t, "false_alarm"), ("concept-drift", 4000 + t, "detection")):
            x, labels, devices = simulate_arrays(scenario, data, devices=10, windows_per_device=20, seed=seed)
            result = detect_concept_drift(tflite, groups, x, label_indices(labels, data.class_names), devices,
                                          holdout_accuracy, holdout_n, cfg, data.class_names)
            flags[f"concept_{key}"].append(result.drifted)
            accuracies[scenario].append(result.accuracy)
        if (t + 1) % 10 == 0 or t == 0 or t + 1 == args.trials:
            print(f"trial {t + 1}/{args.trials}: " + ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in flags.items()),
                  flush=True)
            result = {
                "command": command, "trials": args.trials, "trials_done": t + 1, "drift_config": drift.__dict__,
                "reference": {"scenario": "baseline", "seed": 0, "devices": 12, "windows_per_device": 100},
                "data_new": {"devices": 10, "windows_per_device": 50, "baseline_seeds": "1000+t",
                             "data_drift_seeds": "2000+t"},
                "concept_new": {"devices": 10, "windows_per_device": 20, "baseline_seeds": "3000+t",
                                "concept_drift_seeds": "4000+t"},
                "model": {"kind": "int8 tflite (TFLite reference kernels), default Config train + quantize",
                          "holdout_accuracy": holdout_accuracy, "holdout_windows": holdout_n,
                          "holdout_devices": holdout_devices, "train_seconds": trained_s},
                "device_level": {k: rate(flags[k]) for k in ("data_false_alarm", "data_detection",
                                                             "concept_false_alarm", "concept_detection")},
                "evidently_default": None if args.no_evidently else {
                    "data_false_alarm": rate(flags["evidently_false_alarm"]),
                    "data_detection": rate(flags["evidently_detection"])},
                "new_accuracy": {k: {"mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v))}
                                 for k, v in accuracies.items() if v},
                "seconds": time.time() - started,
            }
            with open(args.out, "w") as f:  # partial results survive an interrupted run
                json.dump(result, f, indent=1)
    print(json.dumps({k: result[k] for k in ("command", "trials_done", "model", "device_level",
                                              "evidently_default", "new_accuracy")}, indent=1))
    return result


if __name__ == "__main__":
    main()
