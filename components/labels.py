"""People's labels back into the data: a Label Studio export becomes a new dataset version.

`components/label_exports.py` (`parse_export`) reads an export of the relabel queue's project in Label
Studio's JSON, JSON_MIN, CSV or TSV format (which one is told from the bytes):

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

The demo's annotator, which answers a queue from the simulator's ground truth, is `simulator.oracle_answer`.
"""

from __future__ import annotations

import hashlib
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
from components.label_exports import ExportFormat, Rejected, read_export
from components.store import Store
from components.window_key import WindowKey, window_keys

KIND = "labels"
FIRST_REASONS = 3  # how many reasons an error quotes; the rest are on the error itself


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


def _lineage_keys(store: Store, version: str) -> set[WindowKey]:
    """The key of every window in the version's lineage, read without the samples."""
    keys: set[WindowKey] = set()
    for v in lineage_versions(store, version):
        keys.update(window_keys(*read_window_ids(store, v)))
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
    base, parent = _base_and_parent(store, source_name, base_version)
    fmt, annotations, rejected = read_export(source_name, data, config.data.class_names)
    if fmt is None:
        raise LabelImportError(rejected[0].reason)
    tasks_read = len(annotations) + len(rejected)
    if tasks_read == 0:
        raise LabelImportError(f"{source_name}: file: the {fmt.name} export holds no tasks; nothing to import")
    # Labels are compared with, and copied from, the current data (the latest version's lineage), so a window
    # relabelled since the base keeps its newest content, and labels the data already holds change nothing
    # even when the base named is older.
    current = read_lineage(store, parent)
    position = {key: i for i, key in enumerate(current.keys())}
    in_base = position.keys() if base == parent else _lineage_keys(store, base)
    found, rejected = _in_base(source_name, fmt, base, annotations, rejected, in_base, position)
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
        notes.append(_no_label_changed(source_name, fmt, parent, len(found), len(rejected)))
        return LabelImport(parent, read_manifest(store, parent).get("parent"), counts, current.select(rows[:0]),
                           quarantined, written=False, note="\n".join(notes), export_format=fmt.name)
    windows = _relabelled(current, rows, [a.label for a in found])
    version = new_version_id(now)
    write_version(store, version, windows, quarantined,
                  _manifest(version, parent, base, counts, source_name, sha256, len(data), fmt, config, now))
    return LabelImport(version, parent, counts, windows, quarantined, note="\n".join(notes),
                       export_format=fmt.name)


def _base_and_parent(store: Store, source_name: str, base_version: str | None) -> tuple[str, str]:
    """The base whose windows may be labelled (`base_version`, default the latest) and the parent of the new
    version (the latest); LabelImportError when there is no version, or the base is not one in the latest's
    history."""
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
    return base, parent


def _in_base(source_name: str, fmt: ExportFormat, base: str, annotations: list, rejected: list[Rejected],
             in_base, position: dict) -> tuple[list, list[Rejected]]:
    """The annotations whose window is in the base's lineage and the current data; and `rejected` with the
    others added, each with its reason, all in the export's order."""
    found, rejected = [], list(rejected)
    for a in annotations:
        key = WindowKey(a.device_id, a.window_id)
        if key in in_base and key in position:
            found.append(a)
            continue
        field_name = f"{fmt.data_prefix}window_id"
        reason = (f"{source_name}: {a.where}: {field_name}: window device_id={a.device_id} "
                  f"window_id={a.window_id} is not in dataset {base} or its ancestors")
        rejected.append(Rejected(source_name, a.task_index, a.task_id, field_name, reason, a.device_id,
                                 a.window_id, a.raw))
    rejected.sort(key=lambda r: r.task_index)
    return found, rejected


def _no_label_changed(source_name: str, fmt: ExportFormat, parent: str, found: int, rejected: int) -> str:
    """The note of an import whose every label the latest version already holds."""
    kept = (f"; {rejected} {fmt.unit}(s) quarantined, listed in this result only (no version holds "
            f"them)" if rejected else "")
    return (f"{source_name}: no label changed: the latest version {parent} already holds all "
            f"{found} label(s) read; no version written{kept}")


def _manifest(version: str, parent: str, base: str, counts: dict[str, int], source_name: str, sha256: str,
              size: int, fmt: ExportFormat, config: Config, now: datetime | None) -> dict:
    """The labels version's manifest: its lineage, counts and the export it was read from."""
    return {
        "version": version, "parent": parent, "base": base, "kind": KIND,
        "created_at": (now or datetime.now(UTC)).isoformat(),
        "config_fingerprint": config.fingerprint(), "data_config": config.to_dict()["data"],
        "counts": counts,
        "export": {"source": source_name, "sha256": sha256, "bytes": size, "format": fmt.name},
        "uploads": [],  # ingest reads every manifest's uploads; a labels version read none
    }


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
