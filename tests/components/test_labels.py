"""Labels back into the data: queue -> oracle -> Label Studio export -> a new dataset version, over a real store."""

import csv
import io
import json
import re

import numpy as np
import pytest

from components.datasets import (
    list_versions,
    read_lineage,
    read_manifest,
    read_quarantine,
    read_windows,
)
from components.ingest.step import run_ingest
from components.label_exports import parse_export
from components.label_studio import label_studio_tasks
from components.labels import LabelImportError, NothingImportedError, import_labels
from components.model_inputs import label_indices
from components.relabel_queue import fresh_label_suggestions, select_for_concept_drift
from components.simulator import (
    CONCEPT_REMAP,
    make_fleet,
    oracle_answer,
    read_truth,
    simulate,
    stale_truth,
    write_simulation,
)

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


def other_than(label) -> str:
    """A class that is not `label`: an import that sets it changes the window."""
    return next(c for c in CLASSES if c != str(label))


# ---------------------------------------------------------------- Label Studio 1.23's exports, as it writes them
#
# Label Studio 1.23 writes every export with label_studio_sdk.converter, from the tasks as it stores them; its
# JSON export gives those as they are, and the others are made from them:
#
#   JSON      [{"id": 11, "data": {<the queue's task data: ts, device_id, window_id, dataset_version, ...>},
#               "annotations": [{"id": 21, "completed_by": 1, "result": [{"id": "r21", "type": "choices",
#                 "value": {"choices": ["wave"]}, "origin": "manual", "to_name": "ts", "from_name": "label"}],
#                 "was_cancelled": false, "ground_truth": false, "created_at": "2025-06-02T10:00:00.000000Z",
#                 "updated_at": ..., "lead_time": 4.2, "task": 11, "project": 3, ...}],
#               "predictions": [], "meta": {}, "inner_id": 11, "total_annotations": 1, ...}]
#   JSON_MIN  one item per annotation not cancelled, the newest (created_at) first, and one item for a task
#             without annotations; nothing for a task whose annotations were all cancelled. An item is the task's
#             data fields at the top level, then "id" (the task's), the Choices tag's name ("label") with its one
#             choice as a string ({"choices": [...]} when several were ticked; no key when the result is empty),
#             "annotator" (completed_by), "annotation_id", "created_at", "updated_at", "lead_time" (null for a
#             task without annotations):
#             [{"ts": {...}, "device_id": "dev-a000", "window_id": "w-1", ..., "id": 11, "label": "wave",
#               "annotator": 1, "annotation_id": 21, "created_at": "2025-06-02T10:00:00.000000Z", ...}]
#   CSV, TSV  JSON_MIN's items as rows under a header of all their keys, sorted (csv.DictWriter, QUOTE_NONNUMERIC,
#             "\r\n"): objects and lists (the series, several choices) as compact JSON text, the annotator as
#             text, a key an item lacks as "".


def ls_annotation(annotation_id: int, choices: list[str], *, annotator: int = 1, minute: int = 0,
                  cancelled: bool = False) -> dict:
    at = f"2025-06-02T10:{minute:02d}:00.000000Z"
    result = [{"id": f"r{annotation_id}", "type": "choices", "value": {"choices": choices}, "origin": "manual",
               "to_name": "ts", "from_name": "label"}] if choices else []
    return {"id": annotation_id, "completed_by": annotator, "result": result, "was_cancelled": cancelled,
            "ground_truth": False, "created_at": at, "updated_at": at, "draft_created_at": None, "lead_time": 4.2,
            "prediction": {}, "result_count": len(result), "unique_id": f"u{annotation_id}", "import_id": None,
            "last_action": None, "bulk_created": False, "task": None, "project": 3, "updated_by": annotator,
            "parent_prediction": None, "parent_annotation": None, "last_created_by": None}


def ls_task(task_id: int, data: dict, *annotations: dict) -> dict:
    """A task as Label Studio 1.23's JSON export writes it."""
    annotations = [{**a, "task": task_id} for a in annotations]
    return {"id": task_id, "annotations": annotations, "file_upload": None, "drafts": [], "predictions": [],
            "data": data, "meta": {}, "created_at": "2025-06-02T09:00:00.000000Z",
            "updated_at": "2025-06-02T10:30:00.000000Z", "inner_id": task_id,
            "total_annotations": sum(not a["was_cancelled"] for a in annotations),
            "cancelled_annotations": sum(a["was_cancelled"] for a in annotations), "total_predictions": 0,
            "comment_count": 0, "unresolved_comment_count": 0, "last_comment_updated_at": None, "project": 3,
            "updated_by": 1, "comment_authors": []}


