"""The detect-drift step: the production model's training data against the windows it has never seen.

    reference  the dataset lineage the production model was trained on (labels as it was trained)
    new        every window in the latest lineage that is not in the reference

Data drift and concept drift decide (core.py); prediction drift, TFDV's comparators and evidently's report
are evidence for people, window-level, so they are reported but do not decide. Reports land in the store:

    drift/<dataset version>/<time>/decision.json   the decision and all its evidence
    drift/<dataset version>/<time>/report.html     evidently's data-drift report on per-window features
    drift/<dataset version>/<time>/summary.md      a person's summary

The KFP UI also gets the accuracy chart (components/performance.py): the monitor runs recorded so far and
this decision's point, which its monitor records once it has acted on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from components import registry
from components.config import Config
from components.datasets import WindowSet, latest_version, lineage_versions, read_lineage, read_versions
from components.detect_drift.core import (
    ConceptDriftResult,
    _jsonable,
    decide,
    detect_concept_drift,
    detect_data_drift,
    evidently_report,
    tfdv_drift,
)
from components.detect_drift.features import feature_frame
from components.features import input_groups, label_indices
from components.store import Store, put_json

PREFIX = "drift/"


@dataclass
class DriftInputs:
    """What one detect-drift run compares; loaded from the store by `load_drift_inputs`."""

    dataset_version: str | None  # the latest lineage's head: names the data compared
    production: str | None  # the model in production, if any
    tflite: bytes | None
    holdout_accuracy: float
    holdout_windows: int
    reference: WindowSet | None
    new: WindowSet | None
    # "device_id/window_id" of reference windows whose label an import changed since the model was trained
    relabelled_keys: frozenset[str] = frozenset()
    labelled_windows: int = 0  # with no model in production: labelled windows there are to train on

    @property
    def relabelled(self) -> int:
        return len(self.relabelled_keys)

    @property
    def data_key(self) -> str:
        """The data an alert is about: the same key twice means the same data."""
        return f"{self.dataset_version}--{self.production}"


def load_drift_inputs(store: Store, dataset_version: str | None = None) -> DriftInputs:
    dataset_version = dataset_version or latest_version(store)
    production = registry.production(store)
    if not dataset_version or not production:
        labelled = int((read_lineage(store, dataset_version).labels != "").sum()) if dataset_version else 0
        return DriftInputs(dataset_version, production, None, float("nan"), 0, None, None, labelled_windows=labelled)
    record = registry.read_model(store, production)
    reference = read_lineage(store, record["dataset_version"])
    trained = lineage_versions(store, record["dataset_version"])
    lineage = lineage_versions(store, dataset_version)
    if lineage[:len(trained)] == trained:
        # Every window of the training lineage's versions is in the reference, so only the later versions can
        # hold new windows, or new labels of trained windows (a labels version copies them): read only those,
        # streamed, split into windows the model never saw and copies of trained ones.
        later = lineage[len(trained):]
        new, copies = (read_versions(store, later, split_by=reference) if later
                       else [reference.select(np.zeros(len(reference), dtype=bool))] * 2)
    else:  # the model was trained on data that is not an ancestor of this version: compare whole lineages
        new, copies = read_versions(store, lineage, split_by=reference)
    trained_label = dict(zip(reference.keys().tolist(), reference.labels.tolist(), strict=True))
    relabelled = frozenset(k for k, label in zip(copies.keys().tolist(), copies.labels.tolist(), strict=True)
                           if trained_label[k] != label)
    metrics = json.loads(store.get_bytes(f"models/{production}/metrics.json"))
    return DriftInputs(dataset_version, production, store.get_bytes(f"models/{production}/model.tflite"),
                       float(metrics["int8_accuracy"]), int(metrics["holdouts"]["holdout"]["windows"]),
                       reference, new, relabelled)


@dataclass
class DriftReport:
    decision: str  # "none" | "data" | "concept" | "data+concept"
    evidence: dict  # JSON-serialisable: decision.json
    summary_md: str


def _sample(n: int, limit: int, seed: int) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def prediction_drift(tflite: bytes, config: Config, ref_x: np.ndarray, new_x: np.ndarray) -> dict:
    """The production model's predicted classes and confidence on reference vs new windows (evidence)."""
    from scipy import stats

    from components.int8_model import Int8Model

    model = Int8Model(tflite, input_groups(config.data))
    ref_scores, new_scores = model.dequantize(model.run_reference(ref_x)), model.dequantize(model.run_reference(new_x))
    names = config.data.class_names
    k = len(names)
    ref_counts = np.bincount(ref_scores.argmax(1), minlength=k)
    new_counts = np.bincount(new_scores.argmax(1), minlength=k)
    table = np.array([ref_counts, new_counts])
    table = table[:, table.sum(0) > 0]
    chi2_p = float(stats.chi2_contingency(table).pvalue) if table.shape[1] > 1 else 1.0
    ref_conf, new_conf = ref_scores.max(1), new_scores.max(1)
    return {"method": "window-level (evidence only): chi-square of predicted-class counts, Mann-Whitney U of "
                      "confidence",
            "reference_windows": len(ref_x), "new_windows": len(new_x),
            "reference_class_share": dict(zip(names, (ref_counts / max(len(ref_x), 1)).tolist(), strict=True)),
            "new_class_share": dict(zip(names, (new_counts / max(len(new_x), 1)).tolist(), strict=True)),
            "class_share_p_value": chi2_p,
            "reference_mean_confidence": float(ref_conf.mean()), "new_mean_confidence": float(new_conf.mean()),
            "confidence_p_value": float(stats.mannwhitneyu(ref_conf, new_conf).pvalue),
            "reference_scores": ref_scores, "new_scores": new_scores}  # popped by the caller


