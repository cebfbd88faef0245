"""Parse one CSV upload into columns of accepted windows and quarantined rows, at the CSV parser's speed.

pyarrow's CSV reader splits the file and every rule of components/contract.py that can be checked on a whole
column is (a pattern, a range, a set of labels; per window: the length, time order, sample interval and one
label). Only what fails a vectorized check goes through the contract's row path: the rows that fail are parsed
by `contract.parse_row`, and every run of rows holding one of them, or failing a window rule, is judged by
`contract.judge_window`. So each reason is exactly the row path's, one bad row costs one row's slow path, and
a file of valid rows never touches it.

The vectorized checks are stricter than the rules, never looser: a row they pass has no error under the row
path (e.g. they accept only spaces and tabs around a value, where Python's str.strip() takes more; anything
else is left to the row path, which decides). A file holding a quote character or a bare carriage return is
read by the row path whole: the csv module and pyarrow would split it differently.
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass, field

import numpy as np

from components.config import DataConfig
from components.contract import (
    QuarantinedRow,
    Row,
    Window,
    check_header,
    content_hash,
    has_key,
    judge_window,
    parse_row,
    quarantine_row,
    reject_file,
)
from components.upload_columns import Columns, Lines


@dataclass
class ParsedUpload:
    """One upload: its accepted windows as columns (N windows, in file order) and its quarantined rows."""

    source: str
    lines: Lines | None  # the file's lines (None when the file was rejected whole)
    device_ids: np.ndarray  # str [N]
    window_ids: np.ndarray  # str [N]
    labels: np.ndarray  # str [N], "" = unlabelled
    pred_labels: np.ndarray  # str [N], "" = none
    pred_scores: np.ndarray  # float64 [N], nan = none
    t_ms: np.ndarray  # float64 [N, T]
    x: np.ndarray  # float32 [N, T, C], configured channel order
    row_lines: np.ndarray  # int64 [N, T]: the line of each row of each window
    hashes: np.ndarray  # str [N]: contract.content_hash
    rows_read: int = 0
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    windows_rejected: int = 0
    file_error: str = ""  # set when the whole file broke the contract

    def __len__(self) -> int:
        return len(self.device_ids)

    def window_rows(self, i: int) -> tuple[tuple[int, str], ...]:
        """(line, raw text) of each row of window i."""
        return tuple((int(n), self.lines[int(n)]) for n in self.row_lines[i])

    @property
    def windows(self) -> list[Window]:
        """The accepted windows one by one (for callers that want objects, not columns)."""
        return [Window(str(self.device_ids[i]), str(self.window_ids[i]), self.source, int(self.row_lines[i, 0]),
                       self.t_ms[i], self.x[i], str(self.labels[i]), str(self.pred_labels[i]),
                       float(self.pred_scores[i]), self.window_rows(i)) for i in range(len(self))]


def parse_upload(source: str, data: bytes, config: DataConfig) -> ParsedUpload:
    """Check every row of one upload against the contract and group rows into windows."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reason = f"file is not UTF-8: invalid byte 0x{data[exc.start]:02x} at offset {exc.start}"
        return _rejected(source, data.decode("utf-8", errors="replace"), reason, True, "file", config)
    if "\x00" in text:
        return _rejected(source, text.replace("\x00", "\\0"), "file contains NUL bytes", True, "file", config)
    lines = Lines.of(text, data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data)
    numbered = np.flatnonzero(~lines.blank) + 1
    if not len(numbered):
        return _rejected(source, "", "file is empty (expected a header row and data rows)", False, "file", config)
    header = [h.strip() for h in next(csv.reader([lines[int(numbered[0])]]))]
    header_error = check_header(header, config)
    if header_error:
        return _rejected(source, text, header_error, True, "header", config)
    body = numbered[1:]  # the line of each data row
    # The csv module reads quotes and a CR inside a line; pyarrow is told there are none.
    simple = '"' not in text and ("\r" not in text or text.count("\r") == text.count("\r\n"))
    columns = Columns.read(lines, body, header, config) if simple and len(body) else Columns.none(len(body))
    result = _assemble(source, lines, body, header, columns, config)
    result.rows_read = len(body)
    return result


