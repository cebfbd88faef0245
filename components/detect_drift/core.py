"""Data drift and concept drift, decided with tests that respect the fleet's structure.

Windows are clustered by device: every device has its own tilt, gains, offsets, biases and noise, so two
fleets of the same hardware differ far more than window-level noise suggests. A window-level two-sample test
(KS, Wasserstein, ...) then flags "drift" whenever the new windows come from other devices. Here devices are
the exchangeable units under the null hypothesis:

- data drift (data_drift.py): a device seen before is compared with itself, class by class (block
  permutations within (device, class): per device, fleet-wide, and the saturation of its peaks), devices
  seen on one side only by their mean features (whole devices permuted); maxT within each family,
  Bonferroni over the families, at `alpha_data`.
- concept drift: the production model's accuracy on newly labelled windows against its holdout accuracy,
  one-sided, with the new accuracy's variance estimated by device (cluster-robust) and a tolerated margin;
  per-device and per-class breakdowns use exact binomial tests with Holm correction, and a device far below
  expectation also counts as drift (the two routes Bonferroni-combined at alpha_concept).

TFDV and evidently reports on the per-window features are evidence for people, not the decision.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from components.config import DriftConfig
from components.detect_drift.data_drift import DataDriftResult
from components.detect_drift.results import jsonable
from components.drift_decision import INSUFFICIENT

# -------------------------------------------------------------------------------------------- concept drift


@dataclass
class ConceptDriftResult:
    drifted: bool
    method: str
    accuracy: float  # production model on the newly labelled windows
    windows: int
    devices: int
    holdout_accuracy: float
    holdout_windows: int
    margin: float
    z: float
    p_value: float  # Bonferroni combination of the pooled test and the Holm-adjusted per-device minimum
    alpha: float
    p_pooled: float  # one-sided: pooled new accuracy < holdout accuracy - margin (device-clustered)
    p_devices: float  # smallest Holm-adjusted per-device p (exact binomial, H0: accuracy >= holdout - margin)
    per_device: dict[str, dict]  # {device: {windows, correct, accuracy, p_value, adjusted_p_value}}
    per_class: dict[str, dict]
    worse_devices: list[str]  # significantly below holdout - margin (Holm, alpha_breakdown)
    worse_classes: list[str]
    note: str = ""

    def to_dict(self) -> dict:
        return jsonable(asdict(self))


def _holm(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    if not len(p):
        return p
    order = np.argsort(p)
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p)))))
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out


def _breakdown(keys: np.ndarray, correct: np.ndarray, expected: float, alpha: float) -> tuple[dict, list[str]]:
    # Group once (sorted names, each group's windows in their original order) instead of a scan per name.
    unique, inverse = np.unique(np.asarray(keys), return_inverse=True)
    names = [str(k) for k in unique]
    groups = np.split(np.asarray(correct)[np.argsort(inverse, kind="stable")],
                      np.cumsum(np.bincount(inverse, minlength=len(unique)))[:-1])
    rows, raw, tests = {}, [], {}
    for name, hit in zip(names, groups, strict=True):
        k_n = (int(hit.sum()), len(hit))
        if k_n not in tests:  # many groups share (correct, windows): one exact test each
            tests[k_n] = stats.binomtest(*k_n, min(max(expected, 0.0), 1.0), alternative="less").pvalue
        p = tests[k_n]
        rows[name] = {"windows": int(len(hit)), "correct": int(hit.sum()), "accuracy": float(hit.mean())}
        raw.append(p)
    adjusted = _holm(np.array(raw))
    for name, p, q in zip(names, raw, adjusted, strict=True):
        rows[name].update(p_value=float(p), adjusted_p_value=float(q))
    worse = sorted((n for n in names if rows[n]["adjusted_p_value"] < alpha), key=lambda n: rows[n]["accuracy"])
    return rows, worse


def _predict(model, groups, x: np.ndarray) -> np.ndarray:
    if callable(model):  # e.g. a float Keras model wrapped as x -> scores
        return np.asarray(model(x)).argmax(1)
    from components.detect_drift.scoring import ProductionModel

    return ProductionModel(model, groups).scores(x).argmax(1)


def detect_concept_drift(model_tflite, groups, new_x: np.ndarray, new_y: np.ndarray, new_devices: np.ndarray,
                         holdout_accuracy: float, holdout_n: int, config: DriftConfig = DriftConfig(),
                         class_names: tuple[str, ...] | None = None) -> ConceptDriftResult:
    """Is the production model's accuracy on newly labelled windows significantly below its holdout accuracy?

    `model_tflite`: the production int8 .tflite (bytes, run in TFLite's reference kernels, bit-exact with
    TFLM) or a callable x -> scores [N, K]. `groups`: components.model_inputs.input_groups(data).
    `new_y`: class indices (-1 = unlabelled, ignored). H0: accuracy >= holdout_accuracy - margin. The new
    accuracy's standard error is cluster-robust by device (never below the binomial one), the holdout's is
    binomial; the statistic is referred to a t distribution with (devices - 1) degrees of freedom. Drift is also
    declared when some device alone is significantly below holdout - margin (exact binomial, Holm over devices);
    the two routes are combined with Bonferroni, so the decision's level is alpha_concept.
    """
    new_y = np.asarray(new_y)
    keep = new_y >= 0
    x = np.asarray(new_x)[keep]
    predicted = _predict(model_tflite, groups, x) if len(x) else np.zeros(0, dtype=np.int64)
    return concept_drift_from_predictions(predicted, new_y[keep], np.asarray(new_devices, dtype=str)[keep],
                                          holdout_accuracy, holdout_n, config, class_names)


def concept_drift_from_predictions(predicted: np.ndarray, y: np.ndarray, devices: np.ndarray,
                                   holdout_accuracy: float, holdout_n: int, config: DriftConfig = DriftConfig(),
                                   class_names: tuple[str, ...] | None = None) -> ConceptDriftResult:
    """detect_concept_drift's test on the labelled windows' predicted classes (`predicted`, labels `y`, both
    class indices) when the model has already scored them."""
    y, devices = np.asarray(y), np.asarray(devices, dtype=str)
    expected = holdout_accuracy - config.accuracy_margin
    method = "one-sided device-clustered accuracy test vs holdout - margin"
    if not len(y):
        return ConceptDriftResult(False, method, float("nan"), 0, 0, holdout_accuracy, holdout_n,
                                  config.accuracy_margin, float("nan"), 1.0, config.alpha_concept, 1.0, 1.0, {}, {},
                                  [], [],
                                  note="no labelled windows")
    correct = (np.asarray(predicted) == y).astype(float)
    n, acc = len(y), float(correct.mean())
    ids, inverse = np.unique(devices, return_inverse=True)
    n_d = np.bincount(inverse, minlength=len(ids)).astype(float)
    c_d = np.bincount(inverse, weights=correct, minlength=len(ids))
    k = len(ids)
    var_cluster = k / (k - 1) * float(((c_d - acc * n_d) ** 2).sum()) / n ** 2 if k > 1 else 0.0
    var_new = max(var_cluster, acc * (1 - acc) / n, 0.25 / n ** 2)
    var_holdout = holdout_accuracy * (1 - holdout_accuracy) / max(holdout_n, 1)
    z = (expected - acc) / math.sqrt(var_new + var_holdout)
    p_pooled = float(stats.t.sf(z, df=k - 1) if k > 1 else stats.norm.sf(z))
    per_device, worse_devices = _breakdown(devices, correct, expected, config.alpha_breakdown)
    # Concept drift may hit part of the fleet only: a few devices far below expectation are drift even when the
    # pooled, cluster-robust test has too few devices for power. Both routes at alpha/2 (Bonferroni).
    p_devices = min(row["adjusted_p_value"] for row in per_device.values())
    p = min(1.0, 2 * min(p_pooled, p_devices))
    class_keys = np.array([class_names[i] if class_names else str(i) for i in y])
    per_class, worse_classes = _breakdown(class_keys, correct, expected, config.alpha_breakdown)
    note = "" if k > 1 else "one device only: no cluster-robust variance, binomial variance used"
    return ConceptDriftResult(p < config.alpha_concept, method, acc, n, k, float(holdout_accuracy), int(holdout_n),
                              config.accuracy_margin, float(z), p, config.alpha_concept, p_pooled, p_devices,
                              per_device, per_class,
                              worse_devices, worse_classes, note)


# ------------------------------------------------------------------------------------------------- evidence


def tfdv_drift(ref_frame: pd.DataFrame, new_frame: pd.DataFrame, config: DriftConfig = DriftConfig()) -> dict:
    """TFDV drift comparators on per-window feature frames: Jensen-Shannon for numeric, L-infinity for strings.

    Returns {"drifted_features": [...], "measurements": {feature: {"type", "value", "threshold"}},
    "anomalies": {feature: description}}. Evidence only: window-level, so it also fires on new devices.
    """
    import tensorflow_data_validation as tfdv

    ref_stats = tfdv.generate_statistics_from_dataframe(ref_frame)
    new_stats = tfdv.generate_statistics_from_dataframe(new_frame)
    schema = tfdv.infer_schema(ref_stats)
    for column in ref_frame.columns:
        feature = tfdv.get_feature(schema, column)
        if pd.api.types.is_numeric_dtype(ref_frame[column]):
            feature.drift_comparator.jensen_shannon_divergence.threshold = config.tfdv_js_threshold
        else:
            feature.drift_comparator.infinity_norm.threshold = config.tfdv_linf_threshold
            if feature.HasField("domain"):  # a new device id is drift evidence, not a schema error here
                for i in reversed(range(len(schema.string_domain))):
                    if schema.string_domain[i].name == feature.domain:
                        del schema.string_domain[i]
                feature.ClearField("domain")
    anomalies = tfdv.validate_statistics(new_stats, schema, previous_statistics=ref_stats)
    measurements = {}
    for info in anomalies.drift_skew_info:
        name = ".".join(info.path.step)
        for m in info.drift_measurements:
            kind = {1: "L_INFTY", 2: "JENSEN_SHANNON_DIVERGENCE", 3: "NORMALIZED_ABSOLUTE_DIFFERENCE"}.get(
                m.type, str(m.type))
            measurements[name] = {"type": kind, "value": float(m.value), "threshold": float(m.threshold)}
    drifted = sorted(n for n, m in measurements.items() if m["value"] > m["threshold"])
    return {"drifted_features": drifted, "drifted_share": len(drifted) / max(len(ref_frame.columns), 1),
            "measurements": measurements,
            "anomalies": {k: v.description for k, v in anomalies.anomaly_info.items()}}


def evidently_columns(snapshot) -> tuple[dict, float]:
    """Per-column drift from an evidently 0.7 snapshot's dict: {column: {method, value, threshold, drifted}}."""
    columns, share = {}, float("nan")
    for metric in snapshot.dict()["metrics"]:
        cfg = metric.get("config", {})
        if cfg.get("type", "").endswith("DriftedColumnsCount"):
            share = float(metric["value"]["share"])
        elif cfg.get("type", "").endswith("ValueDrift"):
            method, value, threshold = cfg.get("method", ""), float(metric["value"]), float(cfg["threshold"])
            # p-value tests drift below the threshold, distances at or above it
            drifted = value < threshold if "p_value" in method else value >= threshold
            columns[cfg["column"]] = {"method": method, "value": value, "threshold": threshold, "drifted": drifted}
    return columns, share


