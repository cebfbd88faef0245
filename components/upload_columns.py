"""The vectorized half of the upload parser: where the lines are, and every row's fields checked as columns.

`Lines` finds the lines, the blank ones and each line's field count; for an ASCII file (every device upload)
with numpy over the bytes, for any other with Python's string methods. `Columns.read` hands the rows with the
header's field count to pyarrow's CSV reader and checks them against the contract's rules a column at a
time: numbers parsed by Arrow (non-null, finite, in range), keys and labels checked once per distinct value
with the contract's own patterns. A row passes only when the row path would accept it too (see
components/upload_parser.py); what does not pass is left to the row path.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from components.config import DataConfig
from components.contract import NUMBER, SAFE_WINDOW_ID, is_safe_device_id

# What str.strip() removes, in ASCII: a line of only these is blank.
_ASCII_WHITESPACE = np.frombuffer(b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f", dtype=np.uint8)
_TEXT_COLUMNS = ("device_id", "window_id", "label", "pred_label", "pred_score")


@dataclass(frozen=True)
class Lines:
    """The file's lines: line n (1-based) is text[starts[n - 1]:starts[n] - 1], one trailing CR removed."""

    text: str
    starts: np.ndarray  # int64 [lines + 1]: where each line starts, then len(text) + 1
    blank: np.ndarray  # bool [lines]: nothing but whitespace
    fields: np.ndarray  # int64 [lines]: commas + 1

    @classmethod
    def of(cls, text: str, raw: bytes) -> Lines:
        """`raw`: text's UTF-8 bytes (its BOM removed)."""
        if raw and raw.isascii():  # then bytes and characters are the same positions
            data = np.frombuffer(raw, dtype=np.uint8)
            newlines = np.flatnonzero(data == ord("\n"))
            starts = np.r_[0, newlines + 1, len(data) + 1].astype(np.int64)
            first, end = starts[:-1], starts[1:] - 1  # end: where the line's newline is (or the file ends)
            commas = np.flatnonzero(data == ord(","))
            fields = np.searchsorted(commas, end) - np.searchsorted(commas, first) + 1
            # A line that starts with a visible character is not blank; only the others are looked at whole.
            blank = (first == end) | np.isin(data[np.minimum(first, len(data) - 1)], _ASCII_WHITESPACE)
            for k in np.flatnonzero(blank & (first < end)):
                blank[k] = not raw[first[k]:end[k]].strip()
            return cls(text, starts, blank, fields)
        split = text.split("\n")
        starts = np.r_[0, np.cumsum([len(line) + 1 for line in split])].astype(np.int64)
        return cls(text, starts, np.array([not line.strip() for line in split], dtype=bool),
                   np.array([line.count(",") + 1 for line in split], dtype=np.int64))

    def __getitem__(self, n: int) -> str:
        line = self.text[self.starts[n - 1]:self.starts[n] - 1]
        return line[:-1] if line.endswith("\r") else line

    def __len__(self) -> int:
        return len(self.blank)

    def encoded(self, numbers: np.ndarray) -> bytes:
        """Lines `numbers` (ascending) as one UTF-8 CSV body."""
        if len(numbers) and numbers[-1] - numbers[0] + 1 == len(numbers):  # consecutive: one slice
            return self.text[self.starts[numbers[0] - 1]:self.starts[numbers[-1]] - 1].encode()
        return "\n".join(self[int(n)] for n in numbers).encode()