def _rejected(source: str, text: str, reason: str, header_line: bool, field_name: str,
              config: DataConfig) -> ParsedUpload:
    result = _empty(source, None, config)
    result.quarantined = reject_file(source, text, reason, header_line, field_name)
    result.rows_read, result.file_error = len(result.quarantined), reason
    return result


def _empty(source: str, lines: Lines | None, config: DataConfig) -> ParsedUpload:
    t, c = config.window_length, len(config.channels)
    text = np.array([], dtype=str)
    return ParsedUpload(source, lines, text, text, text, text, np.array([], dtype=np.float64),
                        np.empty((0, t)), np.empty((0, t, c), dtype=np.float32), np.empty((0, t), dtype=np.int64),
                        text)


def _assemble(source: str, lines: Lines, body: np.ndarray, header: list[str], columns: Columns,
              config: DataConfig) -> ParsedUpload:
    """Group consecutive rows with the same key into windows; check whole windows at once where every row
    passed the vectorized checks, and let the contract judge the rest, run by run in file order."""
    at = columns.at
    fast = at >= 0
    slow = {int(i): parse_row(int(body[i]), lines[int(body[i])], header, config) for i in np.flatnonzero(~fast)}
    quarantined = []
    # Every row's key as two codes; the row path's keys join the columns' codes, so equal keys, equal codes.
    device_codes, window_codes = np.full(len(body), -1, dtype=np.int64), np.full(len(body), -1, dtype=np.int64)
    device_codes[fast], window_codes[fast] = columns.device_codes[at[fast]], columns.window_codes[at[fast]]
    if slow:
        device_code = {name: i for i, name in enumerate(columns.device_names)}
        window_code = {name: i for i, name in enumerate(columns.window_names)}
        for i, row in slow.items():
            if not has_key(row):  # no window to join
                quarantined.append(quarantine_row(source, row, *row.errors[0], extra=row.errors[1:]))
                continue
            device_codes[i] = device_code.setdefault(row.values["device_id"], len(device_code))
            window_codes[i] = window_code.setdefault(row.values["window_id"], len(window_code))
    members = np.flatnonzero(device_codes >= 0)  # rows with a readable key, in file order
    d, w = device_codes[members], window_codes[members]
    starts = np.flatnonzero(np.r_[True, (d[1:] != d[:-1]) | (w[1:] != w[:-1])]) if len(members) else members
    ends = np.r_[starts[1:], len(members)].astype(np.int64)
    length = config.window_length
    # A run is checked as columns when it has window_length rows, all passed by the vectorized checks.
    slow_rows = np.add.reduceat((~fast[members]).astype(np.int64), starts) if len(starts) else starts
    good = (ends - starts == length) & (slow_rows == 0)
    if good.any():
        good[good] = _window_rules_hold(columns, at[members[starts[good, None] + np.arange(length)]], config)
    judged: dict[int, Window] = {}
    for k in np.flatnonzero(~good):  # in file order, so the quarantine keeps the row path's order
        run = [slow.get(int(i)) or _row(int(body[i]), lines, header) for i in members[starts[k]:ends[k]]]
        window = judge_window(source, run, config, quarantined)
        if window is not None:
            judged[int(k)] = window
    good_rows = members[starts[good, None] + np.arange(length)]  # [windows, window_length] rows of the body
    result = _columns_of(source, lines, columns, at[good_rows], body[good_rows], config)
    if judged:
        result = _with_judged(result, judged, np.flatnonzero(good), config)
    result.quarantined = quarantined
    result.windows_rejected = int((~good).sum()) - len(judged)
    return result


