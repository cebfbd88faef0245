"""The device-upload contract: the rules one CSV upload is checked against, row by row.

An upload is UTF-8 CSV (a BOM and CRLF line ends are fine) with a header row:
`device_id,window_id,t_ms`, one column per configured channel, then optional
`label`, `pred_label`, `pred_score`. The rows of a window share
(device_id, window_id) and stand together in the file.

Every data row read ends in exactly one place: in an accepted window, or in
the quarantine with a reason naming file, line and field. These are the rules
and their exact reasons, one row and one window at a time; the parser
(components/upload_parser.py) checks whole columns at once and asks these
functions only about the rows and windows that fail. Pure functions: no store,
no clock.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from dataclasses import dataclass

import numpy as np

from components.config import KEY_COLUMNS, OPTIONAL_COLUMNS, DataConfig  # noqa: F401 (the contract's columns)

MAX_DEVICE_ID = 64
MAX_WINDOW_ID = 128
_DEVICE_ID = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_DEVICE_ID - 1}}}$")


def is_safe_device_id(device_id: str) -> bool:
    """A device id names the device's folder in the store (incoming/<device_id>/) and travels unquoted in the
    upload CSV and the serial protocol: letters, digits, '.', '_' or '-', starting with a letter or digit, at
    most MAX_DEVICE_ID characters, and never '..' (no way out of the folder)."""
    return bool(_DEVICE_ID.match(device_id)) and ".." not in device_id


def window_id_pattern(max_length: int) -> re.Pattern:
    """Letters, digits, '.', '_', ':' or '-', starting with a letter or digit, at most `max_length` characters:
    an upload's window id (MAX_WINDOW_ID), and a board's on the serial line (shorter: device/protocol.py)."""
    return re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._:-]{{0,{max_length - 1}}}$")


SAFE_WINDOW_ID = window_id_pattern(MAX_WINDOW_ID)
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
        return content_hash(self.device_id, self.window_id, self.label, self.t_ms, self.x)


def content_hash(device_id: str, window_id: str, label: str, t_ms: np.ndarray, x: np.ndarray) -> str:
    """Identity of a window's content: equal hashes are exact duplicates."""
    h = hashlib.sha256()
    for part in (device_id, window_id, label):
        h.update(part.encode() + b"\0")
    h.update(np.ascontiguousarray(t_ms, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    return h.hexdigest()


@dataclass
class Row:
    """One data row as the row path reads it: every field as text, and what is wrong with it."""

    line: int
    raw: str
    values: dict[str, str]
    errors: list[tuple[str, str]]  # (field, what is wrong)


def reject_file(source: str, text: str, reason: str, header_line: bool,
                field_name: str = "file") -> list[QuarantinedRow]:
    """Quarantine every data row of a file that breaks the contract as a whole."""
    lines = [(i + 1, ln.rstrip("\r")) for i, ln in enumerate(text.split("\n")) if ln.strip()]
    body = lines[1:] if header_line else lines
    return [QuarantinedRow(source, n, field_name, f"{source}:{n}: {field_name}: {reason}", raw) for n, raw in body]


def check_header(header: list[str], config: DataConfig) -> str:
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


def parse_row(line: int, raw: str, header: list[str], config: DataConfig) -> Row:
    try:
        fields = next(csv.reader([raw]))
    except csv.Error as exc:
        return Row(line, raw, {}, [("row", f"unreadable CSV: {exc}")])
    values = {name: value.strip() for name, value in zip(header, fields, strict=False)}  # ragged rows too
    errors = _key_errors(values)
    if len(fields) != len(header):  # still joins its window when its key is readable
        return Row(line, raw, values,
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
    return Row(line, raw, values, errors)


def has_key(row: Row) -> bool:
    """Whether the row names a window it can join (a row with an unreadable or unsafe key joins none)."""
    return "device_id" in row.values and not any(f in ("device_id", "window_id") for f, _ in row.errors)


def _key_errors(values: dict[str, str]) -> list[tuple[str, str]]:
    errors = []
    device_id, window_id = values.get("device_id", ""), values.get("window_id", "")
    if not is_safe_device_id(device_id):
        errors.append(("device_id", f"unsafe device_id {device_id!r}: expected letters, "
                       f"digits, '.', '_' or '-' (no '/', no '..'), at most {MAX_DEVICE_ID} characters"))
    if not SAFE_WINDOW_ID.match(window_id):
        errors.append(("window_id", f"invalid window_id {window_id!r}: expected letters, "
                       f"digits, '.', '_', ':' or '-', at most {MAX_WINDOW_ID} characters"))
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


def judge_window(source: str, run: list[Row], config: DataConfig,
                 quarantined: list[QuarantinedRow]) -> Window | None:
    """The window of one run of rows with the same key, or None when it is rejected: then every row of the
    run is in `quarantined`, with its own error or the window's."""
    device_id, window_id = run[0].values["device_id"], run[0].values["window_id"]
    bad = [r for r in run if r.errors]
    problem = None if bad else window_problem(run, config)
    if bad:
        where = ", ".join(f"line {r.line} ({r.errors[0][0]})" for r in bad[:5])
        for row in run:
            if row.errors:
                quarantined.append(quarantine_row(source, row, *row.errors[0], extra=row.errors[1:]))
            else:
                quarantined.append(quarantine_row(source, row, "window", f"window {device_id}/{window_id} "
                                                  f"rejected: {len(bad)} of its rows broke the contract: {where}"))
        return None
    if problem:
        quarantined.extend(quarantine_row(source, row, *problem) for row in run)
        return None
    labels = {r.values.get("label", "") for r in run}
    preds = [r for r in run if r.values.get("pred_label", "")]
    scores = [r for r in run if r.values.get("pred_score", "")]
    return Window(
        device_id=device_id, window_id=window_id, source=source, first_line=run[0].line,
        t_ms=np.array([float(r.values["t_ms"]) for r in run], dtype=np.float64),
        x=np.array([[float(r.values[c]) for c in config.channel_names] for r in run], dtype=np.float32),
        label=labels.pop(),
        pred_label=preds[0].values["pred_label"] if preds else "",
        pred_score=float(scores[0].values["pred_score"]) if scores else math.nan,
        rows=tuple((r.line, r.raw) for r in run),
    )


def window_problem(run: list[Row], config: DataConfig) -> tuple[str, str] | None:
    """(field, reason) when a run of valid rows does not make a valid window."""
    device_id, window_id = run[0].values["device_id"], run[0].values["window_id"]
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


def quarantine_row(source: str, row: Row, field_name: str, reason: str,
                   extra: list[tuple[str, str]] = ()) -> QuarantinedRow:
    if extra:
        reason += "; " + "; ".join(f"{f}: {r}" for f, r in extra)
    return QuarantinedRow(source, row.line, field_name, f"{source}:{row.line}: {field_name}: {reason}",
                          row.raw, row.values.get("device_id", ""), row.values.get("window_id", ""))
