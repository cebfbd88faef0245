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
import pandas as pd

from components import registry
from components.config import Config
from components.datasets import WindowSet, latest_version, lineage_versions, read_lineage, read_versions
from components.detect_drift.core import (
    ConceptDriftResult,
    _int8_scores,
    decide,
    detect_concept_drift,
    evidently_report,
    tfdv_drift,
)
from components.detect_drift.data_drift import detect_data_drift
from components.detect_drift.features import feature_frame
from components.detect_drift.results import jsonable
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
    decision: str  # "none" | "data" | "concept" | "data+concept" | "insufficient data"
    evidence: dict  # JSON-serialisable: decision.json
    summary_md: str


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
    """Decide none / data / concept / data+concept / insufficient data for `inputs`; write evidently's HTML to
    `html_path`."""
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
    # The data-drift test on at most max_windows_per_device windows per device and side, each window in the
    # class the production model predicts (the signal's class: neither a new class mix nor a stale label
    # moves it), in time order.
    ref_d = per_device_sample(ref.device_ids, ref.t_ms[:, 0], drift.max_windows_per_device)
    new_d = per_device_sample(new.device_ids, new.t_ms[:, 0], drift.max_windows_per_device)
    names = np.array(data.class_names)
    groups = input_groups(data)
    ref_class = names[_int8_scores(inputs.tflite, groups, ref.x[ref_d]).argmax(1)]
    new_class = names[_int8_scores(inputs.tflite, groups, new.x[new_d]).argmax(1)]
    data_result = detect_data_drift(ref.x[ref_d], ref.device_ids[ref_d], new.x[new_d], new.device_ids[new_d],
                                    drift, data, ref_classes=ref_class, new_classes=new_class,
                                    ref_order=ref.t_ms[ref_d, 0], new_order=new.t_ms[new_d, 0])
    y_new = label_indices(new.labels, data.class_names)
    concept = detect_concept_drift(inputs.tflite, groups, new.x, y_new, new.device_ids,
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
    lines += data_drift_lines(e["data_drift"])
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


def data_drift_lines(d: dict) -> list[str]:
    """The data-drift part of the summary: the answer, where and what kind, and what silence means."""
    if d["status"] != "tested":
        return [f"- **Data drift: not decided** ({d['note']})"]
    lines = [f"- **Data drift: {'yes' if d['drifted'] else 'no'}** ({d['method']}, family-wise alpha {d['alpha']}): "
             f"{len(d['drifted_features'])} of {len(d['features'])} features drifted; "
             f"{len(d['paired_devices'])} device(s) compared with themselves, {d['new_only_devices']} new"]
    for name in d["drifted_features"][:8]:
        effect = d["effect_sizes"][name]
        lines.append(f"  - `{name}`: effect {'n/a' if effect is None else f'{effect:+.2f} SD'}, adjusted p "
                     f"{d['adjusted_p_values'][name]:.4f}")
    for kind in d["kinds"]:
        where = {"fleet": f"all {len(kind['devices'])} devices seen before",
                 "new devices": f"{len(kind['devices'])} new devices"}.get(kind["scope"], ", ".join(kind["devices"]))
        lines.append(f"  - looks like **{kind['kind']}** ({kind['sensor'] or 'sensors'}"
                     f"{': ' + ', '.join(kind['channels']) if kind['channels'] else ''}) on {where}: {kind['detail']}")
    mix = d["class_mix"]
    if mix.get("tested"):
        change = mix["largest_change"]
        lines.append(f"- Class mix (prior, not sensor drift): {'shifted' if mix['shifted'] else 'unchanged'} "
                     f"(p = {mix['p_value']:.2g}; `{change}` {mix['reference_share'][change]:.0%} -> "
                     f"{mix['new_share'][change]:.0%})")
    lines.append(f"- What silence means: {d['sensitivity']['statement']}")
    if d["note"]:
        lines.append(f"- Not tested: {d['note']}")
    return lines


def write_report(store: Store, report: DriftReport, html_path: str | Path) -> str:
    """Write decision.json, report.html and summary.md under a new folder; return decision.json's key."""
    folder = f"{PREFIX}{report.evidence['dataset_version'] or 'none'}/{datetime.now(UTC):%Y%m%d-%H%M%S-%f}/"
    store.put_bytes(folder + "report.html", Path(html_path).read_bytes())
    store.put_bytes(folder + "summary.md", report.summary_md.encode())
    put_json(store, folder + "decision.json", {**jsonable(report.evidence), "decision_key": folder + "decision.json",
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
