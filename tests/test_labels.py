"""Labels back into the data: queue -> oracle -> Label Studio export -> a new dataset version, over a real store."""

import json

import numpy as np
import pytest

from components.datasets import (
    list_versions,
    read_lineage,
    read_manifest,
    read_quarantine,
    read_windows,
)
from components.features import label_indices
from components.ingest.core import run_ingest
from components.labels import LabelImportError, import_labels, oracle_answer, parse_export
from components.relabel_queue import fresh_label_suggestions, label_studio_tasks, select_for_concept_drift
from components.simulator import CONCEPT_REMAP, make_fleet, read_truth, simulate, stale_truth, write_simulation

DEVICES, PER_DEVICE, SEED = 10, 30, 3
CLASSES = ("idle", "wave", "punch", "circle", "lift")


def ingest(store, config, scenario, extra_truth=()):
    uploads, truth = simulate(scenario, config.data, devices=DEVICES, windows_per_device=PER_DEVICE, seed=SEED)
    write_simulation(store, uploads, truth + list(extra_truth), f"{scenario}-s{SEED}")
    return run_ingest(store, config).version


def snapshot(store, version):
    return {k: store.get_bytes(k) for k in store.list(f"datasets/{version}/")}


def export(tasks) -> bytes:
    return json.dumps(tasks).encode()


def task(task_id, device_id, window_id, *choices, cancelled=(), **extra):
    """A Label Studio task as exported: one annotation per choice (None = an empty result)."""
    annotations = [{"id": 100 + i, "was_cancelled": i in cancelled, "result": [] if c is None else [
        {"from_name": "label", "to_name": "ts", "type": "choices", "value": {"choices": [c]}}]}
        for i, c in enumerate(choices)]
    return {"id": task_id, "data": {"device_id": device_id, "window_id": window_id}, "annotations": annotations,
            **extra}


def test_queue_oracle_import_round_trip(store, config):
    base = ingest(store, config, "baseline")
    old = read_windows(store, base)
    # The concept drift's truth includes the new meaning of the old windows on the drifted devices.
    drifted = {d.device_id for d in make_fleet("concept-drift", DEVICES, np.random.default_rng(SEED))
               if d.concept_drifted}
    now = {(str(d), str(w)): (CONCEPT_REMAP.get(str(lab), str(lab)) if d in drifted else str(lab))
           for d, w, lab in zip(old.device_ids, old.window_ids, old.labels, strict=True)}
    stale = [(d, w, lab) for (d, w), lab in now.items() if d in drifted and CONCEPT_REMAP.get(lab)]
    fresh_version = ingest(store, config, "concept-drift", stale)
    fresh = read_windows(store, fresh_version)
    before = {v: snapshot(store, v) for v in (base, fresh_version)}

    picked, staleness = select_for_concept_drift(
        old.x, label_indices(old.labels, CLASSES), fresh.x, label_indices(fresh.labels, CLASSES),
        budget=25, seed=SEED, sample_rate_hz=config.data.sample_rate_hz)
    queued = old.select(picked)
    fresh_y = label_indices(fresh.labels, CLASSES)
    suggested, confidence = fresh_label_suggestions(queued.x, fresh.x, fresh_y, SEED, config.data.sample_rate_hz)
    assert np.all(confidence >= staleness)  # p(suggested) - p(stored) <= p(suggested)
    tasks = label_studio_tasks(queued, [base] * len(picked), [CLASSES[i] for i in suggested], confidence,
                               "fresh-labels-forest",
                               ["stored label disagrees with the fresh labels"] * len(picked),
                               config.data.channel_names)
    answered = export(oracle_answer(store, tasks))
    result = import_labels(store, "labelstudio/export-1.json", answered, config)

    assert result.parent == fresh_version and not result.already_imported
    assert list_versions(store) == [base, fresh_version, result.version]
    expected = [now[(str(d), str(w))] for d, w in zip(queued.device_ids, queued.window_ids, strict=True)]
    changed = sum(e != str(s) for e, s in zip(expected, queued.labels, strict=True))
    assert result.counts == {"tasks_read": len(picked), "labels_imported": len(picked), "labels_changed": changed,
                             "labels_unchanged": len(picked) - changed, "tasks_quarantined": 0}
    assert changed >= 0.8 * len(picked)  # the queue asked mostly about stale labels
    manifest = read_manifest(store, result.version)
    assert manifest["kind"] == "labels" and manifest["parent"] == fresh_version
    assert len(manifest["export"]["sha256"]) == 64 and manifest["counts"] == result.counts
    # The lineage now shows the new labels, in the old order, without duplicates.
    lineage, previous = read_lineage(store, result.version), read_lineage(store, fresh_version)
    assert len(lineage) == len(previous) and np.array_equal(lineage.window_ids, previous.window_ids)
    labels = {(str(d), str(w)): str(lab) for d, w, lab in
              zip(lineage.device_ids, lineage.window_ids, lineage.labels, strict=True)}
    assert [labels[(str(d), str(w))] for d, w in zip(queued.device_ids, queued.window_ids, strict=True)] == expected
    assert np.array_equal(lineage.x, previous.x)
    # The versions holding the old labels did not change by a byte.
    assert {v: snapshot(store, v) for v in (base, fresh_version)} == before
    # An ingest after the import builds on it (its manifest has what ingest reads).
    assert run_ingest(store, config).version is None


