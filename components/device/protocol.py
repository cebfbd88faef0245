"""The board <-> host serial line protocol (firmware/PROTOCOL.md): one line in, one message out.

Pure functions, no port and no clock: the host tools, the simulated board and
the tests all parse and format through this module, so both ends of the line
follow one definition. Parsing is strict (a board that drifts from the
contract is caught at the first bad line, with the line and what was expected
in the error), except where the contract says the host is lenient: "\\r\\n"
line ends, log lines with any text, unknown READY keys, upper-case CRC digits.
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from components.config import DataConfig
from components.contract import MAX_DEVICE_ID, NUMBER, is_safe_device_id, window_id_pattern

BAUDRATE = 115200
MODES = ("infer", "collect", "verify")
# Longest line a board may send; a longer one without "\n" is garbage, not a slow line.
MAX_BOARD_LINE = 4096
# A host W value is at most this many characters (float32, shortest round-trip form).
MAX_NUMBER_CHARS = 15

PRINTABLE = re.compile(r"^[\x20-\x7e]*$")
# Labels, class and channel names: they travel unquoted in protocol lines and in the upload CSV.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
# A board's window id, shorter than an upload's (contract.MAX_WINDOW_ID, 128): the host writes it into the
# upload as "<session>-<board's id>" (device/collect.py; the session is up to 20 characters), which must still
# fit. The firmware's ids are uint32 counters (firmware/src/app/app.h), at most 10 digits.
MAX_BOARD_WINDOW_ID = 64
WINDOW_ID = window_id_pattern(MAX_BOARD_WINDOW_ID)
COUNT = re.compile(r"^(0|[1-9][0-9]{0,8})$")
INT8 = re.compile(r"^-?(0|[1-9][0-9]{0,2})$")
CRC = re.compile(r"^[0-9a-fA-F]{8}$")
MODEL_ID = re.compile(r"^([0-9a-f]{8}|none)$")
READY_KEYS = ("device", "mode", "model", "window", "rate", "channels", "classes")


class ProtocolError(ValueError):
    """A line that is not what the protocol allows at this point.

    `keyword` is the message keyword the line started with when it was one the
    protocol knows (a malformed "S" line is a bad sample, not noise), else None.
    """

    def __init__(self, line: str, expected: str, keyword: str | None = None):
        self.line, self.expected, self.keyword = line, expected, keyword
        shown = line if len(line) <= 120 else line[:117] + "..."
        super().__init__(f"unexpected line {shown!r}: expected {expected}")


# --- board -> host -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Log:
    """`# <text>`: for a person; the host ignores it."""

    text: str

    def to_line(self) -> str:
        return f"# {self.text}" if self.text else "#"


@dataclass(frozen=True)
class Ready:
    """`READY ...`: who the board is and what it runs; sent at boot and after every MODE."""

    device_id: str
    mode: str
    model: str  # first 8 hex digits of the model's sha256, or "none"
    window: int  # samples per window (T)
    rate: float  # Hz
    channels: tuple[str, ...]
    classes: tuple[str, ...]

    def to_line(self) -> str:
        return (f"READY device={self.device_id} mode={self.mode} model={self.model} window={self.window} "
                f"rate={_plain(self.rate)} channels={','.join(self.channels)} classes={','.join(self.classes)}")


@dataclass(frozen=True)
class Pred:
    """`PRED <seq> <label> <score> <s1,...,sK>`: one inference in infer mode."""

    seq: int
    label: str
    score: float  # dequantized top score in [0, 1]
    scores: tuple[int, ...]  # raw int8 scores, class order

    def to_line(self) -> str:
        return f"PRED {self.seq} {self.label} {self.score:.4f} {','.join(map(str, self.scores))}"


@dataclass(frozen=True)
class WindowStart:
    """`WIN <window_id> <label>`: a collected window follows."""

    window_id: str
    label: str

    def to_line(self) -> str:
        return f"WIN {self.window_id} {self.label}"


@dataclass(frozen=True)
class Sample:
    """`S <t_ms>,<v1>,...,<vC>`: one sample; `payload` is the text after "S ", as sent (the CRC covers it)."""

    payload: str
    t_ms: float
    values: tuple[float, ...]

    @classmethod
    def of(cls, t_ms: float, values: Iterable[float]) -> Sample:
        """The line a board sends for these readings (float32 values, as a board holds them)."""
        values = tuple(float(np.float32(v)) for v in values)
        payload = ",".join([_plain(t_ms), *(format_number(v) for v in values)])
        return cls(payload, float(t_ms), values)

    def to_line(self) -> str:
        return f"S {self.payload}"


@dataclass(frozen=True)
class WindowEnd:
    """`END <window_id> <crc>`: the window is complete; crc = window_crc of its S payloads."""

    window_id: str
    crc: str  # 8 lower-case hex digits

    def to_line(self) -> str:
        return f"END {self.window_id} {self.crc}"


@dataclass(frozen=True)
class VerifyReply:
    """`Y <s1,...,sK>`: the model's raw int8 scores for the window of the last W."""

    scores: tuple[int, ...]

    def to_line(self) -> str:
        return f"Y {','.join(map(str, self.scores))}"


