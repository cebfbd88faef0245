"""The detect-drift step's measurements: the production model's scores where they are needed, the data-drift
and concept-drift tests, prediction drift, and the evidence reports' feature frames.

The windows come as WindowTables (components/window_table.py): every window's device, label and time, its
stored drift features read for the data-drift sample only, and its raw samples for the rows the model scores
(scoring.py), in one pass a side. Windows of a features-only version (no samples stored) are tested on their
features but not scored: the data-drift test then runs without class strata, concept and prediction drift
count only windows with samples, and `counts["unscored_windows"]` says how many.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from components.config import Config, DataConfig, DriftConfig
from components.detect_drift.core import ConceptDriftResult, concept_drift_from_predictions
from components.detect_drift.data_drift import DataDriftResult, data_drift_from_features
from components.detect_drift.scoring import ProductionModel, Scored, score_rows
from components.model_inputs import input_groups, label_indices
from components.window_features import drift_feature_names, feature_frame
from components.window_table import WindowTable


@dataclass
class Measured:
    data: DataDriftResult
    concept: ConceptDriftResult
    predictions: dict  # prediction drift (evidence), or a note why it was not measured
    counts: dict  # new_windows, new_labelled_windows, new_devices, model_scoring (, unscored_windows)
    ref_frame: pd.DataFrame  # the evidence reports' per-window features
    new_frame: pd.DataFrame
    ref_predicted: np.ndarray | None  # the frames' windows' predicted classes (None: not all scored)
    new_predicted: np.ndarray | None


def _sample(n: int, limit: int, seed: int) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def per_device_sample(devices: np.ndarray, order: np.ndarray, limit: int) -> np.ndarray:
    """Indices of at most `limit` windows per device, evenly spread over its time order (all when fewer)."""
    frame = pd.DataFrame({"device": np.asarray(devices, dtype=str), "order": np.asarray(order, dtype=float)})
    frame["rank"] = frame.groupby("device")["order"].rank(method="first") - 1
    count = frame.groupby("device")["order"].transform("size")
    step = np.maximum(count / limit, 1.0)
    keep = np.floor(frame["rank"] / step) != np.floor((frame["rank"] - 1) / step)
    return np.flatnonzero(keep.to_numpy())


def windows_per_device(devices: int, drift: DriftConfig) -> int:
    """The data-drift sample's windows per device on a side of this many `devices`: max_windows_per_device,
    fewer where the side's devices would exceed max_windows_data_drift in all, never fewer than max_blocks."""
    share = drift.max_windows_data_drift // max(devices, 1)
    return max(min(drift.max_windows_per_device, share), drift.max_blocks)


def prediction_drift(ref_scores: np.ndarray, new_scores: np.ndarray, names: tuple[str, ...]) -> dict:
    """The production model's predicted classes and confidence on reference vs new windows (evidence), from
    its dequantized scores [N, K] of each side's windows."""
    from scipy import stats

    k = len(names)
    ref_counts = np.bincount(ref_scores.argmax(1), minlength=k)
    new_counts = np.bincount(new_scores.argmax(1), minlength=k)
    table = np.array([ref_counts, new_counts])
    table = table[:, table.sum(0) > 0]
    chi2_p = float(stats.chi2_contingency(table).pvalue) if table.shape[1] > 1 else 1.0
    ref_conf, new_conf = ref_scores.max(1), new_scores.max(1)
    return {"method": "window-level (evidence only): chi-square of predicted-class counts, Mann-Whitney U of "
                      "confidence",
            "reference_windows": len(ref_scores), "new_windows": len(new_scores),
            "reference_class_share": dict(zip(names, (ref_counts / max(len(ref_scores), 1)).tolist(), strict=True)),
            "new_class_share": dict(zip(names, (new_counts / max(len(new_scores), 1)).tolist(), strict=True)),
            "class_share_p_value": chi2_p,
            "reference_mean_confidence": float(ref_conf.mean()), "new_mean_confidence": float(new_conf.mean()),
            "confidence_p_value": float(stats.mannwhitneyu(ref_conf, new_conf).pvalue)}


