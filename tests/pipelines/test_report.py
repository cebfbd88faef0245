"""Model performance over time: the monitor's records, the chart drawn from them, the report's page in the store,
and the detect-drift component's chart for the KFP UI."""

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from components import registry
from components.config import Config
from components.detect_drift import decide, detect_concept_drift, detect_data_drift
from components.ingest.step import run_ingest
from components.performance import accuracy_chart, read_series, record_monitor_run, wilson
from components.store import LocalStore, put_json
from pipelines.report import report, report_text

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
FAST_DRIFT = Config.from_dict({"drift": {"permutations": 1000, "min_devices": 2}}).drift


def test_wilson_interval_matches_the_textbook_values():
    low, high = wilson(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert wilson(0, 10)[0] == pytest.approx(0.0) and wilson(10, 10)[1] == pytest.approx(1.0)


def _register(store, version: str, tflite: bytes, dataset_version: str, accuracy: float) -> None:
    metrics = {"int8_accuracy": accuracy, "holdouts": {"holdout": {"windows": 40}}}
    build = {"built": False, "missing": ["PlatformIO ('pio' not on PATH)"], "sizes": {},
             "cortex_m4": {"statement": "not verified on Cortex-M4: test"}}
    registry.register(store, version, {"model.tflite": tflite, "metrics.json": json.dumps(metrics).encode(),
                                       "model_card.md": b"# card\n", "c/model_data.h": b"// model\n",
                                       "firmware/build.json": json.dumps(build).encode()},
                      {"dataset_version": dataset_version, "blessed": True})


def _decision(store, windows, production: str | None, wrong_devices: set[str], at: datetime) -> str:
    """A real decision (core's tests and decide) on the fleet's windows: the devices in `wrong_devices` get
    labels the model misses; written where detect-drift writes its decisions."""
    extra = {"production_model": production, "dataset_version": "v", "created": at.isoformat(), "new_windows": 0}
    if production is None:
        kind, evidence = decide(None, None, extra)
    else:
        y = np.zeros(len(windows), dtype=int)
        wrong = np.isin(windows.device_ids, list(wrong_devices))
        y[wrong] = 1  # the stand-in model below always says class 0

        def model(x):
            return np.tile([1.0, 0.0, 0.0, 0.0, 0.0], (len(x), 1))

        concept = detect_concept_drift(model, None, windows.x, y, windows.device_ids, 0.95, 100, FAST_DRIFT)
        # Every other window on each side: the same devices on both, so the paired test has something to pair.
        data = detect_data_drift(windows.x[::2], windows.device_ids[::2], windows.x[1::2],
                                 windows.device_ids[1::2], FAST_DRIFT)
        kind, evidence = decide(data, concept, {**extra, "new_windows": len(windows)})
    key = f"drift/v/{at:%Y%m%d-%H%M%S}/decision.json"
    put_json(store, key, {**evidence, "decision_key": key})
    return key


@pytest.fixture
def monitored(tmp_path, small_baseline, small_int8_model):
    """Three monitor runs recorded: the first model trained; concept drift found, a retrained model promoted;
    nothing new. Real models, a real dataset, decisions from the real tests."""
    from components.datasets import read_lineage

    store, config = LocalStore(tmp_path / "store"), Config()
    for upload in small_baseline[0]:
        store.put_bytes(upload.key, upload.data)
    version = run_ingest(store, config).version
    windows = read_lineage(store, version)
    tflite = small_int8_model[0]

    def run(model: str) -> dict:
        return {"where": "local", "model_version": model, "production": model, "failed": False}

    first = _decision(store, windows, None, set(), T0)
    _register(store, "m-1", tflite, version, 0.95)
    registry.promote(store, "m-1", by="test", reason="first")
    record_monitor_run(store, first, {"started": True, "reason": "first model", "run": run("m-1")},
                       at=T0 + timedelta(minutes=4))
    drifted = _decision(store, windows, "m-1", {"dev-a000", "dev-a001"}, T0 + timedelta(minutes=5))
    put_json(store, "labels/queues/q1/manifest.json", {"decision": drifted, "counts": {"concept": 5, "data": 0},
                                                       "tasks": 5, "budgets": {"concept": 5, "data": 5}})
    _register(store, "m-2", tflite, version, 0.975)
    registry.promote(store, "m-2", by="test", reason="retrained")
    record_monitor_run(store, drifted, {"started": True, "reason": "concept drift", "run": run("m-2")},
                       at=T0 + timedelta(minutes=9))
    quiet = _decision(store, windows, "m-2", set(), T0 + timedelta(minutes=10))
    record_monitor_run(store, quiet, {"started": False, "reason": "decision 'none': nothing to do"},
                       at=T0 + timedelta(minutes=10))
    return store, config, windows


def test_monitor_records_are_read_back_and_plotted_as_recorded(monitored):
    store, _, windows = monitored
    series = read_series(store)
    assert [r["decision"] for r in series] == ["none", "concept", "none"]
    assert [(r["run"] or {}).get("model_version") for r in series] == ["m-1", "m-2", None]
    drifted = series[1]
    wrong = int(np.isin(windows.device_ids, ["dev-a000", "dev-a001"]).sum())
    accuracy = drifted["accuracy"]
    assert accuracy["windows"] == len(windows) and accuracy["correct"] == len(windows) - wrong
    assert (accuracy["low"], accuracy["high"]) == pytest.approx(wilson(len(windows) - wrong, len(windows)))
    assert drifted["run"]["promoted"] and drifted["run"]["holdout"]["accuracy"] == pytest.approx(39 / 40)
    assert drifted["data_drift"]["features"] == 52 and drifted["trigger"]["reason"] == "concept drift"

    chart = accuracy_chart(series)
    assert chart.png.startswith(b"\x89PNG")
    plotted = [(p.series, p.at, p.accuracy, p.low, p.high, p.windows) for p in chart.points]
    # each recorded accuracy is a point: new labels at the time of measuring, holdouts when the run ended
    assert plotted == [
        ("holdout", series[0]["at"], 38 / 40, *wilson(38, 40), 40),
        ("new labels", drifted["measured_at"], accuracy["accuracy"], accuracy["low"], accuracy["high"],
         len(windows)),
        ("holdout", drifted["at"], 39 / 40, *wilson(39, 40), 40),
        ("new labels", series[2]["measured_at"], 1.0, *wilson(len(windows), len(windows)), len(windows))]
    assert [(m.kind, m.label) for m in chart.marks] == [
        ("monitor run", "none"), ("retraining", "local run"), ("promotion", "m-1"),
        ("monitor run", "concept"), ("alert", "concept drift"), ("retraining", "local run"), ("promotion", "m-2"),
        ("monitor run", "none")]


def test_report_writes_a_self_contained_page_and_chart_into_the_store(monitored):
    store, config, _ = monitored
    result = report(store, config, now=T0 + timedelta(minutes=11))
    page = store.get_bytes(result["page_key"]).decode()
    assert result["page"] == store.link(result["page_key"]) and result["chart"] == store.link(result["chart_key"])
    # the chart is in the page, as the same PNG the store holds
    (embedded,) = re.findall(r"src=['\"]data:image/png;base64,([^'\"]+)['\"]", page)
    assert base64.b64decode(embedded) == store.get_bytes(result["chart_key"])
    # self-contained: nothing loaded from elsewhere; links only into the store
    assert all(src.startswith("data:") for src in re.findall(r"src=['\"]([^'\"]+)", page))
    hrefs = re.findall(r"href=['\"]([^'\"]+)", page)
    assert hrefs and all(h.startswith(store.root.as_uri() + "/") for h in hrefs)
    assert not re.search(r"https?://|<script|<link|@import", page)
    # the before/after table, the drift evidence, each run's reports, the production model's files
    for row in result["table"]:
        assert row["set"] in page
    assert "concept: accuracy on" in page and "0 of 52 features drifted" in page
    drift_folder = read_series(store)[1]["decision_key"][:-len("decision.json")]
    assert store.link(drift_folder + "summary.md") in hrefs and store.link("models/m-2/model_card.md") in hrefs
    assert store.link("models/m-2/c/model_data.h") in hrefs and store.link("models/m-2/firmware/build.json") in hrefs
    assert result["performance"]["points"][1]["series"] == "new labels"

    text = report_text(result)
    where = text[text.index("Where to look:"):].splitlines()
    assert [line.split(":")[0].strip() for line in where[1:]] == [
        "report page", "accuracy chart", "model card", "C sources", "firmware build"]
    assert result["page"] in where[1] and "models/m-2/c/" in where[4] and "NOT built" in where[5]
    assert text.count("Relabel queue labels/queues/q1/") == page.count("Relabel queue labels/queues/q1/") == 1


@pytest.fixture
def kfp_local(tmp_path):
    import kfp.local

    kfp.local.init(runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"),
                   raise_on_error=True)
    return tmp_path / "kfp"


def test_detect_drift_component_shows_the_accuracy_chart_in_the_kfp_ui(kfp_local, monitored):
    from components.detect_drift.component import detect_drift

    store, config, _ = monitored
    task = detect_drift(store_url=str(store.root), config_json=config.to_json(), dataset_version="")
    page = Path(task.outputs["performance"].path).read_text()
    assert "data:image/png;base64," in page and "Model performance: accuracy rate" in page
    # the recorded points and this run's (no new windows against m-2: nothing measured, so no new point)
    recorded = accuracy_chart(read_series(store)).points
    assert page.count("<tr><td>") == len(recorded)
    assert f"<td>{recorded[1].accuracy:.1%}</td>" in page
    assert task.outputs["Output"].endswith("decision.json")


def test_a_run_submitted_to_kfp_is_marked_and_its_outcome_left_to_the_cluster():
    from components.performance import chart_data, monitor_record

    decision = {"decision": "data", "created": T0.isoformat(), "production_model": "m-1"}
    trigger = {"started": True, "reason": "data drift", "alert": "alerts/x/0001/claim.json",
               "run": {"where": "kfp", "run_id": "r-1", "url": "http://kfp/#/runs/details/r-1"}}
    record = monitor_record(decision, trigger, at=T0 + timedelta(minutes=1))
    assert record["run"] == {"where": "kfp", "run_id": "r-1", "url": "http://kfp/#/runs/details/r-1",
                             "model_version": None, "promoted": None, "failed": None}
    points, marks = chart_data([record])
    assert points == [] and [(m.kind, m.label, m.until) for m in marks] == [
        ("monitor run", "data", ""), ("alert", "data drift", ""), ("retraining", "submitted to KFP", "")]
