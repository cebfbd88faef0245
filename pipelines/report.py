"""`tinymlops report`: what the last promotion changed, on the data that made it necessary.

The production model and the one it replaced, both run as int8 on the same holdout devices' windows:
- post-drift holdout: the windows the newest ingest brought (current labels);
- baseline holdout: the oldest version's windows, with their current labels (a concept drift's relabelling
  corrected the stale ones it found) and, for the replaced model, as labelled when it was trained (its own
  claim); on simulated data also against the simulator's truth, which knows every stale label.
Beside them: the drift decision that started it and the relabel queue it answered.
"""

from __future__ import annotations

import json

import numpy as np

from components import registry
from components.config import Config
from components.evaluate.core import Holdout, load_holdouts
from components.features import input_groups
from components.int8_model import Int8Model
from components.simulator import read_truth
from components.store import Store, get_json


def _accuracy(store: Store, version: str, holdout: Holdout | None, config: Config) -> float | None:
    if holdout is None or not len(holdout.y):
        return None
    model = Int8Model(store.get_bytes(f"models/{version}/model.tflite"), input_groups(config.data))
    return float(np.mean(model.run_reference(holdout.x).argmax(1) == holdout.y))


def _latest(store: Store, prefix: str, name: str, where=lambda value: True) -> tuple[str, dict] | None:
    for key in sorted((k for k in store.list(prefix) if k.endswith(name)), reverse=True):
        value = get_json(store, key)
        if where(value):
            return key, value
    return None


def before_after(store: Store, config: Config) -> dict:
    moves = registry.promotions(store)
    if not moves or not moves[-1].get("previous"):
        raise ValueError(f"{store.url}: no model has replaced another yet: nothing to compare "
                         "(run `make run`, or the monitor after drifted data arrives)")
    before, after = moves[-1]["previous"], moves[-1]["version"]
    now = load_holdouts(store, registry.read_model(store, after)["dataset_version"], config)
    then = load_holdouts(store, registry.read_model(store, before)["dataset_version"], config)
    rows = {
        "post-drift holdout": (now.get("newest"), True),
        "baseline holdout, current labels": (now.get("baseline"), True),
        "baseline holdout, labels as the old model was trained": (then.get("baseline"), False),
    }
    truth = read_truth(store)  # SYNTHETIC: exists only where the simulator wrote the data
    if truth and now.get("baseline") is not None:
        h = now["baseline"]
        names = config.data.class_names
        rows["baseline holdout, simulator truth (demo only)"] = (
            Holdout(h.x, np.array([names.index(truth[k]) if k in truth else -1 for k in h.keys]), h.keys), True)
    table = [{"windows": 0 if h is None else len(h.y), "set": name, "before": _accuracy(store, before, h, config),
              "after": _accuracy(store, after, h, config) if for_after else None}
             for name, (h, for_after) in rows.items()]
    # The drift found against the replaced model, and the queue made from that decision.
    drift = _latest(store, "drift/", "decision.json",
                    lambda d: d["decision"] != "none" and d.get("production_model") == before)
    queue = drift and _latest(store, "labels/queues/", "manifest.json",
                              lambda q: q.get("decision") == drift[1].get("decision_key"))
    oracle = _import_counts(store, queue[0]) if queue else None
    return {"command": "report", "before": before, "after": after, "promotion": moves[-1], "table": table,
            "drift": drift and {"key": drift[0], "decision": drift[1]["decision"],
                                "concept": drift[1].get("concept_drift"), "data": drift[1].get("data_drift"),
                                "summary_link": store.link(drift[0].replace("decision.json", "summary.md")),
                                "report_link": store.link(drift[0].replace("decision.json", "report.html"))},
            "queue": queue and {"key": queue[0], **queue[1], "oracle_import": oracle}}


def _import_counts(store: Store, queue_manifest_key: str) -> dict | None:
    """The counts of the labels version the demo's oracle answer to this queue became, if any."""
    from components.datasets import list_versions, read_manifest

    export = queue_manifest_key.replace("manifest.json", "oracle-export.json")
    for version in list_versions(store):
        manifest = read_manifest(store, version)
        if manifest.get("export", {}).get("source") == export:
            return manifest["counts"]
    return None


def _pct(value: float | None) -> str:
    return "   -   " if value is None else f"{value:7.2%}"


def report_text(r: dict) -> str:
    lines = [f"Before/after the last promotion: {r['before']} -> {r['after']} ({r['promotion']['reason']})", "",
             f"  {'int8 accuracy on':<56}{'windows':>8}  {'before':>7}  {'after':>7}"]
    for row in r["table"]:
        lines.append(f"  {row['set']:<56}{row['windows']:>8}  {_pct(row['before'])}  {_pct(row['after'])}")
    drift = r["drift"]
    if drift:
        lines += ["", f"Drift that started it: {drift['decision'].upper()}"]
        concept, data = drift["concept"], drift["data"]
        if concept:
            lines.append(f"  concept: accuracy on {concept['windows']} newly labelled windows "
                         f"{concept['accuracy']:.1%} "
                         f"vs holdout {concept['holdout_accuracy']:.1%}, p = {concept['p_value']:.2g}; classes worse: "
                         f"{', '.join(concept['worse_classes']) or '-'}; devices worse: "
                         f"{', '.join(concept['worse_devices']) or '-'}")
        if data:
            lines.append(f"  data: {len(data['drifted_features'])} of {len(data['features'])} features drifted "
                         f"(device-level permutation test, family-wise alpha {data['alpha']}): "
                         f"{', '.join(data['drifted_features'][:6]) or '-'}")
        lines += [f"  summary: {drift['summary_link']}", f"  evidently report: {drift['report_link']}"]
    queue = r["queue"]
    if queue:
        lines += ["", f"Relabel queue {queue['key']}: {queue['tasks']} windows {json.dumps(queue['counts'])}"]
        if queue.get("oracle_import"):
            c = queue["oracle_import"]
            lines.append(f"  answered by the simulator's oracle (SYNTHETIC, demo only): {c['labels_changed']} of "
                         f"{c['labels_imported']} labels changed")
    return "\n".join(lines)