def measure(ref: WindowTable, new: WindowTable, tflite: bytes, holdout_accuracy: float, holdout_windows: int,
            config: Config) -> Measured:
    drift, data = config.drift, config.data
    names = np.array(data.class_names)
    # The data-drift test on a sample of each device's windows per side, evenly over time, each window in the
    # class the production model predicts (the signal's class: neither a new class mix nor a stale label
    # moves it).
    devices = {"reference": len(pd.unique(ref.device_ids)), "new": len(pd.unique(new.device_ids))}
    per_device = {side: windows_per_device(count, drift) for side, count in devices.items()}
    ref_d = per_device_sample(ref.device_ids, ref.t0_ms, per_device["reference"])
    new_d = per_device_sample(new.device_ids, new.t0_ms, per_device["new"])
    y_new = label_indices(new.labels, data.class_names)
    labelled = np.flatnonzero(y_new >= 0)
    ref_i = _sample(len(ref), drift.prediction_sample, drift.seed)  # prediction drift (evidence)
    new_i = _sample(len(new), drift.prediction_sample, drift.seed + 1)
    ref_e = ref_i[_sample(len(ref_i), drift.evidence_sample, drift.seed + 2)]  # TFDV and evidently (evidence)
    new_e = new_i[_sample(len(new_i), drift.evidence_sample, drift.seed + 3)]
    model = ProductionModel(tflite, input_groups(data))
    ref_f, ref_peaks = ref.features(ref_d)
    new_f, new_peaks = new.features(new_d)
    ref_s, new_s = (score_rows(table, model, side, d, peaks, also, e, len(names), data.window_length)
                    for table, side, d, peaks, also, e in ((ref, "ref", ref_d, ref_peaks, [ref_i], ref_e),
                                                           (new, "new", new_d, new_peaks, [labelled, new_i], new_e)))
    ref_class, new_class = ref_s.classes(ref_d), new_s.classes(new_d)
    strata = ({"ref_classes": names[ref_class], "new_classes": names[new_class]}
              if (ref_class >= 0).all() and (new_class >= 0).all() else {})
    data_result = data_drift_from_features(ref_f, ref.device_ids[ref_d], new_f, new.device_ids[new_d],
                                           {**ref_s.saturation, **new_s.saturation}, drift, data, **strata,
                                           ref_order=ref.t0_ms[ref_d], new_order=new.t0_ms[new_d])
    del ref_f, new_f
    predicted = new_s.classes(labelled)
    scored = predicted >= 0
    concept = concept_drift_from_predictions(predicted[scored], y_new[labelled][scored],
                                             new.device_ids[labelled][scored], holdout_accuracy, holdout_windows,
                                             drift, data.class_names)
    (ref_p, ref_ok), (new_p, new_ok) = ref_s.at(ref_i), new_s.at(new_i)
    predictions = (prediction_drift(model.dequantize(ref_p[ref_ok]), model.dequantize(new_p[new_ok]),
                                    data.class_names) if ref_ok.any() and new_ok.any()
                   else {"note": "no scored windows on one side: their samples are not stored"})
    all_kept = ref_s.kept_done.all() and new_s.kept_done.all()
    unscored = {"data_drift_sample": int((ref_class < 0).sum() + (new_class < 0).sum()),
                "labelled": int((~scored).sum())}
    counts = {"new_windows": len(new), "new_labelled_windows": len(labelled),
              "new_devices": devices["new"], "model_scoring": model.note,
              "data_drift_sample": {"windows_per_device": per_device,
                                    "windows": {"reference": len(ref_d), "new": len(new_d)}},
              **({"unscored_windows": unscored} if any(unscored.values()) else {})}
    return Measured(data_result, concept, predictions, counts, _evidence_frame(ref, ref_e, ref_s, data),
                    _evidence_frame(new, new_e, new_s, data),
                    names[model.dequantize(ref_s.at(ref_e)[0]).argmax(1)] if all_kept else None,
                    names[model.dequantize(new_s.at(new_e)[0]).argmax(1)] if all_kept else None)


def _evidence_frame(table: WindowTable, rows: np.ndarray, scored: Scored, data: DataConfig) -> pd.DataFrame:
    """The evidence reports' feature frame: computed from the samples kept in the pass (as the features were
    before ingest stored them), or from the stored features where the samples are not stored."""
    if scored.kept_done.all():
        return feature_frame(scored.kept, data)
    return pd.DataFrame(table.features(rows)[0].astype(np.float64), columns=drift_feature_names(data))