def json_min_items(tasks: list[dict]) -> list[dict]:
    """The converter's JSON_MIN items of the tasks (prettify_result of a Choices tag for the label)."""
    def item(task: dict, annotation: dict) -> dict:
        outputs = {r["from_name"]: (r["value"]["choices"][0] if len(r["value"]["choices"]) == 1 else
                                    {"choices": r["value"]["choices"]}) for r in annotation.get("result", [])}
        return {**task["data"], "id": task["id"], **outputs, "annotator": annotation.get("completed_by"),
                "annotation_id": annotation.get("id"), "created_at": annotation.get("created_at"),
                "updated_at": annotation.get("updated_at"), "lead_time": annotation.get("lead_time")}

    items = []
    for t in tasks:
        if not t["annotations"]:
            items.append(item(t, {}))
        live = [a for a in t["annotations"] if not a["was_cancelled"]]
        items += [item(t, a) for a in sorted(live, key=lambda a: a["created_at"], reverse=True)]
    return items


def csv_rows(items: list[dict], delimiter: str = ",") -> bytes:
    """The converter's CSV (or TSV) of JSON_MIN's items."""
    rows = [{k: json.dumps(v, separators=(",", ":")) if isinstance(v, dict | list) else v for k, v in i.items()}
            for i in items]
    for row in rows:
        if row.get("annotator") is not None:
            row["annotator"] = str(row["annotator"])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=sorted({k for r in rows for k in r}), quoting=csv.QUOTE_NONNUMERIC,
                            delimiter=delimiter)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


EXPORTS = {
    "JSON": lambda tasks: json.dumps(tasks, indent=2).encode(),
    "JSON_MIN": lambda tasks: json.dumps(json_min_items(tasks), indent=2).encode(),
    "CSV": lambda tasks: csv_rows(json_min_items(tasks)),
    "TSV": lambda tasks: csv_rows(json_min_items(tasks), "\t"),
}
UNIT = {"JSON": "task", "JSON_MIN": "item", "CSV": "line", "TSV": "line"}


def queue_data(windows, config) -> list[dict]:
    """The data of the relabel queue's tasks for these windows (the series, ids, stored label, header...)."""
    n = len(windows)
    return [t["data"] for t in label_studio_tasks(windows, ["ds-queue"] * n, [""] * n, [float("nan")] * n, "m",
                                                  ["asked in a test"] * n, config.data.channel_names)]


def lineage_labels(store, version) -> dict[tuple[str, str], str]:
    lineage = read_lineage(store, version)
    return {(str(d), str(w)): str(lab) for d, w, lab in
            zip(lineage.device_ids, lineage.window_ids, lineage.labels, strict=True)}


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
    new = other_than(windows.labels[0])
    body = export([task(1, str(windows.device_ids[0]), str(windows.window_ids[0]), new)])
    first = import_labels(store, "export.json", body, config)
    again = import_labels(store, "export-renamed.json", body, config)
    assert again.already_imported and again.version == first.version and again.counts == first.counts
    assert not again.written and "already imported" in again.note
    assert list_versions(store) == [base, first.version]
    newer = other_than(new)
    other = import_labels(store, "export-2.json", export([task(1, str(windows.device_ids[0]),
                                                                 str(windows.window_ids[0]), newer)]), config)
    assert other.version != first.version and other.parent == first.version
    assert read_lineage(store, other.version).labels[0] == newer


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


