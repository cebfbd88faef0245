"""The upload contract against hostile inputs: every bad row gets a reason, no valid window is lost."""

import pytest

from components.upload_parser import parse_upload


@pytest.fixture
def upload(small_baseline):
    """One valid upload: a header and 10 windows of 50 rows."""
    uploads, _ = small_baseline
    return uploads[0]


def lines_of(upload) -> list[str]:
    return upload.data.decode().splitlines()


def parse(lines: list[str], config, name="incoming/dev-a000/x.csv", ending="\n"):
    return parse_upload(name, (ending.join(lines) + ending).encode(), config.data)


def assert_counts_add_up(parsed):
    accepted = sum(len(w.t_ms) for w in parsed.windows)
    assert parsed.rows_read == accepted + len(parsed.quarantined)


def test_valid_upload_is_accepted_whole(upload, config):
    parsed = parse(lines_of(upload), config)
    assert len(parsed.windows) == 10 and not parsed.quarantined and parsed.rows_read == 500
    assert parsed.windows[0].x.shape == (50, 6)


def test_bom_and_crlf_are_valid(upload, config):
    plain = parse(lines_of(upload), config)
    lines = lines_of(upload)
    bom_crlf = parse_upload("f.csv", ("\ufeff" + "\r\n".join(lines) + "\r\n").encode(), config.data)
    assert not bom_crlf.quarantined
    assert [w.content_hash for w in bom_crlf.windows] == [w.content_hash for w in plain.windows]


def test_columns_in_another_order_are_valid(upload, config):
    lines = lines_of(upload)
    rows = [line.split(",") for line in lines]
    order = [0, 1, 2, 9, 6, 7, 8, 3, 4, 5]  # label and gyro columns first
    shuffled = [",".join(row[i] for i in order) for row in rows]
    parsed = parse(shuffled, config)
    assert not parsed.quarantined
    assert [w.content_hash for w in parsed.windows] == [w.content_hash for w in parse(lines, config).windows]


def _set_field(lines, line_index, column, value):
    header = lines[0].split(",")
    row = lines[line_index].split(",")
    row[header.index(column)] = value
    lines[line_index] = ",".join(row)
    return lines


# (mutation of the lines, the field the reason names, a phrase of the reason)
ROW_FAULTS = {
    "non-numeric": (lambda ls: _set_field(ls, 5, "ax", "abc"), "ax", "not a number"),
    "nan": (lambda ls: _set_field(ls, 5, "gy", "NaN"), "gy", "non-finite"),
    "inf": (lambda ls: _set_field(ls, 5, "az", "-inf"), "az", "non-finite"),
    "underscore number": (lambda ls: _set_field(ls, 5, "az", "1_0"), "az", "not a number"),
    "out of range": (lambda ls: _set_field(ls, 5, "gx", "2500"), "gx", "out of range"),
    "empty value": (lambda ls: _set_field(ls, 5, "ay", ""), "ay", "not a number"),
    "unknown label": (lambda ls: _set_field(ls, 5, "label", "jump"), "label", "unknown label"),
    "bad t_ms": (lambda ls: _set_field(ls, 5, "t_ms", "12:00"), "t_ms", "not a number"),
    "ragged short": (lambda ls: ls[:5] + [ls[5].rsplit(",", 1)[0]] + ls[6:], "row", "ragged row"),
    "ragged long": (lambda ls: ls[:5] + [ls[5] + ",1.0"] + ls[6:], "row", "ragged row"),
}


@pytest.mark.parametrize("fault", sorted(ROW_FAULTS))
def test_a_bad_row_quarantines_its_window_only(upload, config, fault):
    mutate, field, phrase = ROW_FAULTS[fault]
    parsed = parse(mutate(lines_of(upload)), config)
    assert_counts_add_up(parsed)
    assert len(parsed.windows) == 9  # the nine other windows are untouched
    assert len(parsed.quarantined) == 50
    culprit = [q for q in parsed.quarantined if q.line == 6]
    assert len(culprit) == 1 and culprit[0].field == field and phrase in culprit[0].reason
    assert culprit[0].reason.startswith("incoming/dev-a000/x.csv:6: ")  # file and line
    others = [q for q in parsed.quarantined if q.line != 6]
    assert all(q.field == "window" and "line 6" in q.reason for q in others)


