"""People's labels back into the data: a Label Studio export becomes a new dataset version.

`parse_export` reads a Label Studio JSON export (a list of tasks, each with `data` and `annotations`) into
one label per window, and rejects every task it cannot trust with a reason naming the file, the task (its
index in the export list, 0-based as in `jq '.[i]'`, and its Label Studio id) and the field.

`import_labels` writes a labels version: copies of the annotated windows, taken from the lineage of a base
version, with their new labels. Its parent is the latest version (so no version ingested since the base drops
out of the data's history), and `read_lineage` of it (and of every later version) returns the new labels,
while the versions that hold the old labels stay byte-identical. Every task
read is either imported or quarantined (tasks_read = labels_imported + tasks_quarantined). An export is
imported once per store: importing a file with the same sha256 again returns the earlier version
(`already_imported=True`) and writes nothing, so a retried step is harmless.

`oracle_answer` is the demo's annotator: SYNTHETIC, it answers from the simulator's ground truth and exists
only for the demo and the tests.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from components.config import Config
from components.contract import QuarantinedRow, Window
from components.datasets import (
    WindowSet,
    latest_version,
    lineage_versions,
    list_versions,
    new_version_id,
    read_lineage,
    read_manifest,
    read_quarantine,
    read_windows,
    write_version,
)
from components.relabel_queue.core import LABEL_CONTROL, SERIES_OBJECT
from components.store import Store

KIND = "labels"


class LabelImportError(ValueError):
    """An export that cannot be imported at all (nothing was written); the message says why."""


@dataclass(frozen=True)
class Annotation:
    device_id: str
    window_id: str
    label: str
    task_id: str  # Label Studio's task id ("" when the export has none)
    task_index: int  # position in the export list
    raw: str = field(default="", repr=False)  # the task as JSON, for the quarantine should it be rejected later


@dataclass(frozen=True)
class Rejected:
    source: str
    task_index: int  # position in the export list, 0-based; -1 for the file as a whole
    task_id: str
    field: str
    reason: str  # names the file, the task and the field
    device_id: str = ""
    window_id: str = ""
    raw: str = ""  # the task as JSON, so nothing is lost


def _where(source: str, index: int, task_id: str, field_name: str) -> str:
    task = f"task {index}" + (f" (id {task_id})" if task_id else "")
    return f"{source}: {task}: {field_name}"


def _choice(result) -> tuple[str | None, str]:
    """The one choice in an annotation's result: (label, "") or (None, what is wrong)."""
    if not isinstance(result, list):
        return None, f"expected a list of results, got {type(result).__name__}"
    choices = [c for item in result if isinstance(item, dict) and isinstance(item.get("value"), dict)
               for c in (item["value"].get("choices") or [])]
    if not choices:
        return None, "no choice in the result (expected a 'choices' result with one class)"
    if len(choices) > 1:
        return None, f"{len(choices)} choices {choices} (expected exactly one class)"
    return str(choices[0]), ""


def _parse_task(source: str, index: int, task, class_names) -> tuple[Annotation | None, Rejected | None]:
    raw = json.dumps(task, sort_keys=True, separators=(",", ":"), default=str)
    task_id = str(task.get("id", "")) if isinstance(task, dict) else ""

    def reject(field_name: str, what: str, device_id: str = "", window_id: str = "") -> tuple[None, Rejected]:
        reason = f"{_where(source, index, task_id, field_name)}: {what}"
        return None, Rejected(source, index, task_id, field_name, reason, device_id, window_id, raw)

    if not isinstance(task, dict):
        return reject("task", f"expected an object with 'data' and 'annotations', got {type(task).__name__}")
    data = task.get("data")
    if not isinstance(data, dict):
        return reject("data", "missing (expected an object with device_id and window_id)")
    ids = {}
    for key in ("device_id", "window_id"):
        value = data.get(key)
        if not isinstance(value, str) or not value:
            return reject(f"data.{key}", f"expected a non-empty string, got {value!r}")
        ids[key] = value
    device_id, window_id = ids["device_id"], ids["window_id"]
    annotations = task.get("annotations")
    if not isinstance(annotations, list) or not annotations:
        return reject("annotations", "no annotation (the task was not labelled)", device_id, window_id)
    kept = [(i, a) for i, a in enumerate(annotations) if isinstance(a, dict) and not a.get("was_cancelled")]
    if not kept:
        return reject("annotations", f"all {len(annotations)} annotation(s) cancelled or unreadable",
                      device_id, window_id)
    # The latest annotation last: by update (or creation) time, then by position in the list.
    kept.sort(key=lambda ia: (str(ia[1].get("updated_at") or ia[1].get("created_at") or ""), ia[0]))
    votes: list[tuple[int, str]] = []
    for i, annotation in kept:
        label, problem = _choice(annotation.get("result"))
        if problem:  # an empty submission is not a vote to ignore: the annotator may have meant something
            return reject(f"annotations[{i}].result", problem, device_id, window_id)
        votes.append((i, label))
    if len({label for _, label in votes}) > 1:
        said = ", ".join(f"annotations[{i}] says {label!r}" for i, label in votes)
        return reject("annotations", f"annotators disagree: {said}", device_id, window_id)
    i, label = votes[-1]
    if label not in class_names:
        return reject(f"annotations[{i}].result.value.choices",
                      f"label {label!r} is not a configured class; expected one of {list(class_names)}",
                      device_id, window_id)
    return Annotation(device_id, window_id, label, task_id, index, raw), None