def evidently_report(ref_frame: pd.DataFrame, new_frame: pd.DataFrame, path_html: str) -> dict:
    """evidently's DataDriftPreset on the per-window features, saved as HTML; a small summary dict."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    numeric = [c for c in ref_frame.columns if pd.api.types.is_numeric_dtype(ref_frame[c])]
    snapshot = Report([DataDriftPreset(columns=numeric)]).run(new_frame[numeric], ref_frame[numeric])
    snapshot.save_html(str(path_html))
    columns, share = evidently_columns(snapshot)
    return {"html": str(path_html), "drifted_share": share, "dataset_drift": bool(share >= 0.5),
            "drifted_features": sorted(c for c, v in columns.items() if v["drifted"]), "columns": columns}


# ------------------------------------------------------------------------------------------------- decision


def decide(data: DataDriftResult | None, concept: ConceptDriftResult | None,
           extra: dict | None = None) -> tuple[str, dict]:
    """"none" | "data" | "concept" | "data+concept" | "insufficient data", and the evidence as a dict.

    "insufficient data": the data-drift test could not run (too few devices or windows; the result's note
    says which numbers are missing) and no concept drift was found: not a "none" that means nothing.
    """
    is_data = bool(data and data.drifted)
    is_concept = bool(concept and concept.drifted)
    kind = {(False, False): "none", (True, False): "data", (False, True): "concept",
            (True, True): "data+concept"}[(is_data, is_concept)]
    if kind == "none" and data is not None and data.status == INSUFFICIENT:
        kind = INSUFFICIENT
    evidence = {"decision": kind, "data_drift": data.to_dict() if data else None,
                "concept_drift": concept.to_dict() if concept else None, **jsonable(extra or {})}
    json.dumps(evidence)  # fail here, not in the caller, if anything is not serialisable
    return kind, evidence
