"""A thin line-oriented wrapper over a serial port, with the three ways a board goes wrong named.

A board can fall silent (LinkTimeout), stop in the middle of a line
(StoppedMidLine: a reset, a crash or a full buffer, never a slow line) or go
away (LinkClosed: unplugged, port closed, end of file). The collect and verify
tools report each differently and keep what they already have, so the link
tells them apart instead of returning a partial line or blocking forever.
"""

from __future__ import annotations

import time
from typing import Protocol

import serial

from components.device.protocol import (
    BAUDRATE,
    MAX_BOARD_LINE,
    BoardError,
    ModeCommand,
    ProtocolError,
    Ready,
    parse_board_line,
)

# How long one read may block: the granularity of a timeout, not a timeout.
POLL_SECONDS = 0.05


class SerialLike(Protocol):
    """What the link needs of a port: pyserial's read/write/close (in_waiting and timeout are optional)."""

    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...
    def close(self) -> None: ...


class LinkError(ConnectionError):
    """The link to the board failed; `detail` says how, without the port name."""

    def __init__(self, port: str, detail: str):
        self.port, self.detail = port, detail
        super().__init__(f"{port}: {detail}")


class LinkTimeout(LinkError):
    """Nothing at all arrived within the timeout."""


class StoppedMidLine(LinkError):
    """Part of a line arrived, then nothing until the timeout: the board stopped mid-line."""

    def __init__(self, port: str, detail: str, partial: str):
        super().__init__(port, detail)
        self.partial = partial


class LinkClosed(LinkError):
    """The board went away: the port reported an error, was closed, or reached end of file."""


class SerialLink:
    """Send and receive protocol lines on one port.

    `port` is an open pyserial port or any object with read/write/close. On a
    pyserial port an empty read means "no data yet" (its read timeout); on
    other serial-like objects (pipes, files, test doubles) it means end of
    file, i.e. a disconnect.
    """

    def __init__(self, port: SerialLike, *, name: str | None = None, timeout: float = 5.0,
                 max_line: int = MAX_BOARD_LINE):
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self._port = port
        self.name = name or str(getattr(port, "port", None) or getattr(port, "name", None) or "serial port")
        self.timeout = timeout
        self.max_line = max_line
        self.last_line = ""  # the last complete line received, for error messages
        self._buffer = bytearray()
        self._empty_is_eof = not isinstance(port, serial.SerialBase)
        if not self._empty_is_eof and (port.timeout is None or port.timeout > POLL_SECONDS):
            port.timeout = POLL_SECONDS  # a blocking read would make our timeout unenforceable

    @classmethod
    def open(cls, port: str, *, baudrate: int = BAUDRATE, timeout: float = 5.0) -> SerialLink:
        """Open a port by name ("/dev/ttyACM0", "COM3") or pyserial URL ("socket://host:port")."""
        try:
            handle = serial.serial_for_url(port, baudrate=baudrate, timeout=POLL_SECONDS, write_timeout=timeout)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkClosed(port, f"cannot open the serial port: {exc}") from exc
        return cls(handle, name=port, timeout=timeout)

    def __enter__(self) -> SerialLink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._port.close()
        except (serial.SerialException, OSError):
            pass  # already gone: closing is all we wanted

    def send(self, line: str) -> None:
        """Write one line; the "\\n" is added here."""
        data = (line + "\n").encode("ascii")
        try:
            self._port.write(data)
            flush = getattr(self._port, "flush", None)
            if flush is not None:
                flush()
        except serial.SerialTimeoutException as exc:
            raise LinkTimeout(self.name, f"the board did not take {_preview(line)!r} within "
                                         f"{self.timeout:g} s: {exc}") from exc
        except (serial.SerialException, OSError, ValueError) as exc:  # pyserial: ValueError when closed
            raise LinkClosed(self.name, f"board disconnected while sending {_preview(line)!r}: {exc}") from exc

    def readline(self, timeout: float | None = None) -> str:
        """The next line, without "\\n" or "\\r\\n", decoded as ASCII (other bytes shown as \\xNN)."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                raw = bytes(self._buffer[:end]).removesuffix(b"\r")
                del self._buffer[:end + 1]
                self.last_line = raw.decode("ascii", errors="backslashreplace")
                return self.last_line
            if len(self._buffer) > self.max_line:
                raise LinkError(self.name, f"more than {self.max_line} bytes without a line end "
                                           f"({_partial(self._buffer)!r}...): the board is sending garbage")
            if time.monotonic() >= deadline:
                if self._buffer:
                    partial = _partial(self._buffer)
                    raise StoppedMidLine(self.name, f"the board stopped mid-line: received {partial!r}, then "
                                                    f"nothing for {timeout:g} s", partial)
                raise LinkTimeout(self.name, f"no line from the board within {timeout:g} s")
            self._buffer += self._read()

    def _read(self) -> bytes:
        try:
            waiting = getattr(self._port, "in_waiting", 0) or 0
            chunk = self._port.read(max(1, min(int(waiting), 4096)))
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkClosed(self.name, f"board disconnected{self._after()}: {exc}") from exc
        if not chunk and self._empty_is_eof:
            raise LinkClosed(self.name, f"board disconnected{self._after()}: end of file")
        return chunk

    def _after(self) -> str:
        if self._buffer:
            return f" in the middle of a line ({_partial(self._buffer)!r} received)"
        return f" (last line {_preview(self.last_line)!r})" if self.last_line else ""


def enter_mode(link: SerialLink, mode: str, *, timeout: float = 5.0, attempts: int = 3) -> Ready:
    """Send MODE and return the board's READY for that mode.

    Lines before the READY are skipped: PRED lines still in flight, logs, the
    tail of a line cut when the port opened, the boot READY of a board that
    reset when the port opened (as an ESP32 does). A board that missed the
    command while booting stays silent or keeps streaming; after `timeout`
    MODE is sent again. Waiting out the timeout before resending, rather than
    resending at a READY for another mode, means a board answers one MODE
    with one READY and no stray READY turns up later in the session.
    """
    sent = ModeCommand(mode).to_line()
    for _ in range(attempts):
        link.send(sent)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = link.readline(timeout=max(remaining, POLL_SECONDS))
            except LinkTimeout:
                break  # silent: send MODE again
            try:
                message = parse_board_line(line)
            except ProtocolError:
                continue
            if isinstance(message, BoardError):
                raise LinkError(link.name, f"the board rejected {sent!r}: ERR {message.text}")
            if isinstance(message, Ready) and message.mode == mode:
                return message
            if remaining <= 0:
                break
    raise LinkTimeout(link.name, f"no 'READY ... mode={mode}' from the board after sending {sent!r} "
                                 f"{attempts} times, {timeout:g} s each (last line {_preview(link.last_line)!r}): "
                                 f"is it running the tinymlops firmware at {BAUDRATE} baud?")


def _partial(buffer: bytes | bytearray) -> str:
    return _preview(bytes(buffer[:80]).decode("ascii", errors="backslashreplace"))


def _preview(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."
