"""The relabel-queue step: after a drift decision, the windows to label, as a Label Studio queue in the store.

    labels/queues/<queue id>/tasks.json          Label Studio task import (pre-annotations, scores)
    labels/queues/<queue id>/label_config.xml    the labelling config the tasks fit
    labels/queues/<queue id>/manifest.json       the decision it answers, counts per kind, budgets
    labels/queues/<queue id>/oracle-export.json  (demo only) the simulator oracle's answers

On a real fleet people label the queue later and `tinymlops labels import` brings the export back as a new
dataset version, which the next run trains on. With `labelling.oracle` (the embedded default's demo) the
simulator's ground truth answers at once and the answers are imported here, so this run trains on them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from components import layout
from components.config import Config
from components.drift_decision import drift_kinds
from components.drift_inputs import DriftInputs, load_drift_inputs
from components.label_studio import label_studio_config, label_studio_tasks
from components.model_inputs import input_groups, label_indices
from components.relabel_queue.core import fresh_label_suggestions, select_for_concept_drift, select_for_data_drift
from components.store import Store, put_json
from components.window_features import window_features


@dataclass
class Queue:
    tasks: list[dict]
    counts: dict[str, int]  # tasks per kind: "concept" (stale old labels), "data" (new unlabelled windows)
    skipped: dict[str, str]  # kind -> why nothing could be asked


def build_queue(inputs: DriftInputs, decision: str, config: Config) -> Queue:
    """The tasks a drift decision asks for, within the configured budgets."""
    from components.int8_model import Int8Model

    data, labelling = config.data, config.labelling
    names = np.array(data.class_names)
    tasks: list[dict] = []
    counts = {"concept": 0, "data": 0}
    skipped: dict[str, str] = {}
    ref, new = inputs.reference, inputs.new
    kinds = drift_kinds(decision)
    y_fresh = label_indices(new.labels, data.class_names)
    if "concept" in kinds and len(np.unique(y_fresh[y_fresh >= 0])) < 2:
        skipped["concept"] = "fewer than 2 classes among the fresh labels: no model of the current meaning"
    elif "concept" in kinds:
        # Old windows whose label an import already corrected since training are not asked about again.
        old = ref.select(np.array([k not in inputs.relabelled_keys for k in ref.keys()], dtype=bool))
        y_old = label_indices(old.labels, data.class_names)
        picked, staleness = select_for_concept_drift(old.x, y_old, new.x, y_fresh, labelling.concept_drift_budget,
                                                     labelling.seed, data.sample_rate_hz)
        ref = old
        if len(picked):
            # The pre-annotation is what the fresh labels say: the production model would repeat the stale meaning.
            suggested, probability = fresh_label_suggestions(ref.x[picked], new.x, y_fresh, labelling.seed,
                                                             data.sample_rate_hz)
            reasons = [f"stored label likely stale after concept drift (staleness {s:.2f})" for s in staleness]
            tasks += label_studio_tasks(ref.select(picked), [inputs.dataset_version] * len(picked),
                                        names[suggested], probability, "fresh-labels model", reasons,
                                        data.channel_names)
        counts["concept"] = len(picked)
    unlabelled = new.select(new.labels == "")
    if "data" in kinds and not len(unlabelled):
        skipped["data"] = "every new window is labelled already"
    elif "data" in kinds:
        model = Int8Model(inputs.tflite, input_groups(data))
        scores = model.dequantize(model.run_reference(unlabelled.x))
        picked = select_for_data_drift(scores, window_features(unlabelled.x, data.sample_rate_hz),
                                       labelling.data_drift_budget, labelling.seed)
        reasons = ["new data unlike the training data: the model is unsure here"] * len(picked)
        tasks += label_studio_tasks(unlabelled.select(picked), [inputs.dataset_version] * len(picked),
                                    names[scores[picked].argmax(1)], scores[picked].max(1), inputs.production,
                                    reasons, data.channel_names)
        counts["data"] = len(picked)
    return Queue(tasks, counts, skipped)



def write_queue(store: Store, queue: Queue, config: Config, decision_key: str) -> str:
    """Write the queue under a new id; return the tasks.json key."""
    folder = layout.queue_folder(datetime.now(UTC))
    store.put_bytes(folder + "label_config.xml",
                    label_studio_config(config.data.channel_names, config.data.class_names).encode())
    store.put_bytes(folder + "tasks.json", json.dumps(queue.tasks).encode())
    put_json(store, folder + "manifest.json", {"decision": decision_key, "counts": queue.counts,
                                               "tasks": len(queue.tasks), "budgets": {
                                                   "concept": config.labelling.concept_drift_budget,
                                                   "data": config.labelling.data_drift_budget}})
    return folder + "tasks.json"


def answer_with_oracle(store: Store, tasks_key: str, config: Config, base_version: str) -> dict:
    """SYNTHETIC (demo and tests only): the simulator's truth answers the queue; import it as a new version."""
    from components.labels import import_labels
    from components.simulator import oracle_answer

    answered = json.dumps(oracle_answer(store, json.loads(store.get_bytes(tasks_key)))).encode()
    export_key = layout.beside(tasks_key, "oracle-export.json")
    store.put_bytes(export_key, answered)
    result = import_labels(store, export_key, answered, config, base_version=base_version)
    return {"version": result.version, "counts": result.counts, "export": export_key}


def run_relabel_queue(store: Store, config: Config, decision: dict) -> tuple[str, dict]:
    """Queue what `decision` (detect-drift's decision.json) asks for; with the demo's oracle, import the
    answers. Returns (the dataset version to train on, a summary)."""
    version, summary = decision["dataset_version"] or "", {"decision": decision["decision"], "tasks": 0}
    if not drift_kinds(decision["decision"]):  # "none" or "insufficient data": nothing to label for
        return version, summary
    built = build_queue(load_drift_inputs(store, version), decision["decision"], config)
    summary.update(tasks=len(built.tasks), counts=built.counts, skipped=built.skipped,
                   key=write_queue(store, built, config, decision.get("decision_key", "")))
    if config.labelling.oracle and built.tasks:
        summary["oracle"] = answer_with_oracle(store, summary["key"], config, version)
        version = summary["oracle"]["version"]
    return version, summary