def detect_drift(inputs: DriftInputs, config: Config, html_path: str | Path) -> DriftReport:
    """Decide none / data / concept / data+concept for `inputs`; write evidently's HTML to `html_path`."""
    base = {"dataset_version": inputs.dataset_version, "production_model": inputs.production,
            "data_key": inputs.data_key, "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "relabelled_windows": inputs.relabelled, "labelled_windows": inputs.labelled_windows}
    note = ("no model in production: nothing to compare (the first training run makes the baseline)"
            if not inputs.production else "no dataset yet" if not inputs.dataset_version
            else "no new windows since the production model's training data" if not len(inputs.new) else "")
    if note:
        kind, evidence = decide(None, None, {**base, "note": note, "new_windows": 0})
        Path(html_path).write_text(f"<html><body><p>{note}</p></body></html>")
        return DriftReport(kind, evidence, f"# Drift: {kind}\n\n{note}\n")
    drift, data = config.drift, config.data
    ref, new = inputs.reference, inputs.new
    data_result = detect_data_drift(ref.x, ref.device_ids, new.x, new.device_ids, drift, data)
    y_new = label_indices(new.labels, data.class_names)
    concept = detect_concept_drift(inputs.tflite, input_groups(data), new.x, y_new, new.device_ids,
                                   inputs.holdout_accuracy, inputs.holdout_windows, drift, data.class_names)
    ref_i = _sample(len(ref), drift.prediction_sample, drift.seed)
    new_i = _sample(len(new), drift.prediction_sample, drift.seed + 1)
    predictions = prediction_drift(inputs.tflite, config, ref.x[ref_i], new.x[new_i])
    ref_scores, new_scores = predictions.pop("reference_scores"), predictions.pop("new_scores")
    ref_e = _sample(len(ref_i), drift.evidence_sample, drift.seed + 2)  # positions within the samples
    new_e = _sample(len(new_i), drift.evidence_sample, drift.seed + 3)
    ref_frame, new_frame = feature_frame(ref.x[ref_i[ref_e]], data), feature_frame(new.x[new_i[new_e]], data)
    evidently = evidently_report(ref_frame, new_frame, str(html_path))
    # The predicted class is the categorical feature here (L-infinity): a shift in what the model says.
    names = np.array(data.class_names)
    tfdv = tfdv_drift(ref_frame.assign(predicted_class=names[ref_scores[ref_e].argmax(1)]),
                      new_frame.assign(predicted_class=names[new_scores[new_e].argmax(1)]), drift)
    kind, evidence = decide(data_result, concept if concept.windows else None, {
        **base, "new_windows": len(new), "new_labelled_windows": int((y_new >= 0).sum()),
        "new_devices": len(set(new.device_ids)), "prediction_drift": predictions, "tfdv": tfdv,
        "evidently": {k: v for k, v in evidently.items() if k != "html"}})
    return DriftReport(kind, evidence, summary_markdown(evidence, concept))


def summary_markdown(e: dict, concept: ConceptDriftResult | None) -> str:
    lines = [f"# Drift: {e['decision']}", "",
             f"Production model {e['production_model']} against {e['new_windows']} new windows "
             f"({e['new_labelled_windows']} labelled, {e['new_devices']} devices) up to dataset "
             f"{e['dataset_version']}.", ""]
    d = e["data_drift"]
    lines.append(f"- **Data drift: {'yes' if d['drifted'] else 'no'}** ({d['method']}, family-wise alpha "
                 f"{d['alpha']}): {len(d['drifted_features'])} of {len(d['features'])} features drifted")
    for name in d["drifted_features"][:8]:
        lines.append(f"  - `{name}`: effect {d['effect_sizes'][name]:+.2f} SD, adjusted p "
                     f"{d['adjusted_p_values'][name]:.4f}")
    if concept is not None and concept.windows:
        lines.append(f"- **Concept drift: {'yes' if concept.drifted else 'no'}**: accuracy on new labels "
                     f"{concept.accuracy:.1%} vs holdout {concept.holdout_accuracy:.1%} (margin "
                     f"{concept.margin:.0%}), p = {concept.p_value:.2g}")
        if concept.worse_classes:
            lines.append(f"  - classes worse: {', '.join(concept.worse_classes)}")
        if concept.worse_devices:
            lines.append(f"  - devices worse: {', '.join(concept.worse_devices)}")
    else:
        lines.append("- **Concept drift: not tested** (no newly labelled windows)")
    p = e["prediction_drift"]
    lines.append(f"- Prediction drift (evidence): mean confidence {p['reference_mean_confidence']:.2f} -> "
                 f"{p['new_mean_confidence']:.2f}; predicted-class shares p = {p['class_share_p_value']:.2g}")
    lines.append(f"- TFDV drift comparators (evidence): {len(e['tfdv']['drifted_features'])} features over "
                 f"threshold; evidently (evidence): {e['evidently']['drifted_share']:.0%} of features drifted")
    return "\n".join(lines) + "\n"


def write_report(store: Store, report: DriftReport, html_path: str | Path) -> str:
    """Write decision.json, report.html and summary.md under a new folder; return decision.json's key."""
    folder = f"{PREFIX}{report.evidence['dataset_version'] or 'none'}/{datetime.now(UTC):%Y%m%d-%H%M%S-%f}/"
    store.put_bytes(folder + "report.html", Path(html_path).read_bytes())
    store.put_bytes(folder + "summary.md", report.summary_md.encode())
    put_json(store, folder + "decision.json", {**_jsonable(report.evidence), "decision_key": folder + "decision.json",
                                               "report_html": folder + "report.html"})
    return folder + "decision.json"


def write_performance_html(store: Store, report: DriftReport, html_path: str | Path) -> None:
    """The accuracy chart over the recorded monitor runs and this decision (not recorded yet), as a page."""
    from components.performance import accuracy_chart, chart_page, monitor_record, read_series

    chart = accuracy_chart([*read_series(store), monitor_record(report.evidence, None)])
    note = "The monitor runs recorded so far and this run's own measurement, if it made one."
    Path(html_path).write_text(chart_page(chart, "Model performance: accuracy rate", note), encoding="utf-8")


def run(store: Store, config: Config, dataset_version: str | None, report_html: str, summary_md: str,
        decision_json: str, performance_html: str) -> tuple[DriftReport, str]:
    """The component's work, by artifact path: decide, write the reports; return the report and decision.json's key."""
    result = detect_drift(load_drift_inputs(store, dataset_version), config, report_html)
    key = write_report(store, result, report_html)
    Path(summary_md).write_text(result.summary_md, encoding="utf-8")
    Path(decision_json).write_bytes(store.get_bytes(key))
    write_performance_html(store, result, performance_html)
    return result, key
