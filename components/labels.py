"""People's labels back into the data: a Label Studio export becomes a new dataset version.

`parse_export` reads an export of the relabel queue's project in Label Studio's JSON, JSON_MIN, CSV or TSV
format (which one is told from the bytes):

    JSON      a list of tasks: {"id", "data": {device_id, window_id, ...}, "annotations": [{"result": [...]}]}
    JSON_MIN  a list of flat items, one per annotation (one per unlabelled task): the task's data fields at the
              top level, the choice under the Choices tag's name ("label": "wave"; {"choices": [...]} when
              several were ticked), and "id", "annotator", "annotation_id", "created_at", "updated_at", ...
    CSV, TSV  JSON_MIN's items as rows, under a header row of the sorted field names

into one label per window, and rejects every entry it cannot trust with a reason naming the file, the entry
(a task or item by its index in the list, 0-based as in `jq '.[i]'`; a row by its line in the file, the
header being line 1; and its Label Studio task id) and the field.

`import_labels` writes a labels version: copies of the annotated windows, taken from the lineage of the latest
version, with their new labels. Its parent is the latest version (so no version ingested since the queue's base
drops out of the data's history), and `read_lineage` of it (and of every later version) returns the new labels,
while the versions that hold the old labels stay byte-identical. Every entry read is either imported or
quarantined (tasks_read = labels_imported + tasks_quarantined). A version is written only when it would change
something: an export whose every entry is quarantined raises NothingImportedError, and one whose labels the
data already holds returns the latest version with written=False. An export is imported once per store and
base: importing a file with the same sha256 on the same base again returns the earlier version
(`already_imported=True`) and writes nothing, so a retried step is harmless.

`oracle_answer` is the demo's annotator: SYNTHETIC, it answers from the simulator's ground truth and exists
only for the demo and the tests.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
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
    read_window_ids,
    read_windows,
    write_version,
)
from components.relabel_queue.core import LABEL_CONTROL, SERIES_OBJECT
from components.store import Store

KIND = "labels"
FIRST_REASONS = 3  # how many reasons an error quotes; the rest are on the error itself
FORMATS_READ = "JSON, JSON_MIN or CSV"


class LabelImportError(ValueError):
    """An export that cannot be imported at all (nothing was written); the message says why."""


class NothingImportedError(LabelImportError):
    """Every entry of the export was quarantined, so no version was written (an empty one would say nothing).

    The message names the count and the first reasons; `counts` and `quarantined` hold them all.
    """

    def __init__(self, message: str, counts: dict[str, int], quarantined: list[QuarantinedRow]):
        super().__init__(message)
        self.counts = counts
        self.quarantined = quarantined


@dataclass(frozen=True)
class ExportFormat:
    name: str  # as Label Studio's export dialog names it
    unit: str  # what one entry is called in reasons: "task", "item" or "line"
    data_prefix: str  # where a task's data fields sit: under "data." in JSON, at the top level in the others


JSON = ExportFormat("JSON", "task", "data.")
JSON_MIN = ExportFormat("JSON_MIN", "item", "")
CSV = ExportFormat("CSV", "line", "")
TSV = ExportFormat("TSV", "line", "")


@dataclass(frozen=True)
class Annotation:
    device_id: str
    window_id: str
    label: str
    task_id: str  # Label Studio's task id ("" when the export has none)
    task_index: int  # position in the export list (in CSV and TSV: the line in the file)
    raw: str = field(default="", repr=False)  # the entry as JSON, for the quarantine should it be rejected later
    fmt: ExportFormat = field(default=JSON, repr=False)

    @property
    def where(self) -> str:
        return _entry(self.fmt, self.task_index, self.task_id)


@dataclass(frozen=True)
class Rejected:
    source: str
    task_index: int  # position in the export list, 0-based (in CSV and TSV: the line); -1 for the file as a whole
    task_id: str
    field: str
    reason: str  # names the file, the entry and the field
    device_id: str = ""
    window_id: str = ""
    raw: str = ""  # the entry as JSON, so nothing is lost


def _entry(fmt: ExportFormat, index: int, task_id: str) -> str:
    return f"{fmt.unit} {index}" + (f" (id {task_id})" if task_id else "")


def _where(source: str, index: int, task_id: str, field_name: str, fmt: ExportFormat = JSON) -> str:
    return f"{source}: {_entry(fmt, index, task_id)}: {field_name}"


def _file_problem(source: str, what: str, data: bytes) -> Rejected:
    return Rejected(source, -1, "", "file", f"{source}: file: {what}", raw=data[:200].decode("utf-8", "replace"))


# ------------------------------------------------------------------------------------------- JSON (tasks)


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


# ------------------------------------------------------------------- JSON_MIN, CSV and TSV (flat items)


def _flat_choice(value) -> tuple[str | None, str]:
    """The one class in a flat item's label field: (label, "") or (None, what is wrong).

    Label Studio writes a single choice as the class name itself, several as {"choices": [...]}, and the
    results of two regions under one name as a list of those; CSV holds the last two as JSON text.
    """
    if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass  # a class name that starts with a bracket: the class check below names it
    choices: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            choices.append(item)
        elif isinstance(item, dict) and isinstance(item.get("choices"), list):
            choices.extend(str(c) for c in item["choices"])
        else:
            return None, f"expected a class name or {{\"choices\": [one class]}}, got {json.dumps(item)[:80]}"
    if not choices:
        return None, "no choice (expected one class)"
    if len(choices) > 1:
        return None, f"{len(choices)} choices {choices} (expected exactly one class)"
    return choices[0], ""


def _parse_item(source: str, fmt: ExportFormat, index: int, item,
                class_names) -> tuple[Annotation | None, Rejected | None]:
    """One JSON_MIN item or CSV/TSV row (as a dict of its columns)."""
    raw = json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)
    task_id = str(item.get("id") or "") if isinstance(item, dict) else ""

    def reject(field_name: str, what: str, device_id: str = "", window_id: str = "") -> tuple[None, Rejected]:
        reason = f"{_where(source, index, task_id, field_name, fmt)}: {what}"
        return None, Rejected(source, index, task_id, field_name, reason, device_id, window_id, raw)

    if not isinstance(item, dict):
        return reject("item", f"expected an object with device_id, window_id and {LABEL_CONTROL!r}, "
                              f"got {type(item).__name__}")
    ids = {}
    for key in ("device_id", "window_id"):
        value = item.get(key)
        if not isinstance(value, str) or not value:
            return reject(key, f"expected a non-empty string, got {value!r}")
        ids[key] = value
    device_id, window_id = ids["device_id"], ids["window_id"]
    value = item.get(LABEL_CONTROL)
    if value in (None, "", [], {}):
        # Label Studio writes an unlabelled task once, without the field or an annotation_id; cancelled
        # annotations it leaves out. An annotation without the field was submitted with no choice.
        annotation_id = item.get("annotation_id")
        what = ("no annotation (the task was not labelled)" if annotation_id in (None, "") else
                f"annotation {annotation_id} has no choice (expected one class under {LABEL_CONTROL!r}, the "
                f"labelling config's Choices name)")
        return reject(LABEL_CONTROL, what, device_id, window_id)
    label, problem = _flat_choice(value)
    if problem:
        return reject(LABEL_CONTROL, problem, device_id, window_id)
    if label not in class_names:
        return reject(LABEL_CONTROL, f"label {label!r} is not a configured class; expected one of "
                                     f"{list(class_names)}", device_id, window_id)
    return Annotation(device_id, window_id, label, task_id, index, raw, fmt), None


def _read_rows(source: str, text: str, data: bytes) -> tuple[ExportFormat, list[tuple[int, object]]] | Rejected:
    """CSV or TSV rows as {column: text}, each with its line (a row that does not fit the header: Rejected);
    or why the file is not such an export."""
    first_line = text.split("\n", 1)[0]
    for candidate, delimiter in ((TSV, "\t"), (CSV, ",")):
        header = next(csv.reader([first_line], delimiter=delimiter), [])
        if "annotation_id" in header:  # Label Studio always writes it (with annotator, created_at, ...)
            fmt = candidate
            break
    else:
        return _file_problem(source, f"neither JSON nor Label Studio's CSV export (its first line has no "
                                     f"annotation_id column: {first_line[:120]!r}); export the project from "
                                     f"Label Studio as {FORMATS_READ}", data)
    missing = [c for c in ("device_id", "window_id") if c not in header]
    if missing:
        return _file_problem(source, f"a {fmt.name} export without the column(s) {missing} (header: {header}); "
                                     f"expected the relabel queue's tasks, whose data has device_id and "
                                     f"window_id", data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, object]] = []
    try:
        next(reader)
        for values in reader:
            if not values:
                continue  # a blank line
            line = reader.line_num
            if len(values) != len(header):  # a column would be read as another: nothing of the row is trusted
                what = f"{len(values)} values under a header of {len(header)} columns (expected one per column)"
                reason = f"{_where(source, line, '', 'row', fmt)}: {what}"
                rows.append((line, Rejected(source, line, "", "row", reason, raw=json.dumps(values))))
                continue
            rows.append((line, dict(zip(header, values, strict=True))))
    except csv.Error as exc:  # e.g. a field longer than csv.field_size_limit()
        return _file_problem(source, f"line {reader.line_num}: not readable as {fmt.name} ({exc})", data)
    return fmt, rows


# ------------------------------------------------------------------------------------------- any format


def _json_format(entries: list) -> ExportFormat:
    # JSON nests a task's fields under "data" and its annotations in a list; JSON_MIN's items have neither.
    if any(isinstance(e, dict) and ("data" in e or "annotations" in e) for e in entries):
        return JSON
    return JSON_MIN if any(isinstance(e, dict) for e in entries) else JSON


def _read_entries(source: str, data: bytes) -> tuple[ExportFormat, list[tuple[int, object]]] | Rejected:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _file_problem(source, f"not UTF-8 text ({exc}); expected Label Studio's {FORMATS_READ} export",
                             data)
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith(("[", "{")):
            return _file_problem(source, f"not a JSON export ({exc}); expected Label Studio's {FORMATS_READ} "
                                         f"export", data)
        return _read_rows(source, text, data)
    if not isinstance(entries, list):
        return _file_problem(source, f"expected a JSON list of tasks (Label Studio's JSON or JSON_MIN export), "
                                     f"got {type(entries).__name__}", data)
    return _json_format(entries), list(enumerate(entries))


def _parse(source_name: str, data: bytes,
           class_names) -> tuple[ExportFormat | None, list[Annotation], list[Rejected]]:
    class_names = tuple(class_names)
    read = _read_entries(source_name, data)
    if isinstance(read, Rejected):
        return None, [], [read]
    fmt, entries = read
    parsed: list[Annotation] = []
    rejected: list[Rejected] = []
    for index, entry in entries:
        if isinstance(entry, Rejected):  # a row the reader could not split into the header's columns
            rejected.append(entry)
            continue
        annotation, problem = (_parse_task(source_name, index, entry, class_names) if fmt is JSON else
                               _parse_item(source_name, fmt, index, entry, class_names))
        if problem:
            rejected.append(problem)
        else:
            parsed.append(annotation)
    return fmt, *_resolve_repeats(source_name, parsed, rejected)


def parse_export(source_name: str, data: bytes, class_names) -> tuple[list[Annotation], list[Rejected]]:
    """One label per window from a Label Studio export (JSON, JSON_MIN, CSV or TSV), and every entry rejected
    with its reason.

    A file that is none of these gives one Rejected with task_index -1 and field "file". Otherwise every
    entry ends in exactly one of the two lists. Annotations cancelled in Label Studio are skipped; the others
    must each hold one choice and agree (the latest one's label is taken). The same window in two entries
    (in JSON_MIN and CSV: two annotations of one task) is rejected in both when the labels differ, and in the
    later entry when they agree (imported once).
    """
    _, parsed, rejected = _parse(source_name, data, class_names)
    return parsed, rejected


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
            others = ", ".join(f"{_entry(b.fmt, b.task_index, '')} says {b.label!r}" for b in group if b is not a)
            what = (f"window {device_id}/{window_id} has different labels in this export: {a.label!r} here, "
                    f"{others}" if conflict else
                    f"window {device_id}/{window_id} repeats {_entry(a.fmt, group[0].task_index, '')} with the "
                    f"same label {a.label!r} (imported once, from that {a.fmt.unit})")
            field_name = f"{a.fmt.data_prefix}window_id"
            reason = f"{source}: {a.where}: {field_name}: {what}"
            rejected.append(Rejected(source, a.task_index, a.task_id, field_name, reason, device_id,
                                     window_id, a.raw))
    accepted.sort(key=lambda a: a.task_index)
    rejected.sort(key=lambda r: r.task_index)
    return accepted, rejected


# ------------------------------------------------------------------------------------------- the import


@dataclass
class LabelImport:
    version: str  # the labels version written; when none was: the earlier import, or the latest version
    parent: str | None
    counts: dict[str, int]
    windows: WindowSet  # the relabelled windows written (none when nothing was)
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    already_imported: bool = False
    written: bool = True  # False: this call wrote no version (already imported, or no label changed)
    note: str = ""  # why nothing was written, or what became of an earlier import of the file on another base
    export_format: str = ""  # JSON, JSON_MIN, CSV or TSV ("" in versions imported before formats were told)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _earlier_imports(store: Store, sha256: str) -> list[tuple[str, str | None]]:
    """(version, base) of every import of the file, oldest first."""
    # The manifests are the record of imports, as they are of ingested uploads: nothing else to keep in step.
    found = []
    for version in list_versions(store):
        manifest = read_manifest(store, version)
        if manifest.get("kind") == KIND and manifest.get("export", {}).get("sha256") == sha256:
            found.append((version, manifest.get("base")))
    return found


def _earlier_result(store: Store, source_name: str, version: str) -> LabelImport:
    manifest = read_manifest(store, version)
    rows = [QuarantinedRow(r["source"], int(r["line"]), r["field"], r["reason"], r["raw"], r["device_id"],
                           r["window_id"]) for r in read_quarantine(store, version)]
    note = (f"{source_name}: already imported as {version} on base {manifest.get('base')} (the same bytes); "
            f"nothing written")
    return LabelImport(version, manifest.get("parent"), manifest["counts"], read_windows(store, version), rows,
                       already_imported=True, written=False, note=note,
                       export_format=manifest["export"].get("format", ""))


def _lineage_keys(store: Store, version: str) -> set[tuple[str, str]]:
    """(device_id, window_id) of every window in the version's lineage, read without the samples."""
    keys: set[tuple[str, str]] = set()
    for v in lineage_versions(store, version):
        device_ids, window_ids = read_window_ids(store, v)
        keys.update(zip(device_ids.astype(str).tolist(), window_ids.astype(str).tolist(), strict=True))
    return keys


def _nothing_imported(source_name: str, fmt: ExportFormat, rejected: list[Rejected]) -> str:
    first = "".join(f"\n  {r.reason}" for r in rejected[:FIRST_REASONS])
    more = f"\n  ... and {len(rejected) - FIRST_REASONS} more" if len(rejected) > FIRST_REASONS else ""
    return (f"{source_name}: nothing imported, no version written: all {len(rejected)} {fmt.unit}(s) of this "
            f"{fmt.name} export were quarantined. The first reasons:{first}{more}")


def import_labels(store: Store, source_name: str, data: bytes, config: Config, *,
                  base_version: str | None = None, now: datetime | None = None) -> LabelImport:
    """Import a Label Studio export as a new labels version; its windows must be in `base_version`'s lineage
    (default: the latest version's), and the version goes on top of the latest.

    Raises LabelImportError, writing nothing, when there is no version to label or the file is not an export
    (there is nothing to version), and NothingImportedError when every entry was quarantined (an empty version
    would record nothing the error does not say). Entries whose window is not in the base's lineage are
    quarantined with the rest. When every label read is the one the latest version already holds, nothing is
    written either: the result is the latest version with written=False and a note saying so.

    The same bytes imported again return the earlier version (already_imported=True), unless `base_version`
    names another base than that import's: then the file is imported again on the base named, so windows
    that were not in the other base's history are imported now (and the rest change no label).
    """
    sha256 = _sha256(data)
    earlier = _earlier_imports(store, sha256)
    retried = [version for version, base in earlier if base_version in (None, base)]
    if retried:
        return _earlier_result(store, source_name, retried[-1])
    notes = [f"{source_name}: the same bytes were imported as {version} on base {base}; imported again on base "
             f"{base_version} as asked" for version, base in earlier]
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
    fmt, annotations, rejected = _parse(source_name, data, config.data.class_names)
    if fmt is None:
        raise LabelImportError(rejected[0].reason)
    tasks_read = len(annotations) + len(rejected)
    if tasks_read == 0:
        raise LabelImportError(f"{source_name}: file: the {fmt.name} export holds no tasks; nothing to import")
    # Labels are compared with, and copied from, the current data (the latest version's lineage), so a window
    # relabelled since the base keeps its newest content, and labels the data already holds change nothing
    # even when the base named is older.
    current = read_lineage(store, parent)
    position = {(str(d), str(w)): i for i, (d, w) in enumerate(zip(current.device_ids, current.window_ids,
                                                                    strict=True))}
    in_base = position.keys() if base == parent else _lineage_keys(store, base)
    found = []
    for a in annotations:
        if (a.device_id, a.window_id) in in_base and (a.device_id, a.window_id) in position:
            found.append(a)
            continue
        field_name = f"{fmt.data_prefix}window_id"
        reason = (f"{source_name}: {a.where}: {field_name}: window device_id={a.device_id} "
                  f"window_id={a.window_id} is not in dataset {base} or its ancestors")
        rejected.append(Rejected(source_name, a.task_index, a.task_id, field_name, reason, a.device_id,
                                 a.window_id, a.raw))
    rejected.sort(key=lambda r: r.task_index)
    rows = np.array([position[(a.device_id, a.window_id)] for a in found], dtype=np.int64)
    changed = int(sum(str(old) != a.label for old, a in zip(current.labels[rows], found, strict=True)))
    counts = {"tasks_read": tasks_read, "labels_imported": len(found), "labels_changed": changed,
              "labels_unchanged": len(found) - changed, "tasks_quarantined": len(rejected)}
    assert counts["tasks_read"] == counts["labels_imported"] + counts["tasks_quarantined"], counts
    quarantined = [QuarantinedRow(r.source, r.task_index, r.field, r.reason, r.raw, r.device_id, r.window_id)
                   for r in rejected]
    if not found:
        raise NothingImportedError(_nothing_imported(source_name, fmt, rejected), counts, quarantined)
    if changed == 0:
        # Another version would repeat what the data holds (all tasks exported again, a later snapshot).
        kept = (f"; {len(rejected)} {fmt.unit}(s) quarantined, listed in this result only (no version holds "
                f"them)" if rejected else "")
        notes.append(f"{source_name}: no label changed: the latest version {parent} already holds all "
                     f"{len(found)} label(s) read; no version written{kept}")
        return LabelImport(parent, read_manifest(store, parent).get("parent"), counts, current.select(rows[:0]),
                           quarantined, written=False, note="\n".join(notes), export_format=fmt.name)
    windows = _relabelled(current, rows, [a.label for a in found])
    version = new_version_id(now)
    write_version(store, version, windows, quarantined, {
        "version": version, "parent": parent, "base": base, "kind": KIND,
        "created_at": (now or datetime.now(UTC)).isoformat(),
        "config_fingerprint": config.fingerprint(), "data_config": config.to_dict()["data"],
        "counts": counts,
        "export": {"source": source_name, "sha256": sha256, "bytes": len(data), "format": fmt.name},
        "uploads": [],  # ingest reads every manifest's uploads; a labels version read none
    })
    return LabelImport(version, parent, counts, windows, quarantined, note="\n".join(notes),
                       export_format=fmt.name)


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