def test_the_same_export_is_imported_once(store, config):
    base = ingest(store, config, "baseline")
    windows = read_windows(store, base)
    body = export([task(1, str(windows.device_ids[0]), str(windows.window_ids[0]), "lift")])
    first = import_labels(store, "export.json", body, config)
    again = import_labels(store, "export-renamed.json", body, config)
    assert again.already_imported and again.version == first.version and again.counts == first.counts
    assert list_versions(store) == [base, first.version]
    other = import_labels(store, "export-2.json", export([task(1, str(windows.device_ids[0]),
                                                                 str(windows.window_ids[0]), "idle")]), config)
    assert other.version != first.version and other.parent == first.version
    assert read_lineage(store, other.version).labels[0] == "idle"


REJECTIONS = {
    # name: (tasks after the good one, field, words in the reason)
    "no device_id": ([{"id": 7, "data": {"window_id": "w"}, "annotations": []}], "data.device_id",
                     "non-empty string"),
    "no window_id": ([{"id": 7, "data": {"device_id": "d"}, "annotations": []}], "data.window_id",
                     "non-empty string"),
    "no data": ([{"id": 7, "annotations": []}], "data", "missing"),
    "no annotation": ([task(7, "d", "w")], "annotations", "no annotation"),
    "all cancelled": ([task(7, "d", "w", "wave", "punch", cancelled=(0, 1))], "annotations", "cancelled"),
    "no choice": ([task(7, "d", "w", None)], "annotations[0].result", "no choice"),
    "unknown label": ([task(7, "d", "w", "jump")], "annotations[0].result.value.choices", "'jump' is not"),
    "annotators disagree": ([task(7, "d", "w", "wave", "punch")], "annotations", "disagree"),
}


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_each_rejection_names_file_task_and_field(case):
    bad, field, words = REJECTIONS[case]
    good = task(3, "dev-a000", "w-1", "wave")
    annotations, rejected = parse_export("ls/export.json", export([good, *bad]), CLASSES)
    assert [(a.device_id, a.window_id, a.label) for a in annotations] == [("dev-a000", "w-1", "wave")]
    assert len(rejected) == 1
    r = rejected[0]
    assert (r.task_index, r.task_id, r.field) == (1, "7", field)
    assert r.reason.startswith(f"ls/export.json: task 1 (id 7): {field}: ") and words in r.reason
    assert json.loads(r.raw) == bad[0]  # the task itself is kept


def test_agreeing_annotations_and_repeated_windows():
    tasks = [task(1, "d", "w1", "wave", "punch", "wave", cancelled=(1,)),  # the cancelled one does not count
             task(2, "d", "w2", "lift"), task(3, "d", "w2", "circle"),  # one window, two labels: both rejected
             task(4, "d", "w3", "idle"), task(5, "d", "w3", "idle")]  # the same label twice: imported once
    annotations, rejected = parse_export("e.json", export(tasks), CLASSES)
    assert [(a.window_id, a.label, a.task_id) for a in annotations] == [("w1", "wave", "1"), ("w3", "idle", "4")]
    assert [(r.task_index, r.field) for r in rejected] == [(1, "data.window_id"), (2, "data.window_id"),
                                                          (4, "data.window_id")]
    assert "'lift' here, task 2 says 'circle'" in rejected[0].reason
    assert "repeats task 3" in rejected[2].reason
    assert len(annotations) + len(rejected) == len(tasks)


@pytest.mark.parametrize("body, words", [(b"{not json", "not a JSON export"),
                                         (b'{"tasks": []}', "expected a JSON list of tasks")])
def test_a_file_that_is_not_an_export_is_refused_whole(local_store, config, body, words):
    annotations, rejected = parse_export("ls/bad.json", body, CLASSES)
    assert annotations == [] and len(rejected) == 1 and rejected[0].field == "file"
    assert rejected[0].reason.startswith("ls/bad.json: file: ") and words in rejected[0].reason
    base = ingest(local_store, config, "baseline")
    with pytest.raises(LabelImportError, match=words):
        import_labels(local_store, "ls/bad.json", body, config)
    with pytest.raises(LabelImportError, match="no tasks"):
        import_labels(local_store, "ls/empty.json", b"[]", config)
    assert list_versions(local_store) == [base]  # nothing written