def parse_export(source_name: str, data: bytes, class_names) -> tuple[list[Annotation], list[Rejected]]:
    """One label per window from a Label Studio JSON export, and every task rejected with its reason.

    A file that is not a JSON list gives one Rejected with task_index -1 and field "file". Otherwise every
    task ends in exactly one of the two lists. Annotations cancelled in Label Studio are skipped; the others
    must each hold one choice and agree (the latest one's label is taken). The same window in two tasks
    is rejected in both when the labels differ, and in the later task when they agree (imported once).
    """
    class_names = tuple(class_names)
    try:
        tasks = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = f"{source_name}: file: not a JSON export ({exc})"
        return [], [Rejected(source_name, -1, "", "file", reason, raw=data[:200].decode("utf-8", "replace"))]
    if not isinstance(tasks, list):
        reason = f"{source_name}: file: expected a JSON list of tasks (Label Studio's JSON export), " \
                 f"got {type(tasks).__name__}"
        return [], [Rejected(source_name, -1, "", "file", reason, raw=data[:200].decode("utf-8", "replace"))]
    parsed: list[Annotation] = []
    rejected: list[Rejected] = []
    for index, task in enumerate(tasks):
        annotation, problem = _parse_task(source_name, index, task, class_names)
        if problem:
            rejected.append(problem)
        else:
            parsed.append(annotation)
    return _resolve_repeats(source_name, parsed, rejected)


def _resolve_repeats(source: str, parsed: list[Annotation],
                     rejected: list[Rejected]) -> tuple[list[Annotation], list[Rejected]]:
    by_window: dict[tuple[str, str], list[Annotation]] = {}
    for a in parsed:
        by_window.setdefault((a.device_id, a.window_id), []).append(a)
    accepted = []
    for (device_id, window_id), group in by_window.items():
        conflict = len({a.label for a in group}) > 1
        for n, a in enumerate(group):
            if not conflict and n == 0:
                accepted.append(a)
                continue
            others = ", ".join(f"task {b.task_index} says {b.label!r}" for b in group if b is not a)
            what = (f"window {device_id}/{window_id} has different labels in this export: {a.label!r} here, "
                    f"{others}" if conflict else
                    f"window {device_id}/{window_id} repeats task {group[0].task_index} with the same label "
                    f"{a.label!r} (imported once, from that task)")
            reason = f"{_where(source, a.task_index, a.task_id, 'data.window_id')}: {what}"
            rejected.append(Rejected(source, a.task_index, a.task_id, "data.window_id", reason, device_id,
                                     window_id, a.raw))
    accepted.sort(key=lambda a: a.task_index)
    rejected.sort(key=lambda r: r.task_index)
    return accepted, rejected


@dataclass
class LabelImport:
    version: str  # the labels version (the earlier one when already_imported)
    parent: str | None
    counts: dict[str, int]
    windows: WindowSet  # the relabelled windows written
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    already_imported: bool = False


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _earlier_import(store: Store, sha256: str) -> str | None:
    # The manifests are the record of imports, as they are of ingested uploads: nothing else to keep in step.
    for version in list_versions(store):
        manifest = read_manifest(store, version)
        if manifest.get("kind") == KIND and manifest.get("export", {}).get("sha256") == sha256:
            return version
    return None