@pytest.mark.parametrize("device_id", ["../etc", "a/b", "..", ".hidden", "dev a", "x" * 65])
def test_unsafe_device_ids_are_quarantined(upload, config, device_id):
    lines = lines_of(upload)
    lines[1:51] = [device_id + line[line.index(","):] for line in lines[1:51]]
    parsed = parse(lines, config)
    assert_counts_add_up(parsed)
    assert len(parsed.windows) == 9
    assert {q.field for q in parsed.quarantined} == {"device_id"}
    assert all("unsafe device_id" in q.reason for q in parsed.quarantined)


WINDOW_FAULTS = {
    "short window": (lambda ls: ls[:30] + ls[31:], "window", "has 49 rows"),
    "t_ms repeated": (lambda ls: _set_field(ls, 10, "t_ms", ls[9].split(",")[2]), "t_ms", "not strictly increasing"),
    "mixed labels": (lambda ls: _set_field(ls, 10, "label", next(
        c for c in ("idle", "wave") if c != ls[9].split(",")[-1])), "label", "disagree on label"),
    "half the sample rate": (lambda ls: ls[:1] + [_scale_t(line, 2) for line in ls[1:51]] + ls[51:],
                             "t_ms", "median sample interval"),
}


def _scale_t(line, factor):
    row = line.split(",")
    row[2] = str(int(row[2]) * factor)
    return ",".join(row)


@pytest.mark.parametrize("fault", sorted(WINDOW_FAULTS))
def test_window_faults_quarantine_the_window(upload, config, fault):
    mutate, field, phrase = WINDOW_FAULTS[fault]
    parsed = parse(mutate(lines_of(upload)), config)
    assert_counts_add_up(parsed)
    assert len(parsed.windows) == 9
    assert {q.field for q in parsed.quarantined} == {field}
    assert all(phrase in q.reason for q in parsed.quarantined)


@pytest.mark.parametrize("header_change, phrase", [
    (lambda h: h.replace(",gz", ""), "missing column(s) ['gz']"),
    (lambda h: h + ",mx", "unknown column(s) ['mx']"),
    (lambda h: h.replace("gz", "gx"), "repeats column(s) ['gx']"),
])
def test_header_faults_quarantine_every_row(upload, config, header_change, phrase):
    lines = lines_of(upload)
    lines[0] = header_change(lines[0])
    parsed = parse(lines, config)
    assert parsed.file_error and phrase in parsed.file_error
    assert parsed.rows_read == 500 and len(parsed.quarantined) == 500 and not parsed.windows
    assert parsed.quarantined[0].line == 2 and parsed.quarantined[0].raw == lines[1]


def test_empty_and_blank_files_are_rejected_with_a_reason(config):
    for data in (b"", b"\n\r\n  \n"):
        parsed = parse_upload("incoming/d/empty.csv", data, config.data)
        assert "empty" in parsed.file_error and parsed.rows_read == 0 and not parsed.windows


def test_non_utf8_file_keeps_every_row_in_quarantine(upload, config):
    data = upload.data.replace(b"dev-a000", b"dev-\xe9000", 1)
    parsed = parse_upload("incoming/d/latin1.csv", data, config.data)
    assert "not UTF-8" in parsed.file_error and "0xe9" in parsed.file_error
    assert parsed.rows_read == 500 and len(parsed.quarantined) == 500


def test_nul_bytes_are_rejected(upload, config):
    parsed = parse_upload("f.csv", upload.data.replace(b"0.", b"\x000.", 1), config.data)
    assert "NUL" in parsed.file_error and len(parsed.quarantined) == parsed.rows_read == 500


def test_optional_prediction_columns(upload, config):
    lines = lines_of(upload)
    lines = [lines[0] + ",pred_label,pred_score"] + [line + ",wave,0.75" for line in lines[1:]]
    parsed = parse(lines, config)
    assert not parsed.quarantined
    assert parsed.windows[0].pred_label == "wave" and parsed.windows[0].pred_score == 0.75
    lines[3] = lines[3].rsplit(",", 1)[0] + ",1.5"
    parsed = parse(lines, config)
    assert [q.field for q in parsed.quarantined if q.line == 4] == ["pred_score"]


def test_unlabelled_windows_are_valid(upload, config):
    lines = [line.rsplit(",", 1)[0] for line in lines_of(upload)]  # drop the label column
    parsed = parse(lines, config)
    assert len(parsed.windows) == 10 and all(w.label == "" for w in parsed.windows)