def test_rejected_tasks_are_quarantined_and_counted(store, config):
    base = ingest(store, config, "baseline")
    windows = read_windows(store, base)
    d, w = str(windows.device_ids[0]), str(windows.window_ids[0])
    tasks = [task(1, d, w, "wave"), task(2, "dev-zz9", "nowhere-1", "wave")]
    tasks += [t for bad, _, _ in REJECTIONS.values() for t in bad]
    result = import_labels(store, "ls/mixed.json", export(tasks), config)
    c = result.counts
    assert c["tasks_read"] == len(tasks) == c["labels_imported"] + c["tasks_quarantined"]
    assert c["labels_imported"] == 1 and c["tasks_quarantined"] == len(tasks) - 1
    assert c["labels_changed"] + c["labels_unchanged"] == 1
    rows = read_quarantine(store, result.version)
    assert len(rows) == c["tasks_quarantined"] and [int(r["line"]) for r in rows] == list(range(1, len(tasks)))
    assert all(r["source"] == "ls/mixed.json" and r["reason"].startswith(f"ls/mixed.json: task {r['line']}")
               for r in rows)
    unknown = rows[0]
    assert (unknown["device_id"], unknown["window_id"], unknown["field"]) == ("dev-zz9", "nowhere-1", "data.window_id")
    assert "device_id=dev-zz9 window_id=nowhere-1 is not in dataset" in unknown["reason"]
    assert json.loads(unknown["raw"]) == tasks[1]
    assert {r["field"] for r in rows[1:]} == {f for _, f, _ in REJECTIONS.values()}
    assert read_lineage(store, result.version).labels[0] == "wave"


def test_import_needs_a_dataset_version(local_store, config):
    with pytest.raises(LabelImportError, match="no dataset version"):
        import_labels(local_store, "e.json", export([task(1, "d", "w", "wave")]), config)
    ingest(local_store, config, "baseline")
    with pytest.raises(LabelImportError, match="base_version ds-19990101 is not a dataset version"):
        import_labels(local_store, "e.json", export([task(1, "d", "w", "wave")]), config, base_version="ds-19990101")


def test_the_oracle_answers_from_the_latest_truth_and_never_invents(local_store):
    local_store.put_bytes("simulator/truth/0000-baseline.csv", b"device_id,window_id,label\nd,w1,wave\nd,w2,punch\n")
    local_store.put_bytes("simulator/truth/0001-concept.csv", b"device_id,window_id,label\nd,w1,circle\n")
    assert read_truth(local_store) == {("d", "w1"): "circle", ("d", "w2"): "punch"}
    tasks = [{"data": {"device_id": "d", "window_id": w}, "predictions": []} for w in ("w1", "w2", "w9")]
    answered = oracle_answer(local_store, tasks)
    assert [t["annotations"][0]["result"][0]["value"]["choices"] for t in answered[:2]] == [["circle"], ["punch"]]
    assert answered[2]["annotations"] == [] and [t["id"] for t in answered] == [1, 2, 3]
    assert "annotations" not in tasks[0]  # the queue's tasks are not changed
    annotations, rejected = parse_export("oracle.json", export(answered), CLASSES)
    assert [a.label for a in annotations] == ["circle", "punch"]
    assert rejected[0].task_index == 2 and "no annotation" in rejected[0].reason


def test_an_import_goes_on_top_of_the_latest_version_even_from_an_older_base(store, config):
    base = ingest(store, config, "baseline")
    windows = read_windows(store, base)
    later = ingest(store, config, "data-drift")  # ingested after the queue was made from `base`
    body = export([task(1, str(windows.device_ids[0]), str(windows.window_ids[0]), "lift")])
    result = import_labels(store, "export.json", body, config, base_version=base)
    assert result.parent == later  # nothing ingested since the base drops out of the history
    lineage = read_lineage(store, result.version)
    assert len(lineage) == len(read_lineage(store, later)) and lineage.labels[0] == "lift"


def test_truth_files_without_a_number_count_as_oldest(local_store):
    local_store.put_bytes("simulator/truth/baseline-s0.csv", b"device_id,window_id,label\nd,w1,wave\n")
    local_store.put_bytes("simulator/truth/0001-concept-drift-s0.csv", b"device_id,window_id,label\nd,w1,circle\n")
    assert read_truth(local_store) == {("d", "w1"): "circle"}
    assert read_truth(local_store, original=True) == {("d", "w1"): "wave"}


def test_a_second_concept_drift_simulation_does_not_remap_twice(local_store, config):
    ingest(local_store, config, "baseline")
    drifted = {d.device_id for d in make_fleet("concept-drift", DEVICES, np.random.default_rng(SEED))
               if d.concept_drifted}
    first = stale_truth(local_store, "concept-drift", DEVICES, SEED)
    write_simulation(local_store, [], first, f"concept-drift-s{SEED}")
    second = stale_truth(local_store, "concept-drift", DEVICES, SEED)
    assert first and sorted(first) == sorted(second)
    assert {d for d, _, _ in first} <= drifted