def _window_rules_hold(columns: Columns, at: np.ndarray, config: DataConfig) -> np.ndarray:
    """contract.window_problem for many windows of window_length valid rows at once: True where it finds none."""
    steps = np.diff(columns.t_ms[at], axis=1)
    period = 1000.0 / config.sample_rate_hz
    in_order = (steps > 0).all(axis=1)
    on_time = np.abs(np.median(steps, axis=1) - period) <= config.sample_period_tolerance * period
    labels = columns.label_codes[at]
    return in_order & on_time & (labels == labels[:, :1]).all(axis=1)


def _row(line: int, lines: Lines, header: list[str]) -> Row:
    """A row the vectorized checks passed, as the row path sees it (its fields, trimmed; no errors)."""
    raw = lines[line]
    return Row(line, raw, {name: value.strip() for name, value in zip(header, raw.split(","), strict=True)}, [])


def _columns_of(source: str, lines: Lines, columns: Columns, at: np.ndarray, row_lines: np.ndarray,
                config: DataConfig) -> ParsedUpload:
    """The windows whose rows are `at` in `columns` ([windows, window_length]), as a ParsedUpload."""
    if not len(at):
        return _empty(source, lines, config)
    classes = np.array(["", *config.class_names])
    windows = np.arange(len(at))
    preds = columns.pred_codes[at]
    has_pred = preds > 0  # a window's pred_label and pred_score: its first row's that has one
    pred_labels = classes[np.where(has_pred.any(axis=1), preds[windows, has_pred.argmax(axis=1)], 0)]
    scores = columns.pred_scores[at]
    has_score = ~np.isnan(scores)
    pred_scores = np.where(has_score.any(axis=1), scores[windows, has_score.argmax(axis=1)], np.nan)
    first = at[:, 0]
    device_ids = np.array(columns.device_names, dtype=str)[columns.device_codes[first]]
    window_ids = np.array(columns.window_names, dtype=str)[columns.window_codes[first]]
    labels = classes[columns.label_codes[first]]
    t_ms, x = columns.t_ms[at], columns.x[at]
    hashes = [content_hash(d, w, lab, t, v) for d, w, lab, t, v in zip(device_ids.tolist(), window_ids.tolist(),
                                                                        labels.tolist(), t_ms, x, strict=True)]
    return ParsedUpload(source, lines, device_ids, window_ids, labels, pred_labels, pred_scores, t_ms, x, row_lines,
                        np.array(hashes, dtype=str))


def _with_judged(result: ParsedUpload, judged: dict[int, Window], good_runs: np.ndarray,
                 config: DataConfig) -> ParsedUpload:
    """Merge the windows the row path accepted into the columns, in file (run) order."""
    extra = list(judged.values())
    order = np.argsort(np.r_[good_runs, list(judged)], kind="stable")

    def merged(column: np.ndarray, values: list) -> np.ndarray:
        if not len(values):
            return column
        return np.concatenate([column, np.array(values, dtype=column.dtype if column.dtype != object else str)])[order]

    def text(column: np.ndarray, values: list[str]) -> np.ndarray:
        return np.concatenate([column.astype(object), np.array(values, dtype=object)])[order].astype(str)

    t = config.window_length
    return ParsedUpload(
        result.source, result.lines,
        text(result.device_ids, [w.device_id for w in extra]), text(result.window_ids, [w.window_id for w in extra]),
        text(result.labels, [w.label for w in extra]), text(result.pred_labels, [w.pred_label for w in extra]),
        merged(result.pred_scores, [w.pred_score for w in extra]),
        merged(result.t_ms.reshape(-1, t), [w.t_ms for w in extra]),
        merged(result.x.reshape(-1, t, len(config.channels)), [w.x for w in extra]),
        merged(result.row_lines.reshape(-1, t), [[n for n, _ in w.rows] for w in extra]),
        text(result.hashes, [w.content_hash for w in extra]))
