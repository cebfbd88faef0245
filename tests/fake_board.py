"""A simulated board speaking the serial protocol (firmware/PROTOCOL.md) on a pseudo-terminal.

The board side holds the pty's master end in a thread; the host opens the
slave path (`board.port`) like a real serial port, through pyserial. Collect
windows come from the simulator (synthetic data); verify runs a real int8
model through TFLM, as the firmware does. Faults, each at unit `fault_at`
(a window in collect mode, a reply in verify mode; counted from 0):

- garbage:    sends junk lines instead of that unit
- midline:    sends part of a line, then falls silent (still reading commands)
- disconnect: closes its end of the line once the host has read what came before
- bad_crc:    sends that window with a wrong CRC (collect), then carries on
- disagree:   answers verify windows fault_at, fault_at + 2, ... with one score off by one
- mute:       sends its boot READY, then never answers anything (a board running other firmware,
              or a wrong baud rate); fault_at does not apply
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import termios
import threading
import time
import tty

import numpy as np

from components.config import Config
from components.device.protocol import (
    BoardError,
    CollectCommand,
    ModeCommand,
    Pred,
    ProtocolError,
    Ready,
    Sample,
    VerifyReply,
    WindowCommand,
    WindowEnd,
    WindowStart,
    model_id,
    parse_host_line,
    window_crc,
)
from components.simulator import simulate
from components.upload_parser import parse_upload

FAULTS = ("garbage", "midline", "disconnect", "bad_crc", "disagree", "mute")
GARBAGE = b"\x15\xfe%%@@ line noise \xff\xfeSYNC?\n~~~~~~\n"


class FakeBoard:
    def __init__(self, config: Config, *, device_id: str = "fake-board-1", tflite: bytes | None = None,
                 arena_bytes: int = 64 * 1024, fault: str | None = None, fault_at: int = 2, seed: int = 0,
                 reported_model: str | None = None):
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}: expected one of {FAULTS}")
        self.config, self.device_id, self.fault, self.fault_at = config, device_id, fault, fault_at
        self.arena_bytes = arena_bytes
        self.model = None
        if tflite is not None:
            from components.int8_model import Int8Model
            from components.model_inputs import input_groups

            self.model = Int8Model(tflite, input_groups(config.data))
        self.model_id = reported_model or (model_id(tflite) if tflite is not None else "none")
        self.mode = "infer"
        self.commands: list[str] = []  # every line the host sent, for the tests
        self.error: BaseException | None = None  # an exception that ended the board's thread
        self._pool = _window_pool(config, seed)
        self._clock_ms = 1000
        self._window_counter = 0
        self._units = 0  # windows sent (collect) or replies sent (verify): where faults strike
        self._silent = fault == "mute"  # still reads what the host sends (board.commands), answers nothing
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing: bytes pass as they are, like a UART
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        self._stop, self._booted, self._lock = threading.Event(), threading.Event(), threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"fake-board {self.port}", daemon=True)

    def start(self) -> FakeBoard:
        """Start the thread; returns once the boot READY is out (the host's open discards it)."""
        self._thread.start()
        self._booted.wait(timeout=10)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._close()

    def __enter__(self) -> FakeBoard:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- the board's loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._send(self._ready().to_line())  # boot
            self._booted.set()
            buffer = b""
            while not self._stop.is_set() and self._master is not None:
                readable, _, _ = select.select([self._master], [], [], 0.02)
                if not readable:
                    continue
                try:
                    buffer += os.read(self._master, 65536)
                except BlockingIOError:
                    continue
                while b"\n" in buffer and self._master is not None:
                    line, buffer = buffer.split(b"\n", 1)
                    self._handle(line.decode("ascii", errors="replace"))
        except _Closed:
            pass
        except BaseException as exc:  # surfaced by the tests through board.error
            self.error = exc
        finally:
            self._booted.set()

    def _handle(self, line: str) -> None:
        self.commands.append(line)
        if self._silent:
            return
        try:
            command = parse_host_line(line)
        except ProtocolError as exc:
            return self._send(BoardError(f"bad command: expected {exc.expected}").to_line())
        if isinstance(command, ModeCommand):
            if self.mode == "infer":  # a prediction was on its way when the command came
                k = len(self.config.data.class_names)
                self._send("# switching mode")
                self._send(Pred(7, self.config.data.class_names[0], 0.5, (0,) * k).to_line())
            self.mode = command.mode
            self._send(self._ready().to_line())
        elif isinstance(command, CollectCommand):
            self._collect(command)
        elif isinstance(command, WindowCommand):
            self._answer(command)

    def _ready(self) -> Ready:
        data = self.config.data
        return Ready(self.device_id, self.mode, self.model_id, data.window_length, data.sample_rate_hz,
                     data.channel_names, data.class_names)

    def _collect(self, command: CollectCommand) -> None:
        if self.mode != "collect":
            return self._send(BoardError(f"COLLECT needs MODE collect, the board is in {self.mode} mode").to_line())
        if command.label not in self.config.data.class_names:
            return self._send(BoardError(f"unknown label {command.label}").to_line())
        windows = self._pool.get(command.label) or [w for ws in self._pool.values() for w in ws]
        step = 1000.0 / self.config.data.sample_rate_hz
        for k in range(command.count):
            x = windows[k % len(windows)]
            window_id = f"w{self._window_counter:05d}"
            self._window_counter += 1
            samples = [Sample.of(round(self._clock_ms + i * step), row) for i, row in enumerate(x)]
            self._clock_ms += int(len(x) * step) + 500
            if self._fault_now("garbage"):
                return self._send_bytes(GARBAGE)
            lines = [WindowStart(window_id, command.label).to_line(), *(s.to_line() for s in samples)]
            if self._fault_now("midline"):
                self._send_bytes(("\n".join(lines[:4]) + "\n" + lines[4][:7]).encode())
                self._silent = True
                return
            if self._fault_now("disconnect"):
                return self._disconnect()
            crc = window_crc(s.payload for s in samples)
            if self._fault_now("bad_crc"):
                crc = f"{int(crc, 16) ^ 1:08x}"
            self._send_bytes(("\n".join([*lines, WindowEnd(window_id, crc).to_line()]) + "\n").encode())
            self._units += 1

    def _answer(self, command: WindowCommand) -> None:
        data = self.config.data
        expected = data.window_length * len(data.channels)
        if self.mode != "verify":
            return self._send(BoardError(f"W needs MODE verify, the board is in {self.mode} mode").to_line())
        if len(command.values) != expected:
            return self._send(BoardError(f"W needs {expected} values, got {len(command.values)}").to_line())
        if self.model is None:
            return self._send(BoardError("no model").to_line())
        if self._fault_now("garbage"):
            return self._send_bytes(GARBAGE)
        if self._fault_now("midline"):
            self._send_bytes(b"Y -12,4")
            self._silent = True
            return
        if self._fault_now("disconnect"):
            return self._disconnect()
        x = np.array(command.values, dtype=np.float32).reshape(1, data.window_length, len(data.channels))
        scores = [int(v) for v in self.model.run_tflm(x, self.arena_bytes)[0]]
        if self.fault == "disagree" and self._units >= self.fault_at and (self._units - self.fault_at) % 2 == 0:
            scores[0] = scores[0] + 1 if scores[0] < 127 else scores[0] - 1
        self._send(VerifyReply(tuple(scores)).to_line())
        self._units += 1

    def _fault_now(self, fault: str) -> bool:
        return self.fault == fault and self._units == self.fault_at

    # --- the wire --------------------------------------------------------------------------------------

    def _send(self, line: str) -> None:
        self._send_bytes((line + "\n").encode("ascii"))

    def _send_bytes(self, data: bytes) -> None:
        """Write all of data, waiting while the host is not reading, but never past stop()."""
        while data:
            if self._stop.is_set() or self._master is None:
                raise _Closed()
            _, writable, _ = select.select([], [self._master], [], 0.02)
            if not writable:
                continue
            try:
                data = data[os.write(self._master, data):]
            except BlockingIOError:
                continue

    def _disconnect(self) -> None:
        """Close the line, as an unplugged board does, once the host has read what was sent before.

        Closing a pty master discards what the slave has not read yet; a UART
        would have delivered it, so wait until the host's input queue is empty.
        """
        time.sleep(0.05)  # let written bytes reach the slave's queue
        quiet = 0
        for _ in range(1000):
            if self._stop.is_set():
                break
            quiet = quiet + 1 if self._pending_input() == 0 else 0
            if quiet >= 3:
                break
            time.sleep(0.01)
        self._close()
        raise _Closed()

    def _pending_input(self) -> int:
        return struct.unpack("i", fcntl.ioctl(self._slave, termios.FIONREAD, b"\0\0\0\0"))[0]

    def _close(self) -> None:
        with self._lock:  # the thread (disconnect) and stop() may both close
            for name in ("_master", "_slave"):
                fd = getattr(self, name)
                if fd is not None:
                    setattr(self, name, None)
                    os.close(fd)


class _Closed(Exception):
    """The board's end of the line is closed: its thread ends."""


def _window_pool(config: Config, seed: int) -> dict[str, list[np.ndarray]]:
    """Simulated windows (synthetic data) by gesture, as a board's sensor would produce them."""
    uploads, _ = simulate("baseline", config.data, devices=1, windows_per_device=30, seed=seed)
    pool: dict[str, list[np.ndarray]] = {}
    for upload in uploads:
        for window in parse_upload(upload.key, upload.data, config.data).windows:
            pool.setdefault(window.label, []).append(window.x)
    return pool
