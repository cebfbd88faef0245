"""Label Studio's exports of the relabel queue's project, read into one label per window.

`parse_export` reads JSON, JSON_MIN, CSV or TSV (which one is told from the bytes; components/labels.py
describes the shapes) and rejects every entry it cannot trust with a reason naming the file, the entry and the
field. components/labels.py turns what it reads into a dataset version.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from components.label_studio import LABEL_CONTROL

FORMATS_READ = "JSON, JSON_MIN or CSV"


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


def read_export(source_name: str, data: bytes,
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
    _, parsed, rejected = read_export(source_name, data, class_names)
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