@pytest.mark.parametrize("body, words", [
    (b"{not json", "not a JSON export"),
    (b'{"tasks": []}', "expected a JSON list of tasks"),
    (b"\xff\xfe\x00\x01", "not UTF-8 text"),
    # A CSV, but not Label Studio's (no annotation_id column): the export format to use is named.
    (b"device_id,window_id,label\ndev-a000,w-1,wave\n", "neither JSON nor Label Studio's CSV export"),
    (b"device_id,window_id,label\ndev-a000,w-1,wave\n", "from Label Studio as JSON, JSON_MIN or CSV"),
    # Label Studio's CSV of another project: its tasks have no device_id and window_id.
    (b'"annotation_id","annotator","id","label","text"\r\n21,"1",11,"wave","hello"\r\n',
     "a CSV export without the column(s) ['device_id', 'window_id']"),
])
def test_a_file_that_is_not_an_export_is_refused_whole(local_store, config, body, words):
    annotations, rejected = parse_export("ls/bad.json", body, CLASSES)
    assert annotations == [] and len(rejected) == 1 and rejected[0].field == "file"
    assert rejected[0].reason.startswith("ls/bad.json: file: ") and words in rejected[0].reason
    base = ingest(local_store, config, "baseline")
    with pytest.raises(LabelImportError, match=re.escape(words)):
        import_labels(local_store, "ls/bad.json", body, config)
    with pytest.raises(LabelImportError, match="no tasks"):
        import_labels(local_store, "ls/empty.json", b"[]", config)
    assert list_versions(local_store) == [base]  # nothing written


def test_rejected_tasks_are_quarantined_and_counted(store, config):
    base = ingest(store, config, "baseline")
    windows = read_windows(store, base)
    d, w = str(windows.device_ids[0]), str(windows.window_ids[0])
    new = other_than(windows.labels[0])
    tasks = [task(1, d, w, new), task(2, "dev-zz9", "nowhere-1", "wave")]
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
    assert read_lineage(store, result.version).labels[0] == new


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
    new = other_than(windows.labels[0])
    body = export([task(1, str(windows.device_ids[0]), str(windows.window_ids[0]), new)])
    result = import_labels(store, "export.json", body, config, base_version=base)
    assert result.parent == later  # nothing ingested since the base drops out of the history
    lineage = read_lineage(store, result.version)
    assert len(lineage) == len(read_lineage(store, later)) and lineage.labels[0] == new


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


# ------------------------------------------------------------------------- Label Studio's export formats
# (short test names: the S3 fixture names a test's bucket after the first 40 characters of its name and parameters)


@pytest.mark.parametrize("fmt", list(EXPORTS))
def test_import_formats(store, config, fmt):
    """Each of Label Studio's exports of one project imports the same labels and quarantines the same tasks."""
    base = ingest(store, config, "baseline")
    windows = read_windows(store, base).select(np.arange(5))
    data = queue_data(windows, config)
    stored = [str(label) for label in windows.labels]
    new = [other_than(label) for label in stored]
    tasks = [ls_task(11, data[0], ls_annotation(21, [new[0]])),
             ls_task(12, data[1], ls_annotation(22, [new[1]], minute=1),  # two annotators agree
                     ls_annotation(23, [new[1]], annotator=2, minute=2)),
             ls_task(13, data[2]),  # not labelled
             ls_task(14, data[3], ls_annotation(24, ["punch"], cancelled=True), ls_annotation(25, [new[3]], minute=3)),
             ls_task(15, data[4], ls_annotation(26, [stored[4]]))]  # confirms the stored label
    source = f"ls/export.{fmt.lower()}"
    result = import_labels(store, source, EXPORTS[fmt](tasks), config)

    # JSON has one entry per task; the flat formats one per annotation not cancelled (task 12 twice, the
    # second a repeat of the same label) and one for the task without annotations.
    quarantined = {"JSON": [(2, 13, "annotations")],
                   "JSON_MIN": [(2, 12, "window_id"), (3, 13, "label")],
                   "CSV": [(4, 12, "window_id"), (5, 13, "label")]}
    expected = quarantined["CSV" if fmt == "TSV" else fmt]
    entries = 4 + len(expected)
    assert result.written and result.export_format == fmt and result.note == ""
    assert result.counts == {"tasks_read": entries, "labels_imported": 4, "labels_changed": 3,
                             "labels_unchanged": 1, "tasks_quarantined": len(expected)}
    assert read_manifest(store, result.version)["export"]["format"] == fmt
    labels = lineage_labels(store, result.version)
    assert [labels[(d["device_id"], d["window_id"])] for d in data] == [new[0], new[1], stored[2], new[3], stored[4]]
    rows = read_quarantine(store, result.version)
    assert [(int(r["line"]), r["field"]) for r in rows] == [(line, field) for line, _, field in expected]
    for r, (line, task_id, field) in zip(rows, expected, strict=True):
        assert r["reason"].startswith(f"{source}: {UNIT[fmt]} {line} (id {task_id}): {field}: ")
    unlabelled = rows[-1]
    assert (unlabelled["device_id"], unlabelled["window_id"]) == (data[2]["device_id"], data[2]["window_id"])
    assert "no annotation (the task was not labelled)" in unlabelled["reason"]