def import_labels(store: Store, source_name: str, data: bytes, config: Config, *,
                  base_version: str | None = None, now: datetime | None = None) -> LabelImport:
    """Import a Label Studio export as a new labels version on top of `base_version` (default: the latest).

    Raises LabelImportError, writing nothing, when there is no version to label or the file is not a list of
    tasks (there is nothing to version). Tasks whose window is not in the base version's lineage are
    quarantined with the rest; a version is written even when every task was rejected, so the rejection is
    recorded.
    """
    sha256 = _sha256(data)
    earlier = _earlier_import(store, sha256)
    if earlier:
        manifest = read_manifest(store, earlier)
        rows = [QuarantinedRow(r["source"], int(r["line"]), r["field"], r["reason"], r["raw"], r["device_id"],
                               r["window_id"]) for r in read_quarantine(store, earlier)]
        return LabelImport(earlier, manifest.get("parent"), manifest["counts"], read_windows(store, earlier),
                           rows, already_imported=True)
    base = base_version or latest_version(store)
    if base is None:
        raise LabelImportError(f"{source_name}: no dataset version to label in {store.url}; ingest data first")
    if base not in list_versions(store):
        raise LabelImportError(f"{source_name}: base_version {base} is not a dataset version in {store.url} "
                               f"(see `tinymlops datasets list`)")
    # The new version goes on top of the latest, whatever was ingested since the queue was made from `base`.
    parent = latest_version(store)
    if base not in lineage_versions(store, parent):
        raise LabelImportError(f"{source_name}: base_version {base} is not in the history of the latest version "
                               f"{parent}: labels can only be imported into the current data")
    annotations, rejected = parse_export(source_name, data, config.data.class_names)
    if any(r.task_index < 0 for r in rejected):
        raise LabelImportError(rejected[0].reason)
    tasks_read = len(annotations) + len(rejected)
    if tasks_read == 0:
        raise LabelImportError(f"{source_name}: file: the export holds no tasks; nothing to import")
    lineage = read_lineage(store, base)
    position = {(str(d), str(w)): i for i, (d, w) in enumerate(zip(lineage.device_ids, lineage.window_ids,
                                                                     strict=True))}
    found = []
    for a in annotations:
        if (a.device_id, a.window_id) in position:
            found.append(a)
            continue
        field_name = "data.window_id"
        reason = (f"{_where(source_name, a.task_index, a.task_id, field_name)}: window "
                  f"device_id={a.device_id} window_id={a.window_id} is not in dataset {base} or its ancestors")
        rejected.append(Rejected(source_name, a.task_index, a.task_id, field_name, reason, a.device_id,
                                 a.window_id, a.raw))
    rejected.sort(key=lambda r: r.task_index)
    rows = np.array([position[(a.device_id, a.window_id)] for a in found], dtype=np.int64)
    windows = _relabelled(lineage, rows, [a.label for a in found])
    changed = int(sum(str(old) != a.label for old, a in zip(lineage.labels[rows], found, strict=True)))
    counts = {"tasks_read": tasks_read, "labels_imported": len(found), "labels_changed": changed,
              "labels_unchanged": len(found) - changed, "tasks_quarantined": len(rejected)}
    assert counts["tasks_read"] == counts["labels_imported"] + counts["tasks_quarantined"], counts
    quarantined = [QuarantinedRow(r.source, r.task_index, r.field, r.reason, r.raw, r.device_id, r.window_id)
                   for r in rejected]
    version = new_version_id(now)
    write_version(store, version, windows, quarantined, {
        "version": version, "parent": parent, "base": base, "kind": KIND,
        "created_at": (now or datetime.now(UTC)).isoformat(),
        "config_fingerprint": config.fingerprint(), "data_config": config.to_dict()["data"],
        "counts": counts,
        "export": {"source": source_name, "sha256": sha256, "bytes": len(data)},
        "uploads": [],  # ingest reads every manifest's uploads; a labels version read none
    })
    return LabelImport(version, parent, counts, windows, quarantined)


def _relabelled(lineage: WindowSet, rows: np.ndarray, labels: list[str]) -> WindowSet:
    """Copies of the lineage's windows at `rows` with new labels, and hashes that match their new content.

    The rest is kept as it was, `sources` too: the samples still come from that upload (the manifest names
    the export the labels come from).
    """
    copies = lineage.select(rows)
    copies.labels = np.array(labels, dtype=str).reshape(-1)
    # The content hash covers the label, so a copy with another label is another content.
    copies.hashes = np.array([Window(str(d), str(w), "", 0, t, x, label, "", float("nan")).content_hash
                              for d, w, t, x, label in zip(copies.device_ids, copies.window_ids, copies.t_ms,
                                                           copies.x, copies.labels, strict=True)], dtype=str)
    return copies


# ------------------------------------------------------------------------------------ the demo's oracle


def oracle_answer(store: Store, tasks: list[dict]) -> list[dict]:
    """SYNTHETIC annotator for the demo and the tests only: the tasks, answered from the simulator's truth.

    Returns a Label Studio-style export: each task (copied; given an id when it has none) with one
    annotation whose choice is the simulator's current truth for its window (simulator.read_truth). A window
    without truth gets no annotation, so importing the answer quarantines it: the oracle never invents.
    """
    from components.simulator import read_truth

    truth = read_truth(store)
    answered = []
    for index, task in enumerate(tasks):
        task = copy.deepcopy(task)
        task.setdefault("id", index + 1)
        data = task.get("data") or {}
        label = truth.get((str(data.get("device_id")), str(data.get("window_id"))))
        task["annotations"] = [] if label is None else [{
            "id": index + 1, "completed_by": "simulator-oracle", "was_cancelled": False, "ground_truth": True,
            "result": [{"from_name": LABEL_CONTROL, "to_name": SERIES_OBJECT, "type": "choices",
                        "value": {"choices": [label]}}],
        }]
        answered.append(task)
    return answered
