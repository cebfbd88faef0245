"""Serial tooling against a simulated board on a pseudo-terminal: protocol, link, collect, verify.

The board (tests/fake_board.py) speaks the protocol of firmware/PROTOCOL.md on
a pty, so the host side runs through pyserial exactly as with a real port.
Timeouts are short so the fault tests are quick; nothing asserts on time.
"""

import importlib
import io
import json
import zlib
from datetime import UTC, datetime

import numpy as np
import pytest
import serial

from components.config import Config
from components.contract import NUMBER
from components.device import (
    CollectError,
    LinkClosed,
    LinkTimeout,
    SerialLink,
    StoppedMidLine,
    VerifyError,
    collect,
    verify,
)
from components.device import protocol as p
from components.simulator import simulate
from components.store import LocalStore
from components.upload_parser import parse_upload
from tests.fake_board import FakeBoard

CONFIG = Config()
LINE_TIMEOUT = 1.0  # how long the host waits inside a window or for a Y: the mid-line tests wait this long
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def connect():
    """Start a fake board and open its port; everything is closed after the test."""
    made = []

    def make(config: Config = CONFIG, **kwargs) -> tuple[FakeBoard, SerialLink]:
        board = FakeBoard(config, **kwargs).start()
        link = SerialLink.open(board.port, timeout=LINE_TIMEOUT)
        made.append((board, link))
        return board, link

    yield make
    for board, link in made:
        link.close()
        board.stop()
        assert board.error is None, f"the fake board failed: {board.error!r}"