@dataclass(frozen=True)
class BoardError:
    """`ERR <text>`: the board rejected the last command."""

    text: str

    def to_line(self) -> str:
        return f"ERR {self.text}"


BoardMessage = Log | Ready | Pred | WindowStart | Sample | WindowEnd | VerifyReply | BoardError

BOARD_KEYWORDS = "READY, PRED, WIN, S, END, Y or ERR, or a '#' log line"


def parse_board_line(line: str) -> BoardMessage:
    """One line from the board (with or without its "\\n" / "\\r\\n") as a message."""
    line = _strip_eol(line)
    if line.startswith("#"):
        return Log(line[1:].removeprefix(" "))
    keyword, _, rest = line.partition(" ")
    known = keyword if keyword in _BOARD_PARSERS else None  # a corrupted S line is still a sample
    if not PRINTABLE.match(line):
        raise ProtocolError(line, f"printable ASCII text: a board message ({BOARD_KEYWORDS})", known)
    if known is None:
        raise ProtocolError(line, f"a board message starting with {BOARD_KEYWORDS}")
    if keyword == "ERR":  # free text, may be empty
        return BoardError(rest)
    return _BOARD_PARSERS[keyword](line, _fields(line, rest, keyword))


def _parse_ready(line: str, fields: list[str]) -> Ready:
    grammar = ("READY device=<id> mode=<infer|collect|verify> model=<8 hex|none> window=<T> rate=<Hz> "
               "channels=<c1,...> classes=<k1,...>")
    values: dict[str, str] = {}
    for item in fields:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ProtocolError(line, f"key=value fields: {grammar}", "READY")
        if key in values:
            raise ProtocolError(line, f"each READY key once, {key!r} is repeated: {grammar}", "READY")
        values[key] = value  # keys this host does not know are allowed (extensions) and ignored
    missing = [k for k in READY_KEYS if k not in values]
    if missing:
        raise ProtocolError(line, f"READY with {', '.join(missing)}: {grammar}", "READY")
    checks = (("device", is_safe_device_id(values["device"]),
               f"letters, digits, '.', '_', '-', at most {MAX_DEVICE_ID} characters"),
              ("mode", values["mode"] in MODES, "|".join(MODES)),
              ("model", MODEL_ID.match(values["model"]), "8 lower-case hex digits or 'none'"),
              ("window", COUNT.match(values["window"]) and int(values["window"]) >= 1, "a whole number >= 1"),
              ("rate", NUMBER.match(values["rate"]) and float(values["rate"]) > 0, "a decimal number > 0"),
              ("channels", _names(values["channels"]), "comma-separated names of [A-Za-z0-9._-]"),
              ("classes", _names(values["classes"]), "comma-separated names of [A-Za-z0-9._-]"))
    for key, ok, expected in checks:
        if not ok:
            raise ProtocolError(line, f"{key}=<{expected}>, got {key}={values[key]!r}", "READY")
    return Ready(values["device"], values["mode"], values["model"], int(values["window"]),
                 float(values["rate"]), tuple(values["channels"].split(",")), tuple(values["classes"].split(",")))


