"""The device-upload contract: parse one CSV upload into windows and quarantined rows.

An upload is UTF-8 CSV (a BOM and CRLF line ends are fine) with a header row:
`device_id,window_id,t_ms`, one column per configured channel, then optional
`label`, `pred_label`, `pred_score`. The rows of a window share
(device_id, window_id) and stand together in the file.

Every data row read ends in exactly one place: in an accepted window, or in
the quarantine with a reason naming file, line and field. Pure functions: no
store, no clock.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from dataclasses import dataclass, field

import numpy as np

from components.config import DataConfig

KEY_COLUMNS = ("device_id", "window_id", "t_ms")
OPTIONAL_COLUMNS = ("label", "pred_label", "pred_score")
SAFE_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SAFE_WINDOW_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
# Plain decimal numbers only: float() would also take "1_000", "nan" and " inf".
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
NON_FINITE = re.compile(r"^[+-]?(nan|inf|infinity)$", re.IGNORECASE)


@dataclass(frozen=True)
class QuarantinedRow:
    source: str
    line: int  # 1-based line in the file; the header is line 1
    field: str
    reason: str
    raw: str
    device_id: str = ""
    window_id: str = ""


@dataclass(frozen=True)
class Window:
    device_id: str
    window_id: str
    source: str
    first_line: int
    t_ms: np.ndarray  # float64 [T]
    x: np.ndarray  # float32 [T, C], configured channel order, raw sensor units
    label: str  # "" when the device sent none
    pred_label: str
    pred_score: float  # nan when the device sent none
    rows: tuple[tuple[int, str], ...] = ()  # (line, raw text) of each row, for quarantine

    @property
    def content_hash(self) -> str:
        """Identity of the window's content: equal hashes are exact duplicates."""
        h = hashlib.sha256()
        for part in (self.device_id, self.window_id, self.label):
            h.update(part.encode() + b"\0")
        h.update(np.ascontiguousarray(self.t_ms, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(self.x, dtype=np.float32).tobytes())
        return h.hexdigest()


@dataclass
class ParsedUpload:
    source: str
    rows_read: int = 0
    windows: list[Window] = field(default_factory=list)
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    windows_rejected: int = 0
    file_error: str = ""  # set when the whole file broke the contract


@dataclass
class _Row:
    line: int
    raw: str
    values: dict[str, str]
    errors: list[tuple[str, str]]  # (field, what is wrong)


def parse_upload(source: str, data: bytes, config: DataConfig) -> ParsedUpload:
    """Check every row of one upload against the contract and group rows into windows."""
    result = ParsedUpload(source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reason = f"file is not UTF-8: invalid byte 0x{data[exc.start]:02x} at offset {exc.start}"
        return _reject_file(result, data.decode("utf-8", errors="replace"), reason, header_line=True)
    if "\x00" in text:
        return _reject_file(result, text.replace("\x00", "\\0"), "file contains NUL bytes", True)
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    if not numbered:
        return _reject_file(result, "", "file is empty (expected a header row and data rows)", False)
    (_, header_line), body = numbered[0], numbered[1:]
    header = [h.strip() for h in next(csv.reader([header_line]))]
    header_error = _check_header(header, config)
    if header_error:
        return _reject_file(result, text, header_error, header_line=True, field_name="header")
    result.rows_read = len(body)
    rows = [_parse_row(line, raw, header, config) for line, raw in body]
    _assemble_windows(result, rows, config)
    return result


def _reject_file(result: ParsedUpload, text: str, reason: str, header_line: bool,
                 field_name: str = "file") -> ParsedUpload:
    """Quarantine every data row of a file that breaks the contract as a whole."""
    result.file_error = reason
    lines = [(i + 1, ln.rstrip("\r")) for i, ln in enumerate(text.split("\n")) if ln.strip()]
    body = lines[1:] if header_line else lines
    result.rows_read = len(body)
    result.quarantined = [QuarantinedRow(result.source, n, field_name,
                                         f"{result.source}:{n}: {field_name}: {reason}", raw)
                          for n, raw in body]
    return result


def _check_header(header: list[str], config: DataConfig) -> str:
    expected = list(KEY_COLUMNS) + list(config.channel_names)
    allowed = set(expected) | set(OPTIONAL_COLUMNS)
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        return f"header repeats column(s) {duplicated}"
    missing = [c for c in expected if c not in header]
    if missing:
        return f"header is missing column(s) {missing}; expected {','.join(expected)}[,label,pred_label,pred_score]"
    unknown = [c for c in header if c not in allowed]
    if unknown:
        return f"header has unknown column(s) {unknown}; expected {','.join(expected)}[,label,pred_label,pred_score]"
    return ""


def _parse_row(line: int, raw: str, header: list[str], config: DataConfig) -> _Row:
    try:
        fields = next(csv.reader([raw]))
    except csv.Error as exc:
        return _Row(line, raw, {}, [("row", f"unreadable CSV: {exc}")])
    values = {name: value.strip() for name, value in zip(header, fields, strict=False)}  # ragged rows too
    errors = _key_errors(values)
    if len(fields) != len(header):  # still joins its window when its key is readable
        return _Row(line, raw, values,
                    [("row", f"ragged row: {len(fields)} fields, the header has {len(header)}"), *errors])
    _check_number(values, "t_ms", 0.0, math.inf, "a time in ms >= 0", errors)
    for ch in config.channels:
        _check_number(values, ch.name, ch.min, ch.max, f"{ch.unit} in [{ch.min:g}, {ch.max:g}]", errors)
    for name in ("label", "pred_label"):
        value = values.get(name, "")
        if value and value not in config.class_names:
            errors.append((name, f"unknown {name} {value!r}: expected one of {list(config.class_names)}"))
    if values.get("pred_score", ""):
        _check_number(values, "pred_score", 0.0, 1.0, "a score in [0, 1]", errors)
    return _Row(line, raw, values, errors)


def _key_errors(values: dict[str, str]) -> list[tuple[str, str]]:
    errors = []
    device_id, window_id = values.get("device_id", ""), values.get("window_id", "")
    if not SAFE_DEVICE_ID.match(device_id) or ".." in device_id:
        errors.append(("device_id", f"unsafe device_id {device_id!r}: expected letters, "
                       "digits, '.', '_' or '-' (no '/', no '..'), at most 64 characters"))
    if not SAFE_WINDOW_ID.match(window_id):
        errors.append(("window_id", f"invalid window_id {window_id!r}: expected letters, "
                       "digits, '.', '_', ':' or '-', at most 128 characters"))
    return errors


def _check_number(values: dict[str, str], name: str, lo: float, hi: float, expected: str,
                  errors: list[tuple[str, str]]) -> None:
    text = values[name]
    if NON_FINITE.match(text):
        errors.append((name, f"non-finite value {text!r}: expected {expected}"))
    elif not NUMBER.match(text):
        errors.append((name, f"not a number: {text!r}: expected {expected}"))
    elif not lo <= float(text) <= hi:
        errors.append((name, f"value {text} out of range: expected {expected}"))


def _assemble_windows(result: ParsedUpload, rows: list[_Row], config: DataConfig) -> None:
    """Group consecutive rows with the same key into windows, then check each window."""
    runs: list[list[_Row]] = []
    for row in rows:
        if any(f in ("device_id", "window_id") for f, _ in row.errors):
            _quarantine(result, row, *row.errors[0], extra=row.errors[1:])  # no window to join
            continue
        key = (row.values["device_id"], row.values["window_id"])
        if runs and _key(runs[-1][0]) == key:
            runs[-1].append(row)
        else:
            runs.append([row])
    for run in runs:
        _check_window(result, run, config)


def _key(row: _Row) -> tuple[str, str]:
    return row.values["device_id"], row.values["window_id"]


def _check_window(result: ParsedUpload, run: list[_Row], config: DataConfig) -> None:
    device_id, window_id = _key(run[0])
    bad = [r for r in run if r.errors]
    problem = None if bad else _window_problem(run, config)
    if bad or problem:
        result.windows_rejected += 1
    if bad:
        where = ", ".join(f"line {r.line} ({r.errors[0][0]})" for r in bad[:5])
        for row in run:
            if row.errors:
                _quarantine(result, row, *row.errors[0], extra=row.errors[1:])
            else:
                _quarantine(result, row, "window", f"window {device_id}/{window_id} rejected: "
                            f"{len(bad)} of its rows broke the contract: {where}")
        return
    if problem:
        for row in run:
            _quarantine(result, row, *problem)
        return
    labels = {r.values.get("label", "") for r in run}
    preds = [r for r in run if r.values.get("pred_label", "")]
    scores = [r for r in run if r.values.get("pred_score", "")]
    result.windows.append(Window(
        device_id=device_id, window_id=window_id, source=result.source, first_line=run[0].line,
        t_ms=np.array([float(r.values["t_ms"]) for r in run], dtype=np.float64),
        x=np.array([[float(r.values[c]) for c in config.channel_names] for r in run], dtype=np.float32),
        label=labels.pop(),
        pred_label=preds[0].values["pred_label"] if preds else "",
        pred_score=float(scores[0].values["pred_score"]) if scores else math.nan,
        rows=tuple((r.line, r.raw) for r in run),
    ))


def _window_problem(run: list[_Row], config: DataConfig) -> tuple[str, str] | None:
    device_id, window_id = _key(run[0])
    name = f"window {device_id}/{window_id} (lines {run[0].line}-{run[-1].line})"
    if len(run) != config.window_length:
        return "window", f"{name} has {len(run)} rows: expected window_length {config.window_length}"
    t = np.array([float(r.values["t_ms"]) for r in run])
    steps = np.diff(t)
    if np.any(steps <= 0):
        at = run[int(np.argmax(steps <= 0)) + 1].line
        return "t_ms", f"{name}: t_ms not strictly increasing at line {at}"
    period = 1000.0 / config.sample_rate_hz
    median = float(np.median(steps))
    if abs(median - period) > config.sample_period_tolerance * period:
        return "t_ms", (f"{name}: median sample interval {median:g} ms, expected {period:g} ms "
                        f"({config.sample_rate_hz:g} Hz) within {config.sample_period_tolerance:.0%}")
    labels = {r.values.get("label", "") for r in run}
    if len(labels) > 1:
        return "label", f"{name}: rows disagree on label {sorted(labels)}: expected one label per window"
    return None


def _quarantine(result: ParsedUpload, row: _Row, field_name: str, reason: str,
                extra: list[tuple[str, str]] = ()) -> None:
    if extra:
        reason += "; " + "; ".join(f"{f}: {r}" for f, r in extra)
    result.quarantined.append(QuarantinedRow(
        result.source, row.line, field_name, f"{result.source}:{row.line}: {field_name}: {reason}",
        row.raw, row.values.get("device_id", ""), row.values.get("window_id", "")))