@pytest.fixture
def store(tmp_path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def read_upload(store, key):
    parsed = parse_upload(key, store.get_bytes(key), CONFIG.data)
    assert not parsed.quarantined and not parsed.file_error
    return parsed


# --- protocol --------------------------------------------------------------------------------------------

BOARD_LINES = [
    p.Log("booting v1.2"),
    p.Ready("nano-01", "collect", "0badf00d", 50, 50.0, CONFIG.data.channel_names, CONFIG.data.class_names),
    p.Pred(12, "wave", 0.9961, (-128, 127, -100, -90, -128)),
    p.WindowStart("w00007", "wave"),
    p.Sample.of(1020, [0.25, -1.5, 1.0, 120.5, -3.25, 0.0]),
    p.WindowEnd("w00007", "0a1b2c3d"),
    p.VerifyReply((-128, 0, 5, 127, -7)),
    p.BoardError("W needs 300 values, got 299"),
]


@pytest.mark.parametrize("message", BOARD_LINES, ids=lambda m: type(m).__name__)
def test_board_messages_round_trip_with_lf_and_crlf(message):
    line = message.to_line()
    assert p.parse_board_line(line) == message
    assert p.parse_board_line(line + "\n") == message
    assert p.parse_board_line(line + "\r\n") == message


def test_ready_accepts_keys_in_any_order_and_ignores_unknown_ones():
    line = ("READY mode=verify model=none window=50 rate=50 channels=ax,ay,az,gx,gy,gz fw=1.2 device=esp-7 "
            "classes=idle,wave,punch,circle,lift")
    ready = p.parse_board_line(line)
    assert ready.device_id == "esp-7" and ready.mode == "verify" and ready.model == "none"
    assert p.ready_mismatches(ready, CONFIG.data, classes=True) == []


@pytest.mark.parametrize("line, phrase, keyword", [
    ("HELLO world", "a board message starting with READY", None),
    ("READY device=x mode=sleep model=none window=50 rate=50 channels=a classes=b", "mode=<infer", "READY"),
    ("READY device=x mode=infer", "READY with model, window, rate, channels, classes", "READY"),
    ("PRED 1 wave 1.5 1,2", "outside [0, 1]", "PRED"),
    ("Y 1,2,300", "[-128, 127]", "Y"),
    ("S 1000,0.1,abc", "'abc' is not a plain decimal number", "S"),
    ("S 1000,nan", "not a plain decimal number", "S"),
    ("S  1000,0.1", "single spaces", "S"),
    ("END w1 xyz", "END <window_id> <crc: 8 hex digits>", "END"),
    ("WIN ../x wave", "WIN <window_id", "WIN"),
    ("S 1000,\xe9", "printable ASCII", "S"),
])
def test_parse_errors_name_the_line_and_what_was_expected(line, phrase, keyword):
    with pytest.raises(p.ProtocolError) as caught:
        p.parse_board_line(line)
    assert phrase in str(caught.value) and repr(line)[1:-1][:40] in str(caught.value)
    assert caught.value.keyword == keyword and caught.value.line == line


def test_log_lines_may_hold_any_text():
    assert p.parse_board_line("# temp 21\xb0C\tok") == p.Log("temp 21\xb0C\tok")
    assert p.parse_board_line("#") == p.Log("")


def test_host_commands_round_trip():
    window = np.random.default_rng(0).normal(0, 300, (50, 6)).astype(np.float32)
    for command in (p.ModeCommand("verify"), p.CollectCommand("wave", 20), p.WindowCommand.of(window)):
        assert p.parse_host_line(command.to_line()) == command
    parsed = p.parse_host_line(p.WindowCommand.of(window).to_line())
    assert np.array_equal(np.array(parsed.values, dtype=np.float32).reshape(50, 6), window)  # bit for bit
    for bad in ("MODE sleep", "COLLECT wave 0", "W 1,,2", "JUMP"):
        with pytest.raises(p.ProtocolError):
            p.parse_host_line(bad)


@pytest.mark.parametrize("value", [0.0, -0.0, 1.0, 0.1, -1999.9999, 3.4e38, 1e-30, -1.2345678e-20, 123456789.0])
def test_numbers_are_short_exact_float32_and_plain_decimals(value):
    text = p.format_number(value)
    assert len(text) <= p.MAX_NUMBER_CHARS and NUMBER.match(text)
    assert np.float32(text) == np.float32(value)


def test_window_crc_is_zlib_crc32_of_payload_lines():
    payloads = ["1000,0.1,2", "1020,0.2,3"]
    expected = zlib.crc32(b"1000,0.1,2\n1020,0.2,3\n")
    assert p.window_crc(payloads) == f"{expected:08x}"


def test_ready_mismatches_name_the_configuration_field():
    ready = p.Ready("d", "verify", "none", 40, 100.0, ("ax", "ay"), ("idle", "wave"))
    problems = " ".join(p.ready_mismatches(ready, CONFIG.data, classes=True))
    for phrase in ("window_length 50", "sample_rate_hz 50", "ax,ay,az,gx,gy,gz", "idle,wave,punch"):
        assert phrase in problems


# --- the link ----------------------------------------------------------------------------------------------


class _Pipe(io.RawIOBase):
    """A serial-like object that is not pyserial: an empty read is end of file."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def read(self, size=1):
        return self._data.read(size)

    def write(self, data):
        return len(data)


def test_link_reads_lines_and_reports_eof_as_a_disconnect():
    link = SerialLink(_Pipe(b"# hi\r\nREADY x\nS 10,"), name="pipe")
    assert [link.readline(), link.readline()] == ["# hi", "READY x"]
    with pytest.raises(LinkClosed, match=r"pipe: board disconnected in the middle of a line \('S 10,' received\)"):
        link.readline()


def test_link_timeout_and_stopped_mid_line():
    port = serial.serial_for_url("loop://", timeout=0.01)
    link = SerialLink(port, name="loop", timeout=0.2)
    with pytest.raises(LinkTimeout, match="loop: no line from the board within 0.2 s"):
        link.readline()
    port.write(b"S 1000,0.")
    with pytest.raises(StoppedMidLine, match=r"stopped mid-line: received 'S 1000,0\.', then nothing") as caught:
        link.readline()
    assert caught.value.partial == "S 1000,0."


def test_link_names_a_port_that_cannot_be_opened():
    with pytest.raises(LinkClosed, match="/dev/no-such-port: cannot open the serial port"):
        SerialLink.open("/dev/no-such-port")


# --- collect -----------------------------------------------------------------------------------------------


def test_collect_writes_one_upload_that_ingest_accepts_whole(connect, store):
    board, link = connect()
    result = collect(link, "wave", 5, CONFIG, store, now=NOW, window_timeout=5)
    assert result.key == "incoming/fake-board-1/collect-20260102T030405Z.csv"
    assert result.collected == 5 and not result.skipped and result.device_id == "fake-board-1"
    parsed = read_upload(store, result.key)
    assert len(parsed.windows) == 5 and parsed.rows_read == 5 * CONFIG.data.window_length
    assert {w.label for w in parsed.windows} == {"wave"}
    assert [w.window_id for w in parsed.windows] == result.window_ids == [
        f"20260102T030405Z-w{k:05d}" for k in range(5)]
    assert board.commands == ["MODE collect", "COLLECT wave 5"]
    # A second session in the same second gets its own upload and its own window ids.
    again = collect(link, "idle", 2, CONFIG, store, device_id="lab-bench-2", now=NOW, window_timeout=5)
    assert again.key == "incoming/lab-bench-2/collect-20260102T030405Z.csv"
    third = collect(link, "idle", 1, CONFIG, store, device_id="lab-bench-2", now=NOW, window_timeout=5)
    assert third.key == "incoming/lab-bench-2/collect-20260102T030405Z-2.csv"
    windows = [w for key in (result.key, again.key, third.key) for w in read_upload(store, key).windows]
    assert len({w.window_id for w in windows}) == 8


@pytest.mark.parametrize("fault, phrase", [
    ("garbage", "the board sent garbage: unexpected line"),
    ("midline", "the board stopped mid-line: received 'S "),
    ("disconnect", "board disconnected"),
])
def test_collect_fault_is_a_clear_error_and_keeps_the_windows_so_far(connect, store, fault, phrase):
    board, link = connect(fault=fault, fault_at=3)
    with pytest.raises(CollectError) as caught:
        collect(link, "punch", 6, CONFIG, store, now=NOW, window_timeout=5)
    message = str(caught.value)
    assert message.startswith(f"{board.port}: collecting stopped after 3 of 6 windows (last good window: w00002)")
    assert phrase in message and "the 3 windows collected so far are written to incoming/fake-board-1/" in message
    result = caught.value.result
    assert result.collected == 3 and result.key in message
    assert [w.window_id for w in read_upload(store, result.key).windows] == result.window_ids


def test_collect_fault_before_any_window_writes_nothing(connect, store):
    board, link = connect(fault="disconnect", fault_at=0)
    with pytest.raises(CollectError, match="after 0 of 2 windows .last good window: none.*nothing written"):
        collect(link, "wave", 2, CONFIG, store, now=NOW, window_timeout=5)
    assert store.list("incoming/") == []


def test_collect_skips_a_window_with_a_bad_crc_and_counts_it(connect, store):
    board, link = connect(fault="bad_crc", fault_at=1)
    result = collect(link, "circle", 4, CONFIG, store, now=NOW, window_timeout=5)
    assert result.collected == 3 and result.skipped_by_kind == {"crc": 1}
    assert result.skipped[0].window_id == "w00001" and "CRC mismatch" in result.skipped[0].reason
    assert "3 of 4 'circle' windows collected" in result.summary() and "1 skipped (1 crc)" in result.summary()
    assert len(read_upload(store, result.key).windows) == 3


class _ScriptedBoard(io.RawIOBase):
    """A board that answers MODE with READY and then plays a fixed script (then end of file)."""

    def __init__(self, script: list[str]):
        data = CONFIG.data
        ready = p.Ready("scripted", "collect", "none", data.window_length, data.sample_rate_hz,
                        data.channel_names, data.class_names)
        self._out = io.BytesIO("".join(line + "\n" for line in [ready.to_line(), *script]).encode())

    def read(self, size=1):
        return self._out.read(size)

    def write(self, data):
        return len(data)


def _window_lines(window_id, label, t0=1000, rows=None, crc=None, width=6):
    rows = rows if rows is not None else [
        ",".join([str(t0 + 20 * i), *(["0.5"] * width)]) for i in range(CONFIG.data.window_length)]
    return [f"WIN {window_id} {label}", *(f"S {r}" for r in rows), f"END {window_id} {crc or p.window_crc(rows)}"]


def test_collect_skips_malformed_windows_with_reasons(store):
    good = _window_lines("a1", "lift")
    short = _window_lines("a2", "lift", rows=[f"{1000 + 20 * i},0.5,0.5,0.5,0.5,0.5,0.5" for i in range(49)])
    narrow = _window_lines("a3", "lift", width=5)
    out_of_range = _window_lines("a4", "lift", rows=[f"{1000 + 20 * i},0.5,0.5,9.5,0.5,0.5,0.5" for i in range(50)])
    bad_number = _window_lines("a5", "lift")
    bad_number[3] = "S 1040,0.5,0.5,0.5,x,0.5,0.5"
    wrong_label = _window_lines("a6", "wave")
    repeated = _window_lines("a1", "lift", t0=5000)
    unreadable_win = _window_lines("a7", "lift")
    unreadable_win[0] = "WIN a/7 lift"
    late_ready = _ScriptedBoard([]).read(1000).decode().strip()  # a second answer to MODE: ignored
    script = [*good, "# a log line", late_ready, *short, *narrow, *out_of_range, *bad_number, *wrong_label,
              *repeated, *unreadable_win]
    link = SerialLink(_ScriptedBoard(script), name="scripted")
    result = collect(link, "lift", 8, CONFIG, store, now=NOW)
    assert result.collected == 1
    assert result.skipped_by_kind == {"samples": 1, "malformed": 3, "contract": 1, "label": 1, "duplicate": 1}
    reasons = {s.window_id: s.reason for s in result.skipped}
    assert "49 samples, expected 50" in reasons["a2"]
    assert "sample 1 has 6 numbers, expected t_ms and 6 channels" in reasons["a3"]
    assert "value 9.5 out of range" in reasons["a4"]
    assert "'x' is not a plain decimal number" in reasons["a5"]
    assert "labelled 'wave', expected 'lift'" in reasons["a6"]
    assert "unreadable WIN line" in reasons["?"]
    assert len(read_upload(store, result.key).windows) == 1


def test_collect_stops_at_a_sample_outside_a_window_and_keeps_what_it_has(store):
    script = [*_window_lines("b1", "idle"), "S 1000,0.5,0.5,0.5,0.5,0.5,0.5", *_window_lines("b2", "idle")]
    link = SerialLink(_ScriptedBoard(script), name="scripted")
    with pytest.raises(CollectError, match=r"scripted: collecting stopped after 1 of 2 windows \(last good window: "
                                           r"b1\): the board sent garbage: unexpected line 'S 1000,.*expected WIN"):
        collect(link, "idle", 2, CONFIG, store, now=NOW)
    assert len(read_upload(store, "incoming/scripted/collect-20260102T030405Z.csv").windows) == 1


def test_collect_checks_arguments_and_the_boards_contract(connect, store):
    board, link = connect(config=Config.from_dict({"data": {"window_length": 40}}))
    with pytest.raises(ValueError, match="unknown label 'jump'"):
        collect(link, "jump", 2, CONFIG, store)
    with pytest.raises(ValueError, match="unsafe device_id"):
        collect(link, "wave", 2, CONFIG, store, device_id="../etc")
    assert board.commands == []  # nothing was sent
    with pytest.raises(CollectError, match="window=40, the configuration has window_length 50"):
        collect(link, "wave", 2, CONFIG, store)


def test_collect_reports_a_board_error(connect, store):
    two_classes = Config.from_dict({"data": {"class_names": ["idle", "wave"]}})
    board, link = connect(config=two_classes)
    with pytest.raises(CollectError, match="the board reported an error: ERR unknown label punch"):
        collect(link, "punch", 2, CONFIG, store, window_timeout=5)



def test_collect_names_both_failures_when_the_store_fails_too(store):
    class BrokenStore(LocalStore):
        def put_bytes(self, key, data, *, overwrite=False):
            raise OSError("disk full")

    link = SerialLink(_ScriptedBoard(_window_lines("c1", "idle")), name="scripted")
    with pytest.raises(CollectError, match="board disconnected.*writing the 1 windows collected so far to "
                                           "incoming/scripted/collect-.*failed too: disk full"):
        collect(link, "idle", 2, CONFIG, BrokenStore(store.root), now=NOW)


# --- verify ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(small_int8_model):
    """A real int8 model from the project's train + quantize (tests/conftest.py)."""
    tflite, _, arena, x = small_int8_model
    return tflite, arena, x[:8]


def test_verify_agrees_with_a_board_running_the_same_model(connect, model):
    tflite, arena, x = model
    board, link = connect(tflite=tflite, arena_bytes=arena)
    result = verify(link, x, tflite, CONFIG, arena)
    assert result.agree and result.identical == len(x) == result.windows and result.max_abs_diff == 0
    assert result.board_model == result.host_model == p.model_id(tflite) and result.device_id == "fake-board-1"
    assert np.array_equal(result.board_scores, result.host_scores)
    assert "all 8 windows identical" in result.summary()
    assert board.commands[0] == "MODE verify" and len(board.commands) == 1 + len(x)


def test_verify_reports_a_board_that_answers_differently(connect, model):
    tflite, arena, x = model
    board, link = connect(tflite=tflite, arena_bytes=arena, fault="disagree", fault_at=1)
    result = verify(link, x, tflite, CONFIG, arena)
    assert not result.agree and result.windows == 8
    assert [m.index for m in result.mismatches] == [1, 3, 5, 7] and result.identical == 4
    assert result.max_abs_diff == 1
    first = result.mismatches[0]
    assert first.board != first.host and tuple(result.host_scores[1]) == first.host
    assert "4 of 8 windows identical, max |int8 difference| 1" in result.summary()


@pytest.mark.parametrize("fault, phrase", [
    ("garbage", "the board sent garbage"),
    ("midline", "the board stopped mid-line: received 'Y -12,4'"),
    ("disconnect", "board disconnected"),
])
def test_verify_fault_is_a_clear_error_with_the_windows_compared(connect, model, fault, phrase):
    tflite, arena, x = model
    board, link = connect(tflite=tflite, arena_bytes=arena, fault=fault, fault_at=2)
    with pytest.raises(VerifyError) as caught:
        verify(link, x, tflite, CONFIG, arena)
    assert str(caught.value).startswith(f"{board.port}: verification stopped at window 2 of 8 (2 compared, "
                                        "2 identical)")
    assert phrase in str(caught.value)
    assert caught.value.result.windows == 2 and not caught.value.result.mismatches


def test_verify_refuses_a_board_running_another_model(connect, model):
    tflite, arena, x = model
    board, link = connect(tflite=tflite, arena_bytes=arena, reported_model="deadbeef")
    with pytest.raises(VerifyError, match=f"model=deadbeef, the model to verify is {p.model_id(tflite)}"):
        verify(link, x, tflite, CONFIG, arena)
    with pytest.raises(ValueError, match=r"windows_x must be \[N, 50, 6\]"):
        verify(link, x[:, :10], tflite, CONFIG, arena)


# --- the command line -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory, model) -> str:
    """A store folder with an ingested dataset and the fixture model in production as m-1."""
    from components import registry
    from components.ingest.step import run_ingest

    tflite, arena, _ = model
    store_dir = str(tmp_path_factory.mktemp("cli") / "store")
    store = LocalStore(store_dir)
    uploads, _ = simulate("baseline", CONFIG.data, devices=4, windows_per_device=3, seed=5)
    for upload in uploads:
        store.put_bytes(upload.key, upload.data)
    version = run_ingest(store, CONFIG).version
    # As evaluate records it: the board's (32-bit) arena, smaller than what the host's 64-bit runtime needs.
    registry.register(store, "m-1", {"model.tflite": tflite}, {"dataset_version": version, "blessed": True,
                                                               "arena_bytes": arena // 2, "host_arena_bytes": arena,
                                                               "int8_accuracy": 0.9})
    registry.promote(store, "m-1")
    return store_dir


def main(argv: list[str]) -> int:
    from pipelines.cli import main as cli_main

    return cli_main(argv)


def test_the_cli_collects_and_verifies(tmp_path, model, cli_store, capsys):
    tflite, arena, _ = model
    with FakeBoard(CONFIG) as board:
        assert main(["device", "collect", "--port", board.port, "--label", "wave", "--count", "3",
                     "--store", cli_store, "--json"]) == 0
    collected = json.loads(capsys.readouterr().out)
    assert collected["collected"] == 3 and collected["key"].startswith("incoming/fake-board-1/")
    assert collected["skipped"] == 0 and collected["skipped_windows"] == []
    read_upload(LocalStore(cli_store), collected["key"])
    # verify the production model's holdout windows against a board running it
    with FakeBoard(CONFIG, tflite=tflite, arena_bytes=arena) as board:
        assert main(["device", "verify", "--port", board.port, "--windows", "3", "--store", cli_store, "--json"]) == 0
    verified = json.loads(capsys.readouterr().out)
    assert verified["agree"] and verified["windows"] == 3 and verified["model"] == "m-1"
    assert main(["device", "verify", "--port", str(tmp_path / "no-such-port"), "--store", cli_store]) == 1
    assert "no-such-port" in capsys.readouterr().err


def _fails_with_one_message(argv: list[str], capsys) -> str:
    """Run the CLI, expecting exit status 1 and one error line on stderr (no traceback); return that line."""
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("tinymlops device: error: ")
    return err


@pytest.mark.parametrize("early", ["another model", "another window length", "no READY", "host TFLM error"])
def test_the_cli_reports_each_early_verify_failure_in_one_message(early, model, cli_store, capsys, monkeypatch):
    from components import registry

    tflite, arena, _ = model
    expected_model = p.model_id(tflite)
    argv = ["device", "verify", "--windows", "3", "--store", cli_store]
    if early == "another model":
        board = FakeBoard(CONFIG, tflite=tflite, arena_bytes=arena, reported_model="deadbeef")
        phrase = (": cannot verify on board fake-board-1: it runs another model: model=deadbeef, the model to "
                  f"verify is {expected_model} (flash it first)")
    elif early == "another window length":
        board = FakeBoard(Config.from_dict({"data": {"window_length": 40}}), reported_model=expected_model)
        phrase = (": cannot verify on board fake-board-1: its data contract differs from the configuration: "
                  "window=40, the configuration has window_length 50")
    elif early == "no READY":
        board = FakeBoard(CONFIG, fault="mute")
        # Two short attempts instead of three of 5 s: the CLI has no option for the READY timeout.
        verify_module = importlib.import_module("components.device.verify")
        enter_mode = verify_module.enter_mode
        monkeypatch.setattr(verify_module, "enter_mode",
                            lambda link, mode, **_: enter_mode(link, mode, timeout=0.3, attempts=2))
        phrase = (": cannot start verifying: no 'READY ... mode=verify' from the board after sending 'MODE verify' "
                  "2 times, 0.3 s each")
    else:  # a record whose arena is too small for the model: TFLM on the host cannot allocate its tensors
        # 1 KiB fails at TFLM's first allocation. Not any smaller size will do: the tflite_micro Python runtime
        # crashes the process (SIGSEGV) on some arenas just short of what a model needs.
        store = LocalStore(cli_store)
        registry.register(store, "m-small-arena", {"model.tflite": tflite},
                          {**registry.read_model(store, "m-1"), "arena_bytes": 1024, "host_arena_bytes": 1024})
        argv += ["--model", "m-small-arena"]
        board = FakeBoard(CONFIG, tflite=tflite, arena_bytes=arena)
        phrase = (f"cannot run model {expected_model} on the host (TFLM, arena 1024 B), so there is nothing "
                  "to compare the board with: TFLM failed to allocate tensors")
    with board:
        err = _fails_with_one_message([*argv, "--port", board.port], capsys)
    assert phrase in err
    if early == "host TFLM error":
        assert board.commands == []  # the board is not asked when the host has nothing to compare with
    else:
        assert err.startswith(f"tinymlops device: error: {board.port}: ")
    assert board.error is None


def test_the_cli_lists_each_skipped_window_with_its_reason(cli_store, capsys):
    argv = ["device", "collect", "--label", "punch", "--count", "3", "--store", cli_store]
    with FakeBoard(CONFIG, fault="bad_crc", fault_at=1) as board:
        assert main([*argv, "--port", board.port]) == 0
    text = capsys.readouterr().out
    assert "2 of 3 'punch' windows collected" in text and "1 skipped (1 crc):" in text
    assert "\n  window w00001 (crc): CRC mismatch: the board sent " in text
    with FakeBoard(CONFIG, fault="bad_crc", fault_at=0) as board:
        assert main([*argv, "--port", board.port, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["skipped"] == 1 and summary["collected"] == 2
    [skipped] = summary["skipped_windows"]
    assert skipped["window_id"] == "w00000" and skipped["kind"] == "crc"
    assert skipped["reason"].startswith("CRC mismatch: the board sent ")
    assert f"window w00000 (crc): {skipped['reason']}" in summary["text"]