def _parse_pred(line: str, fields: list[str]) -> Pred:
    expected = "PRED <seq> <label> <score in [0,1]> <s1,...,sK int8>"
    if len(fields) != 4 or not COUNT.match(fields[0]) or not NAME.match(fields[1]) or not NUMBER.match(fields[2]):
        raise ProtocolError(line, expected, "PRED")
    score = float(fields[2])
    if not 0.0 <= score <= 1.0:
        raise ProtocolError(line, f"{expected}: score {fields[2]} is outside [0, 1]", "PRED")
    return Pred(int(fields[0]), fields[1], score, _int8_list(line, fields[3], expected, "PRED"))


def _parse_window_start(line: str, fields: list[str]) -> WindowStart:
    if len(fields) != 2 or not WINDOW_ID.match(fields[0]) or not NAME.match(fields[1]):
        expected = f"WIN <window_id: letters, digits, '.', '_', ':', '-', at most {MAX_BOARD_WINDOW_ID}> <label>"
        raise ProtocolError(line, expected, "WIN")
    return WindowStart(fields[0], fields[1])


def _parse_sample(line: str, fields: list[str]) -> Sample:
    expected = "S <t_ms>,<v1>,...,<vC> (plain decimal numbers, no spaces)"
    if len(fields) != 1:
        raise ProtocolError(line, expected, "S")
    parts = fields[0].split(",")
    bad = [p for p in parts if not NUMBER.match(p)]
    if len(parts) < 2 or bad:
        what = f": {bad[0]!r} is not a plain decimal number" if bad else ": a time and at least one value"
        raise ProtocolError(line, expected + what, "S")
    numbers = [float(p) for p in parts]
    if not all(math.isfinite(v) for v in numbers):  # "1e999" is a plain number that overflows
        raise ProtocolError(line, expected + ": finite numbers", "S")
    return Sample(fields[0], numbers[0], tuple(numbers[1:]))


def _parse_window_end(line: str, fields: list[str]) -> WindowEnd:
    if len(fields) != 2 or not WINDOW_ID.match(fields[0]) or not CRC.match(fields[1]):
        raise ProtocolError(line, "END <window_id> <crc: 8 hex digits>", "END")
    return WindowEnd(fields[0], fields[1].lower())


def _parse_verify_reply(line: str, fields: list[str]) -> VerifyReply:
    expected = "Y <s1,...,sK> (int8 scores)"
    if len(fields) != 1:
        raise ProtocolError(line, expected, "Y")
    return VerifyReply(_int8_list(line, fields[0], expected, "Y"))


_BOARD_PARSERS = {"READY": _parse_ready, "PRED": _parse_pred, "WIN": _parse_window_start, "S": _parse_sample,
                  "END": _parse_window_end, "Y": _parse_verify_reply, "ERR": None}


# --- host -> board -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModeCommand:
    """`MODE <infer|collect|verify>`: switch mode; the board answers READY."""

    mode: str

    def to_line(self) -> str:
        return f"MODE {self.mode}"


@dataclass(frozen=True)
class CollectCommand:
    """`COLLECT <label> <count>`: record `count` windows of the gesture `label`."""

    label: str
    count: int

    def to_line(self) -> str:
        return f"COLLECT {self.label} {self.count}"


@dataclass(frozen=True)
class WindowCommand:
    """`W <v1,...,vT*C>`: one raw window, row-major T x C, for the board to run its model on."""

    values: tuple[float, ...]  # float32 values (exact as python floats)

    @classmethod
    def of(cls, window: np.ndarray) -> WindowCommand:
        """From a [T, C] window; values become float32, which is what the board parses them into."""
        window = np.asarray(window, dtype=np.float32)
        if window.ndim != 2:
            raise ValueError(f"a window is [T, C], got shape {window.shape}")
        if not np.isfinite(window).all():
            raise ValueError("a window to send has non-finite values; the protocol carries finite numbers only")
        return cls(tuple(float(v) for v in window.reshape(-1)))

    def to_line(self) -> str:
        return "W " + ",".join(format_number(v) for v in self.values)


HostCommand = ModeCommand | CollectCommand | WindowCommand