DROP = object()  # a field the item does not have
FLAT_REJECTIONS = {
    # name: (the item's fields changed, field, words in the reason)
    "no device_id": ({"device_id": DROP}, "device_id", "expected a non-empty string"),
    # Label Studio's item for a task without annotations: no label, the annotation's fields null.
    "not labelled": ({"label": DROP, "annotator": None, "annotation_id": None, "created_at": None,
                      "lead_time": None}, "label", "no annotation (the task was not labelled)"),
    "empty submission": ({"label": DROP}, "label", "annotation 40 has no choice"),
    "several choices": ({"label": {"choices": ["wave", "punch"]}}, "label", "2 choices ['wave', 'punch']"),
    "unknown class": ({"label": "jump"}, "label", "label 'jump' is not a configured class"),
    "another control": ({"label": {"text": ["a wave?"]}}, "label", "expected a class name"),
}


@pytest.mark.parametrize("fmt", ["JSON_MIN", "CSV"])
@pytest.mark.parametrize("case", list(FLAT_REJECTIONS))
def test_flat_rejections(fmt, case):
    """JSON_MIN's and CSV's rejections name the file, the item or line, the task id and the field."""
    changes, field, words = FLAT_REJECTIONS[case]
    good = {"device_id": "dev-a000", "window_id": "w-1", "id": 3, "label": {"choices": ["wave"]}, "annotator": 1,
            "annotation_id": 30, "created_at": "2025-06-02T10:00:00.000000Z", "lead_time": 2.5}
    bad = {**good, "window_id": "w-2", "id": 7, "annotation_id": 40, **changes}
    bad = {k: v for k, v in bad.items() if v is not DROP}
    body = json.dumps([good, bad]).encode() if fmt == "JSON_MIN" else csv_rows([good, bad])
    annotations, rejected = parse_export("ls/export", body, CLASSES)
    # {"choices": [one class]} is that class (Label Studio writes it so when a choice comes with other keys).
    assert [(a.device_id, a.window_id, a.label, a.task_id) for a in annotations] == [("dev-a000", "w-1", "wave", "3")]
    [r] = rejected
    where = "item 1" if fmt == "JSON_MIN" else "line 3"
    assert (r.task_index, r.task_id, r.field) == (int(where.split()[1]), "7", field)
    assert r.reason.startswith(f"ls/export: {where} (id 7): {field}: ") and words in r.reason


def test_a_csv_row_that_does_not_fit_the_header_is_rejected_alone():
    body = b'"annotation_id","device_id","id","label","window_id"\r\n30,"d",3,"wave","w1"\r\n31,"d",4,"wave"\r\n'
    annotations, rejected = parse_export("e.csv", body, CLASSES)
    assert [a.window_id for a in annotations] == ["w1"]
    assert [(r.task_index, r.field) for r in rejected] == [(3, "row")]
    assert rejected[0].reason == "e.csv: line 3: row: 4 values under a header of 5 columns (expected one per column)"


@pytest.mark.parametrize("fmt", ["JSON", "JSON_MIN", "CSV"])
def test_all_quarantined(store, config, fmt):
    """An export whose every entry is quarantined writes no (empty) version; the error says why."""
    base = ingest(store, config, "baseline")
    data = queue_data(read_windows(store, base).select(np.arange(3)), config)
    unknown = {**data[0], "device_id": "dev-zz9", "window_id": "nowhere-1"}
    tasks = [ls_task(11, data[0]), ls_task(12, data[1]), ls_task(13, data[2], ls_annotation(23, ["jump"])),
             ls_task(14, unknown, ls_annotation(24, ["wave"]))]
    with pytest.raises(NothingImportedError) as caught:
        import_labels(store, "ls/nothing", EXPORTS[fmt](tasks), config)
    error = caught.value
    assert list_versions(store) == [base]  # no empty version
    assert f"all 4 {UNIT[fmt]}(s) of this {fmt} export were quarantined" in str(error)
    assert error.counts["tasks_read"] == error.counts["tasks_quarantined"] == len(error.quarantined) == 4
    assert error.counts["labels_imported"] == 0
    reasons = [q.reason for q in error.quarantined]
    assert all(reason in str(error) for reason in reasons[:3]) and reasons[3] not in str(error)
    assert str(error).endswith("... and 1 more")
    assert "not in dataset" in reasons[3] and "'jump' is not a configured class" in reasons[2]


