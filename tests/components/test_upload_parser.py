"""The vectorized parser against the contract's row path, on hundreds of randomly damaged uploads.

The oracle below is the row path written the plain way (every row through contract.parse_row, runs of one key
through contract.judge_window): whatever the parser checks as columns must come out exactly as the oracle
says, window for window and reason for reason.
"""

import math
import random

import numpy as np
import pytest

from components.config import Config
from components.contract import check_header, has_key, judge_window, parse_row, quarantine_row
from components.simulator import simulate
from components.upload_parser import parse_upload

DATA = Config().data


def oracle(source: str, data: bytes):
    """(windows, quarantined, rows_read) by the row path alone."""
    text = data.decode("utf-8-sig")
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    import csv

    header = [h.strip() for h in next(csv.reader([numbered[0][1]]))]
    assert not check_header(header, DATA)
    rows = [parse_row(n, raw, header, DATA) for n, raw in numbered[1:]]
    quarantined, runs = [], []
    for row in rows:
        if not has_key(row):
            quarantined.append(quarantine_row(source, row, *row.errors[0], extra=row.errors[1:]))
        elif runs and (runs[-1][0].values["device_id"], runs[-1][0].values["window_id"]) == (
                row.values["device_id"], row.values["window_id"]):
            runs[-1].append(row)
        else:
            runs.append([row])
    windows = [w for run in runs if (w := judge_window(source, run, DATA, quarantined)) is not None]
    return windows, quarantined, len(rows)


def _field(lines, rng, column):
    header = lines[0].split(",")
    i = rng.randrange(1, len(lines))
    row = lines[i].split(",")
    return i, row, header.index(column)


def damage(lines: list[str], rng: random.Random) -> list[str]:
    """One random change of the kinds devices, proxies and people make."""
    lines = list(lines)
    kind = rng.randrange(16)
    column = rng.choice(["t_ms", "ax", "gz", "label", "device_id", "window_id"])
    i, row, j = _field(lines, rng, column)
    # Values the row path reads in its own ways: non-finite forms, Arrow's nulls, a "+" Arrow refuses, Python's
    # wider whitespace and Unicode digits, out of range, unsafe keys, another class, non-ASCII.
    values = ["", "nan", "NA", " inf", "Infinity", "1e999", "1e-400", "+0.5", " 0.25\t", "\x0b0.5", "\u0661",
              "1_0", "abc", "99999", "-1", "dev/../x", "wave", "punch", ".5", "5.", "00.1e1", "w\u00e4ve", "1e5"]
    if kind < 10 or column in ("label", "device_id", "window_id"):
        row[j] = rng.choice(values)
        lines[i] = ",".join(row)
    elif kind == 10:
        lines[i] += ",extra"
    elif kind == 11:
        del lines[i]
    elif kind == 12:
        lines.insert(i, rng.choice(["", "  ", "\t"]))
    elif kind == 13:
        lines[i], lines[i - 1 if i > 1 else i] = lines[i - 1 if i > 1 else i], lines[i]
    elif kind == 14:
        lines.insert(i, lines[i])
    else:
        row[j] = rng.choice(['"0.5"', "0.5\r1"])
        lines[i] = ",".join(row)
    return lines


def _same_window(a, b) -> None:
    assert (a.device_id, a.window_id, a.source, a.first_line, a.label, a.pred_label, a.rows) == (
        b.device_id, b.window_id, b.source, b.first_line, b.label, b.pred_label, b.rows)
    assert (math.isnan(a.pred_score) and math.isnan(b.pred_score)) or a.pred_score == b.pred_score
    assert np.array_equal(a.t_ms, b.t_ms) and np.array_equal(a.x, b.x) and a.x.dtype == b.x.dtype
    assert a.content_hash == b.content_hash


@pytest.fixture(scope="module")
def clean_lines():
    uploads, _ = simulate("baseline", DATA, devices=1, windows_per_device=4, seed=3)
    lines = uploads[0].data.decode().splitlines()
    header = lines[0] + ",pred_label,pred_score"
    # Device predictions on some rows only: a window's is its first row's that has one.
    return [header] + [ln + (",wave,0.75" if k % 7 == 3 else ",,") for k, ln in enumerate(lines[1:])]


@pytest.mark.parametrize("seed", range(400))
def test_parser_agrees_with_the_row_path(clean_lines, seed):
    rng = random.Random(seed)
    lines = clean_lines
    for _ in range(rng.randrange(1, 4)):
        lines = damage(lines, rng)
    data = ("\n".join(lines) + rng.choice(["\n", ""])).encode()
    if rng.random() < 0.2:
        data = data.replace(b"\n", b"\r\n")
    if rng.random() < 0.1:
        data = "\ufeff".encode() + data
    parsed = parse_upload("incoming/dev-a000/f.csv", data, DATA)
    windows, quarantined, rows_read = oracle("incoming/dev-a000/f.csv", data)
    assert parsed.quarantined == quarantined
    assert parsed.rows_read == rows_read == sum(len(w.t_ms) for w in windows) + len(quarantined)
    assert len(parsed.windows) == len(windows)
    for a, b in zip(parsed.windows, windows, strict=True):
        _same_window(a, b)
    assert list(parsed.hashes) == [w.content_hash for w in windows]