def parse_host_line(line: str) -> HostCommand:
    """One command line from the host (the board side of the protocol: the simulated board, tests)."""
    line = _strip_eol(line)
    expected = "MODE <infer|collect|verify>, COLLECT <label> <count> or W <v1,...,vN>"
    if not PRINTABLE.match(line):
        raise ProtocolError(line, f"printable ASCII text: {expected}")
    keyword, _, rest = line.partition(" ")
    if keyword not in ("MODE", "COLLECT", "W"):
        raise ProtocolError(line, expected)
    fields = _fields(line, rest, keyword)
    if keyword == "MODE":
        if len(fields) != 1 or fields[0] not in MODES:
            raise ProtocolError(line, f"MODE <{'|'.join(MODES)}>", keyword)
        return ModeCommand(fields[0])
    if keyword == "COLLECT":
        if len(fields) != 2 or not NAME.match(fields[0]) or not COUNT.match(fields[1]) or int(fields[1]) < 1:
            raise ProtocolError(line, "COLLECT <label> <count >= 1>", keyword)
        return CollectCommand(fields[0], int(fields[1]))
    parts = fields[0].split(",") if len(fields) == 1 else []
    if not parts or not all(NUMBER.match(p) for p in parts):
        raise ProtocolError(line, "W <v1,...,vN> (plain decimal numbers, comma-separated, no spaces)", keyword)
    values = tuple(float(np.float32(p)) for p in parts)
    if not all(math.isfinite(v) for v in values):
        raise ProtocolError(line, "W values that are finite as float32", keyword)
    return WindowCommand(values)


# --- shared helpers ----------------------------------------------------------------------------------


def window_crc(payloads: Iterable[str]) -> str:
    """CRC-32 (zlib) of the S payloads, each followed by "\\n", as 8 lower-case hex digits."""
    crc = 0
    for payload in payloads:
        crc = zlib.crc32(payload.encode("ascii", errors="backslashreplace") + b"\n", crc)
    return f"{crc:08x}"


def model_id(tflite: bytes) -> str:
    """What a board reports as model=: the first 8 hex digits of the .tflite's sha256."""
    return hashlib.sha256(tflite).hexdigest()[:8]


def format_number(value: float) -> str:
    """The shortest decimal that reads back as the same float32 (at most 15 characters).

    A board parses W values with strtof, so the window the host sends is the
    window the board runs, bit for bit, and the host can compare int8 outputs.
    """
    f = np.float32(value)
    if not np.isfinite(f):
        raise ValueError(f"cannot send non-finite value {value!r}")
    text = np.format_float_positional(f, unique=True, trim="-")
    if len(text) > MAX_NUMBER_CHARS:
        text = np.format_float_scientific(f, unique=True, trim="-")
    return text


def ready_mismatches(ready: Ready, data: DataConfig, *, classes: bool) -> list[str]:
    """How the board's READY differs from the host's data contract ([] when it fits).

    Channel order matters (samples and W values are in that order); class
    order matters only where scores are compared (verify).
    """
    problems = []
    if ready.window != data.window_length:
        problems.append(f"window={ready.window}, the configuration has window_length {data.window_length}")
    if not math.isclose(ready.rate, data.sample_rate_hz, rel_tol=1e-6):
        problems.append(f"rate={_plain(ready.rate)}, the configuration has sample_rate_hz {data.sample_rate_hz:g}")
    if ready.channels != data.channel_names:
        problems.append(f"channels={','.join(ready.channels)}, the configuration has "
                        f"{','.join(data.channel_names)} (same names, same order)")
    if classes and ready.classes != data.class_names:
        problems.append(f"classes={','.join(ready.classes)}, the configuration has "
                        f"{','.join(data.class_names)} (same names, same order)")
    return problems


def _strip_eol(line: str) -> str:
    line = line.removesuffix("\n")
    return line.removesuffix("\r")


def _fields(line: str, rest: str, keyword: str) -> list[str]:
    fields = rest.split(" ") if rest else []
    if any(not f for f in fields) or line != line.strip():
        raise ProtocolError(line, f"{keyword} fields separated by single spaces, none leading or trailing", keyword)
    return fields


def _names(text: str) -> bool:
    return all(NAME.match(name) for name in text.split(","))


def _int8_list(line: str, text: str, expected: str, keyword: str) -> tuple[int, ...]:
    parts = text.split(",")
    if not all(INT8.match(p) and -128 <= int(p) <= 127 for p in parts):
        raise ProtocolError(line, f"{expected}: whole numbers in [-128, 127]", keyword)
    return tuple(int(p) for p in parts)


def _plain(x: float) -> str:
    """A time or rate as a board would print it: no ".0" on whole numbers."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))
