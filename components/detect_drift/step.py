"""The detect-drift step: the production model's training data against the windows it has never seen.

    reference  the dataset lineage the production model was trained on (labels as it was trained)
    new        every window in the latest lineage that is not in the reference
(read by components/drift_inputs.py, which the relabel queue reads them with too).

Data drift and concept drift decide (core.py); prediction drift, TFDV's comparators and evidently's report
are evidence for people, window-level, so they are reported but do not decide. Reports land in the store:

    drift/<dataset version>/<time>/decision.json   the decision and all its evidence
    drift/<dataset version>/<time>/report.html     evidently's data-drift report on per-window features
    drift/<dataset version>/<time>/summary.md      a person's summary

The KFP UI also gets the accuracy chart (components/performance.py): the monitor runs recorded so far and
this decision's point, which its monitor records once it has acted on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from components import layout
from components.config import Config
from components.detect_drift.core import ConceptDriftResult, decide, evidently_report, tfdv_drift
from components.detect_drift.measure import measure
from components.detect_drift.results import jsonable
from components.drift_inputs import DriftInputs, load_monitor_inputs
from components.store import Store, put_json
from components.window_table import WindowTable


@dataclass
class DriftReport:
    decision: str  # "none" | "data" | "concept" | "data+concept" | "insufficient data"
    evidence: dict  # JSON-serialisable: decision.json
    summary_md: str


def detect_drift(inputs: DriftInputs, config: Config, html_path: str | Path) -> DriftReport:
    """Decide none / data / concept / data+concept / insufficient data for `inputs`; write evidently's HTML to
    `html_path`.

    The windows are measured first (measure.py: the model's scores, the data-drift and concept-drift tests,
    prediction drift), then the evidence reports run on a sample of their features.
    """
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
    tables = [x if isinstance(x, WindowTable) else WindowTable.from_windows(x, config.data)
              for x in (inputs.reference, inputs.new)]
    m = measure(*tables, inputs.tflite, inputs.holdout_accuracy, inputs.holdout_windows, config)
    evidently = evidently_report(m.ref_frame, m.new_frame, str(html_path))
    # The predicted class is the categorical feature here (L-infinity): a shift in what the model says.
    predicted = {} if m.ref_predicted is None else {"predicted_class": (m.ref_predicted, m.new_predicted)}
    tfdv = tfdv_drift(m.ref_frame.assign(**{k: v[0] for k, v in predicted.items()}),
                      m.new_frame.assign(**{k: v[1] for k, v in predicted.items()}), config.drift)
    kind, evidence = decide(m.data, m.concept if m.concept.windows else None, {
        **base, **m.counts, "prediction_drift": m.predictions, "tfdv": tfdv,
        "evidently": {k: v for k, v in evidently.items() if k != "html"}})
    return DriftReport(kind, evidence, summary_markdown(evidence, m.concept))


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
    if "unscored_windows" in e:
        u = e["unscored_windows"]
        lines.append(f"- Not scored by the model (features-only versions: no samples stored): "
                     f"{u['data_drift_sample']} windows of the data-drift sample (tested without class strata), "
                     f"{u['labelled']} labelled windows (left out of the concept-drift test)")
    p = e["prediction_drift"]
    lines.append(f"- Prediction drift (evidence): mean confidence {p['reference_mean_confidence']:.2f} -> "
                 f"{p['new_mean_confidence']:.2f}; predicted-class shares p = {p['class_share_p_value']:.2g}"
                 if "note" not in p else f"- Prediction drift (evidence): not measured ({p['note']})")
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
    folder = layout.drift_folder(report.evidence["dataset_version"], datetime.now(UTC))
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
    result = detect_drift(load_monitor_inputs(store, dataset_version, config.data), config, report_html)
    key = write_report(store, result, report_html)
    Path(summary_md).write_text(result.summary_md, encoding="utf-8")
    Path(decision_json).write_bytes(store.get_bytes(key))
    write_performance_html(store, result, performance_html)
    return result, key
