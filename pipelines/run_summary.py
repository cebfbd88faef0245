"""What a local pipeline run did, read back from the store and its log: the summary and its text."""

from __future__ import annotations

import re
from pathlib import Path

from components import layout
from components.store import Store


def summary_text(s: dict) -> str:
    """The summary for a person, as the CLI prints it."""
    return _drift_monitor_text(s) if s["pipeline"] == "drift-monitor" else _training_text(s)


_ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception|Exists|Missing|Refused|Interrupt)): (.+)$")


def task_error(log: Path) -> str | None:
    """The last exception a task raised, as its traceback's final line names it ("StoreError: cannot reach
    MinIO ... to read incoming/...")."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        match = _ERROR_LINE.match(line.strip())
        if match:
            return f"{match.group(1)}: {match.group(2)}"
    return None


def _failed_tasks_text(s: dict) -> list[str]:
    lines = []
    for task in s.get("failed_tasks", []):
        lines.append(f"  task {task['task']} failed in {task['image']} (container {task['container_id']}, "
                     f"exit {task['exit_code']}); its log ends:")
        lines += ["    " + line for line in task["log_tail"].rstrip().splitlines()]
    return lines


def _failed_task_log(s: dict, lines: int = 12) -> list[str]:
    """The end of the log file where a subprocess task failed (the container runner has its own tail)."""
    failed = [t["name"] for t in s.get("task_lines", []) if t["status"] not in ("SUCCESS", "running")]
    if not failed or s.get("failed_tasks"):
        return []
    tail = Path(s["log"]).read_text(errors="replace").rstrip().splitlines()[-lines:]
    return [f"  task {failed[0]} failed; the log ends:", *("    " + line for line in tail)]


def training_summary(store: Store, model_version: str | None) -> dict:
    from components import registry

    summary: dict = {"model_version": model_version, "production": registry.production(store)}
    if model_version:
        record = registry.read_model(store, model_version)
        summary.update({key: record.get(key) for key in (
            "blessed", "blessing_reasons", "not_promoted_because", "int8_accuracy", "float_accuracy",
            "tflite_bytes", "arena_bytes", "dataset_version", "firmware_built", "firmware_missing")})
        summary["links"] = {name: store.link(layout.model_file(model_version, name))
                            for name in ("model_card.md", "model.tflite", "firmware/build.json")
                            if registry.model_file_exists(store, model_version, name)}
    return summary


def _training_text(s: dict) -> str:
    if s["failed"] or not s.get("model_version"):
        return "\n".join([f"{s['pipeline']} FAILED" + (f": {s['error']}" if s.get("error") else ""),
                          f"  its log: {s['log']}; reports written so far are in the store {s['store']}; "
                          f"production is still {s.get('production', 'unknown (the store did not answer)')}",
                          *_failed_task_log(s), *_failed_tasks_text(s)])
    verdict = ("blessed and promoted to production" if s["production"] == s["model_version"]
               else "NOT promoted: " + "; ".join(s["not_promoted_because"] or s["blessing_reasons"]))
    firmware = ("built for nano33ble and esp32" if s["firmware_built"]
                else "NOT built: " + "; ".join(s["firmware_missing"] or ["no firmware-build result"]))
    return "\n".join([
        f"{s['pipeline']} finished: model {s['model_version']} {verdict}.",
        f"  trained on dataset {s['dataset_version']} (and its ancestors)",
        f"  holdout accuracy: float {s['float_accuracy']:.2%}, int8 on TFLM {s['int8_accuracy']:.2%}",
        f"  .tflite {s['tflite_bytes']:,} B, minimal tensor arena {s['arena_bytes']:,} B",
        f"  C sources: {layout.model_folder(s['model_version'])}c/; firmware {firmware}",
        f"  production: {s['production']}",
        f"  store: {s['store']}/{layout.model_folder(s['model_version'])} (model.tflite, model.h5, model_card.md, "
        "...)",
        *[f"  {name}: {link}" for name, link in s["links"].items()],
        f"  KFP artifacts: {s['pipeline_root']}"])


def drift_monitor_summary(store: Store, decision_key: str | None, failed: bool, versions_before: set[str]) -> dict:
    from components.datasets import latest_version, list_versions, read_manifest
    from components.store import get_json

    latest = latest_version(store)
    decision = get_json(store, decision_key) if decision_key else None
    summary: dict = {"latest_dataset_version": latest, "decision_key": decision_key}
    # The version this run's ingest wrote, if any uploads were new.
    version = next((v for v in list_versions(store) if v not in versions_before), None)
    summary["dataset_version"] = version
    if version:
        summary["counts"] = read_manifest(store, version)["counts"]
    if decision:
        summary["drift"] = {k: decision.get(k) for k in ("decision", "data_key", "production_model", "new_windows",
                                                           "new_labelled_windows", "note")}
        folder = decision_key[:-len("decision.json")]
        summary["drift"]["links"] = {name: store.link(folder + name) for name in ("summary.md", "report.html")}
    # A failed run returns no version, but its ingest wrote the latest one and validation reported on it.
    reported = latest if failed else version
    reports = [k for k in store.list(layout.validation_folder(reported)) if k.endswith(".json")] if reported else []
    if reports:
        report = get_json(store, reports[-1])
        summary["validation"] = {"schema_version": report["schema_version"], "key": reports[-1],
                                 "report_link": store.link(reports[-1][:-len(".json")] + ".md"),
                                 "anomalies": len(report["anomalies"]), "blocking": len(report["blocking"]),
                                 "kinds": sorted({a["kind"] for a in report["anomalies"]})}
    return summary


def _drift_monitor_text(s: dict) -> str:
    status = "FAILED" + (f": {s['error']}" if s.get("error") else "") if s["failed"] else "finished."
    lines = [f"{s['pipeline']} {status}"]
    if s.get("summary_unavailable"):
        lines.append(f"  (no summary from the store after the failure: {s['summary_unavailable']})")
    counts = s.get("counts")
    if counts:
        lines += [f"  dataset version {s['dataset_version']}",
                  f"  windows: {counts['windows_accepted']} accepted, {counts['windows_quarantined']} "
                  f"quarantined ({counts['windows_duplicate']} exact duplicates)",
                  f"  rows: {counts['rows_read']} read = {counts['rows_accepted']} accepted + "
                  f"{counts['rows_quarantined']} quarantined; files: {counts['files_read']} read, "
                  f"{counts['files_rejected']} rejected whole"]
    elif not s["failed"]:
        lines.append(f"  no new uploads; latest dataset version {s.get('latest_dataset_version')}")
    validation = s.get("validation")
    if validation:
        lines.append(f"  anomalies: {validation['anomalies']} ({validation['blocking']} blocking) against "
                     f"schema {validation['schema_version']} {validation['kinds'] or ''}".rstrip())
        lines.append(f"  validation report: {validation['report_link']}")
    drift = s.get("drift")
    if drift:
        lines.append(f"  drift decision: {drift['decision'].upper()} (production model {drift['production_model']}, "
                     f"{drift['new_windows']} new windows, {drift['new_labelled_windows'] or 0} labelled)"
                     + (f"; {drift['note']}" if drift.get("note") else ""))
        lines += [f"  drift {name}: {link}" for name, link in drift["links"].items()]
    version = s.get("dataset_version") or s.get("latest_dataset_version")
    lines.append(f"  store: {s['store']}")
    if version:
        lines += [f"    {layout.dataset_folder(version)} (windows.npz, quarantine.csv, manifest.json)",
                  f"    {layout.validation_folder(version)} (report .md/.json, TFDV statistics), {layout.SCHEMAS}"]
    lines.append(f"  KFP artifacts: {s['pipeline_root']}")
    if s["failed"]:
        lines.append(f"  a task failed: its error is in {s['log']}; reports written so far are in the store")
        lines += _failed_task_log(s) + _failed_tasks_text(s)
    return "\n".join(lines)