def test_no_label_changed(store, config):
    """An export of labels the data already holds, in other bytes, writes no version and says so."""
    base = ingest(store, config, "baseline")
    windows = read_windows(store, base).select(np.arange(3))
    data = queue_data(windows, config)
    new = [other_than(label) for label in windows.labels]
    tasks = [ls_task(11 + i, d, ls_annotation(21 + i, [label])) for i, (d, label) in enumerate(zip(data, new,
                                                                                                 strict=True))]
    first = import_labels(store, "ls/export.json", EXPORTS["JSON"](tasks), config)
    assert first.written and first.counts["labels_changed"] == 3

    # The same labels in other bytes: the same tasks exported as JSON_MIN, then a later CSV snapshot of the
    # project (one more task, not labelled yet), then the JSON again with the queue's older base named.
    later = tasks + [ls_task(14, queue_data(read_windows(store, base).select(np.arange(3, 4)), config)[0])]
    for source, body, base_version, quarantined in [
            ("ls/export-min.json", EXPORTS["JSON_MIN"](tasks), None, 0),
            ("ls/export.csv", EXPORTS["CSV"](later), None, 1),
            ("ls/export-again.json", json.dumps(tasks).encode(), base, 0)]:
        result = import_labels(store, source, body, config, base_version=base_version)
        assert not result.written and not result.already_imported and result.version == first.version
        assert result.note.startswith(f"{source}: no label changed: the latest version {first.version} already "
                                      f"holds all 3 label(s) read; no version written")
        assert result.counts == {"tasks_read": 3 + quarantined, "labels_imported": 3, "labels_changed": 0,
                                 "labels_unchanged": 3, "tasks_quarantined": quarantined}
        assert len(result.quarantined) == quarantined and len(result.windows) == 0
        assert all("line 5 (id 14): label: no annotation" in q.reason for q in result.quarantined)
    assert list_versions(store) == [base, first.version]


def test_repeat_other_base(store, config):
    """The same file with another base is imported on that base, not answered with the earlier import."""
    base = ingest(store, config, "baseline")
    later = ingest(store, config, "data-drift")
    old, fresh = read_windows(store, base), read_windows(store, later)
    data = queue_data(old.select(np.arange(1)), config) + queue_data(fresh.select(np.arange(1)), config)
    new = [other_than(old.labels[0]), other_than(fresh.labels[0])]
    body = EXPORTS["JSON_MIN"]([ls_task(11, data[0], ls_annotation(21, [new[0]])),
                                ls_task(12, data[1], ls_annotation(22, [new[1]]))])

    first = import_labels(store, "ls/export.json", body, config, base_version=base)
    assert first.counts["labels_imported"] == 1 and "is not in dataset" in first.quarantined[0].reason
    retried = import_labels(store, "ls/export.json", body, config, base_version=base)
    assert retried.already_imported and retried.version == first.version

    # The same bytes with another base: imported on that base, where the second window is found.
    second = import_labels(store, "ls/export.json", body, config, base_version=later)
    assert second.written and not second.already_imported and second.version != first.version
    assert second.note == (f"ls/export.json: the same bytes were imported as {first.version} on base {base}; "
                           f"imported again on base {later} as asked")
    assert second.counts == {"tasks_read": 2, "labels_imported": 2, "labels_changed": 1, "labels_unchanged": 1,
                             "tasks_quarantined": 0}
    labels = lineage_labels(store, second.version)
    assert [labels[(d["device_id"], d["window_id"])] for d in data] == new
    # A retry on either base, or with none, returns that base's import.
    assert import_labels(store, "ls/export.json", body, config, base_version=later).version == second.version
    assert import_labels(store, "ls/export.json", body, config, base_version=base).version == first.version
    assert import_labels(store, "ls/export.json", body, config).version == second.version
    assert list_versions(store) == [base, later, first.version, second.version]