@dataclass
class Columns:
    """The rows that passed every vectorized check: row i of the body is row `at[i]` here (-1: not passed)."""

    at: np.ndarray  # int64 [rows of the body]
    device_codes: np.ndarray  # int64: an index into device_names
    window_codes: np.ndarray
    device_names: list[str]  # each distinct key, trimmed
    window_names: list[str]
    label_codes: np.ndarray  # int64: an index into ("", *class_names)
    pred_codes: np.ndarray
    pred_scores: np.ndarray  # float64, nan = none
    t_ms: np.ndarray  # float64
    x: np.ndarray  # float32 [rows, C]

    @classmethod
    def none(cls, rows: int) -> Columns:
        empty = np.empty(0, dtype=np.int64)
        return cls(np.full(rows, -1, dtype=np.int64), empty, empty, [], [], empty, empty, np.empty(0), np.empty(0),
                   np.empty((0, 0), dtype=np.float32))

    @classmethod
    def read(cls, lines: Lines, body: np.ndarray, header: list[str], config: DataConfig) -> Columns:
        whole = lines.fields[body - 1] == len(header)  # ragged rows are left to the row path
        if not whole.any():
            return cls.none(len(body))
        table = _read_csv(lines.encoded(body[whole]), header)
        n = table.num_rows
        ok = np.ones(n, dtype=bool)
        classes = ("", *config.class_names)
        keys = {}
        for name, valid in (("device_id", is_safe_device_id), ("window_id", SAFE_WINDOW_ID.match)):
            codes, names, good = _distinct(table[name], lambda v, valid=valid: bool(valid(v)))
            keys[name] = codes, names
            ok &= good
        labels = {}
        for name in ("label", "pred_label"):
            if name in header:
                codes, names, good = _distinct(table[name], lambda v: v in classes)
                labels[name] = np.array([classes.index(v) if v in classes else 0 for v in names], np.int64)[codes]
                ok &= good
            else:
                labels[name] = np.zeros(n, dtype=np.int64)
        t_ms, good = _numbers(table["t_ms"], 0.0, math.inf)
        ok &= good
        x = np.empty((n, len(config.channels)), dtype=np.float32)
        for j, channel in enumerate(config.channels):
            x[:, j], good = _numbers(table[channel.name], channel.min, channel.max)
            ok &= good
        scores = np.full(n, np.nan)
        if "pred_score" in header:  # text: an empty score is none, where "nan" must be refused
            given = ~_as_bool(pc.equal(_trimmed(table["pred_score"]), ""))
            values, good = _numbers(table["pred_score"], 0.0, 1.0)
            scores[given], ok = values[given], ok & (good | ~given)
        at = np.full(len(body), -1, dtype=np.int64)
        at[np.flatnonzero(whole)[ok]] = np.arange(int(ok.sum()))
        return cls(at, keys["device_id"][0][ok], keys["window_id"][0][ok], keys["device_id"][1],
                   keys["window_id"][1], labels["label"][ok], labels["pred_label"][ok], scores[ok], t_ms[ok], x[ok])


def _read_csv(data: bytes, header: list[str]) -> pa.Table:
    """Every field as text: Arrow's CSV reader splits text several times faster than it converts numbers, and
    a column of text converts (below) in one call."""
    return pa_csv.read_csv(
        io.BytesIO(data), pa_csv.ReadOptions(column_names=header, use_threads=False),  # ingest parses files in parallel
        pa_csv.ParseOptions(quote_char=False, double_quote=False, escape_char=False),
        pa_csv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=False,
                              check_utf8=False))


def _trimmed(column) -> pa.Array:
    return pc.utf8_trim(column.combine_chunks(), " \t")


def _as_bool(array) -> np.ndarray:
    return array.to_numpy(zero_copy_only=False).astype(bool)


def _distinct(column, valid) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(code of each row, the distinct values trimmed of spaces and tabs, whether each row's value is valid):
    a key or label column has few distinct values, so each is checked once, in Python, by the contract's rule."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    raw_names = encoded.dictionary.to_pylist()
    names, code_of, remap = [], {}, np.empty(len(raw_names), dtype=np.int64)
    for i, value in enumerate(raw_names):  # " a" and "a" are one key
        trimmed = value.strip(" \t")
        if trimmed not in code_of:
            code_of[trimmed] = len(names)
            names.append(trimmed)
        remap[i] = code_of[trimmed]
    good = np.array([bool(valid(v)) for v in names], dtype=bool)
    codes = remap[encoded.indices.to_numpy(zero_copy_only=False)]
    return codes, names, good[codes]


def _numbers(column, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """(value, ok) of each row: ok when it is a finite number in [lo, hi] written as contract.NUMBER allows."""
    text = _trimmed(column)
    try:  # Arrow reads every plain number, and of the rest only "nan"/"inf" forms: not finite, so not ok
        values = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False).copy()
        plain = np.ones(len(values), dtype=bool)
    except pa.ArrowInvalid:  # something Arrow cannot read ("", "+1", "1_000", "abc"): each value checked as text
        plain = _as_bool(pc.match_substring_regex(text, NUMBER.pattern))
        # Arrow refuses the leading "+" that float() takes; what is not plain is parsed as 0 and is not ok.
        cleaned = pc.if_else(pa.array(plain), pc.replace_substring_regex(text, r"^\+", ""), "0")
        try:
            values = pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False).copy()
        except pa.ArrowInvalid:  # a plain number Arrow does not read: float() decides
            values = np.array([float(v) for v in cleaned.to_pylist()], dtype=np.float64)
    return values, plain & np.isfinite(values) & (values >= lo) & (values <= hi)
