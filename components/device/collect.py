"""Collect labelled windows from a board over serial into one upload in the landing zone.

The upload is written in the device-upload contract (components/contract.py)
and every window in it has already passed that contract here, so ingest
accepts all of it. A window the board sent damaged (bad CRC, wrong sample
count, malformed numbers) is skipped with its reason; the collection goes on.
A board that sends garbage, stops mid-line, disconnects or falls silent ends
the collection with an error, but only after the windows collected so far are
written: a person may have spent minutes performing those gestures.

Window ids in the upload are `<session>-<board window id>`: boards restart
their window counter at boot, and ingest refuses a window id reused with
other content, so the session (the upload's UTC timestamp) keeps them unique.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from components import layout
from components.config import Config
from components.contract import MAX_DEVICE_ID, is_safe_device_id
from components.device.protocol import (
    NAME,
    BoardError,
    CollectCommand,
    Log,
    ProtocolError,
    Ready,
    Sample,
    WindowEnd,
    WindowStart,
    parse_board_line,
    ready_mismatches,
    window_crc,
)
from components.device.serial_link import LinkError, SerialLink, enter_mode
from components.store import ObjectExists, Store
from components.upload_parser import parse_upload


@dataclass(frozen=True)
class SkippedWindow:
    window_id: str  # the board's id; "?" when its WIN line was unreadable
    kind: str  # end, samples, crc, malformed, label, duplicate, contract, interrupted
    reason: str  # what was wrong, for a person; the window id is not repeated in it

    def describe(self) -> str:
        return f"window {self.window_id} ({self.kind}): {self.reason}"


@dataclass
class CollectResult:
    port: str
    device_id: str
    label: str
    requested: int
    key: str | None = None  # the upload written; None when no window was collected
    window_ids: list[str] = field(default_factory=list)  # as written in the upload
    skipped: list[SkippedWindow] = field(default_factory=list)
    last_board_window: str = ""  # the board's id of the last good window

    @property
    def collected(self) -> int:
        return len(self.window_ids)

    @property
    def skipped_by_kind(self) -> dict[str, int]:
        return dict(Counter(s.kind for s in self.skipped))

    def summary(self) -> str:
        where = f"written to {self.key}" if self.key else "nothing written"
        text = f"{self.port}: {self.collected} of {self.requested} '{self.label}' windows collected, {where}"
        if self.skipped:
            # One line per skipped window: the person who performed the gestures sees which ones to redo and why.
            kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.skipped_by_kind.items()))
            text += f"; {len(self.skipped)} skipped ({kinds}):"
            text += "".join(f"\n  {s.describe()}" for s in self.skipped)
        return text


class CollectError(RuntimeError):
    """The collection stopped early; `result` holds what was collected (and already written)."""

    def __init__(self, message: str, result: CollectResult):
        super().__init__(message)
        self.result = result


@dataclass
class _Pending:
    """A window being received: its WIN, its S payloads as sent, and what was wrong with its lines."""

    window_id: str
    label: str
    payloads: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def collect(link: SerialLink, label: str, count: int, config: Config, store: Store, device_id: str | None = None,
            *, window_timeout: float = 30.0, ready_timeout: float = 5.0, now: datetime | None = None) -> CollectResult:
    """Ask the board for `count` windows of `label` and write them as one upload.

    `device_id` overrides the id in the board's READY. `window_timeout` is how
    long to wait for the next window to start (a person performs the
    gesture); lines within a window must come within the link's timeout.
    `now` fixes the upload's timestamp (tests).
    """
    data = config.data
    if label not in data.class_names:
        raise ValueError(f"unknown label {label!r}: expected one of {list(data.class_names)}")
    if not NAME.match(label):
        raise ValueError(f"label {label!r} cannot be sent over serial: expected 1-32 of [A-Za-z0-9._-], "
                         "starting with a letter or digit")
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if device_id is not None and not is_safe_device_id(device_id):
        raise ValueError(f"unsafe device_id {device_id!r}: expected letters, digits, '.', '_' or '-' (no '..'), "
                         f"at most {MAX_DEVICE_ID} characters")
    result = CollectResult(link.name, device_id or "", label, count)
    try:
        ready = enter_mode(link, "collect", timeout=ready_timeout)
    except LinkError as exc:
        raise CollectError(f"{link.name}: cannot start collecting: {exc.detail}", result) from exc
    problems = ready_mismatches(ready, data, classes=False)
    if problems:
        raise CollectError(f"{link.name}: the board's data contract differs from the configuration: "
                           + "; ".join(problems), result)
    result.device_id = device_id or ready.device_id
    key, session = _upload_key(store, result.device_id, now or datetime.now(UTC))
    rows: list[str] = []
    try:
        link.send(CollectCommand(label, count).to_line())
        _receive(link, result, rows, session, count, config, window_timeout)
    except (LinkError, ProtocolError, _BoardSaid, KeyboardInterrupt) as exc:  # Ctrl-C keeps the windows too
        try:
            _write(store, key, rows, result, config)
        except Exception as store_exc:  # report both: the board's failure and the windows at risk
            kept = f"writing the {result.collected} windows collected so far to {key} failed too: {store_exc}"
            raise CollectError(_failure(exc, result, count, kept), result) from exc
        raise CollectError(_failure(exc, result, count), result) from exc
    try:
        _write(store, key, rows, result, config)
    except Exception as exc:
        raise CollectError(f"{link.name}: {result.collected} windows collected, but writing them to {key} "
                           f"failed: {exc}", result) from exc
    return result


class _BoardSaid(Exception):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


def _receive(link: SerialLink, result: CollectResult, rows: list[str], session: str, count: int,
             config: Config, window_timeout: float) -> None:
    """Read WIN/S/END blocks until `count` windows are accounted for (collected or skipped)."""
    pending: _Pending | None = None
    done = 0
    seen: set[str] = set()
    while done < count:
        line = link.readline(timeout=window_timeout if pending is None else None)
        try:
            message = parse_board_line(line)
        except ProtocolError as exc:
            if pending is not None and exc.keyword == "S":
                pending.payloads.append(line.removeprefix("S "))  # still counts, and still in the CRC
                pending.problems.append(f"sample {len(pending.payloads)}: {exc}")
                continue
            if exc.keyword == "END" and pending is not None:
                _skip(result, pending.window_id, "end", f"unreadable END line: {exc}")
                pending, done = None, done + 1
                continue
            if exc.keyword == "WIN":  # its samples and END follow: skip them as one window
                if pending is not None:
                    _skip(result, pending.window_id, "interrupted", "an unreadable WIN line came before its END")
                    done += 1
                pending = _Pending("?", "", problems=[f"unreadable WIN line: {exc}"])
                continue
            raise
        if isinstance(message, Log):
            continue
        if isinstance(message, Ready) and message.mode == "collect" and pending is None:
            continue  # a second answer to MODE (sent again after a slow READY): not a restart
        if isinstance(message, BoardError):
            raise _BoardSaid(message.text)
        if isinstance(message, WindowStart):
            if pending is not None:
                _skip(result, pending.window_id, "interrupted", f"WIN {message.window_id} came before its END")
                done += 1
            pending = _Pending(message.window_id, message.label)
        elif isinstance(message, Sample) and pending is not None:
            pending.payloads.append(message.payload)
        elif isinstance(message, WindowEnd) and pending is not None:
            _finish(result, rows, pending, message, session, config, seen)
            pending = None
            done += 1
        else:
            what = "WIN" if pending is None else "S or END"
            restarted = " (a READY: did the board restart?)" if line.startswith("READY") else ""
            raise ProtocolError(line, f"{what} while collecting window {done + 1} of {count}{restarted}",
                                line.partition(" ")[0])


def _finish(result: CollectResult, rows: list[str], pending: _Pending, end: WindowEnd, session: str,
            config: Config, seen: set[str]) -> None:
    """Check one complete window and keep its rows, or record why it is skipped."""
    data = config.data
    wid = pending.window_id
    if pending.problems:
        return _skip(result, wid, "malformed", pending.problems[0])
    if end.window_id != wid:
        return _skip(result, wid, "end", f"ended by END {end.window_id}")
    n = len(pending.payloads)
    if n != data.window_length:
        return _skip(result, wid, "samples", f"{n} samples, expected {data.window_length}")
    crc = window_crc(pending.payloads)
    if crc != end.crc:
        return _skip(result, wid, "crc", f"CRC mismatch: the board sent {end.crc}, the samples received give {crc}")
    width = len(data.channels) + 1
    for i, payload in enumerate(pending.payloads, 1):
        fields = payload.count(",") + 1
        if fields != width:
            return _skip(result, wid, "malformed", f"sample {i} has {fields} numbers, expected t_ms and "
                                                   f"{len(data.channels)} channels ({','.join(data.channel_names)})")
    if pending.label != result.label:
        return _skip(result, wid, "label", f"labelled {pending.label!r}, expected {result.label!r} "
                                           "(the COLLECT label)")
    if wid in seen:
        return _skip(result, wid, "duplicate", "the board sent this window id twice")
    window_id = f"{session}-{wid}"
    window_rows = [f"{result.device_id},{window_id},{payload},{pending.label}\n" for payload in pending.payloads]
    parsed = parse_upload(f"window {wid}", (_header(config) + "".join(window_rows)).encode(), data)
    if parsed.quarantined or len(parsed.windows) != 1:
        reason = parsed.quarantined[0].reason if parsed.quarantined else "not one window"
        return _skip(result, wid, "contract", f"breaks the upload contract: {reason}")
    seen.add(wid)
    rows.extend(window_rows)
    result.window_ids.append(window_id)
    result.last_board_window = wid


def _skip(result: CollectResult, window_id: str, kind: str, reason: str) -> None:
    result.skipped.append(SkippedWindow(window_id, kind, reason))


def _header(config: Config) -> str:
    return ",".join(["device_id", "window_id", "t_ms", *config.data.channel_names, "label"]) + "\n"


def _upload_key(store: Store, device_id: str, now: datetime) -> tuple[str, str]:
    """incoming/<device>/collect-<UTC time>.csv, with -2, -3... if a collect in the same second exists."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 1000):
        session = stamp if n == 1 else f"{stamp}-{n}"
        key = layout.upload(device_id, f"collect-{session}.csv")
        if not store.exists(key):
            return key, session
    raise ObjectExists(f"{store.url}: 999 uploads named {layout.upload(device_id, f'collect-{stamp}')}*.csv exist")


def _write(store: Store, key: str, rows: list[str], result: CollectResult, config: Config) -> None:
    if rows:
        store.put_bytes(key, (_header(config) + "".join(rows)).encode())
        result.key = key


def _failure(exc: Exception, result: CollectResult, count: int, kept: str = "") -> str:
    if isinstance(exc, KeyboardInterrupt):
        cause = "interrupted"
    elif isinstance(exc, _BoardSaid):
        cause = f"the board reported an error: ERR {exc.text}"
    elif isinstance(exc, ProtocolError):
        cause = f"the board sent garbage: {exc}"
    else:
        cause = exc.detail
    last = result.last_board_window or "none"
    kept = kept or (f"the {result.collected} windows collected so far are written to {result.key}" if result.key
                    else "no window was collected, nothing written")
    return (f"{result.port}: collecting stopped after {result.collected} of {count} windows "
            f"(last good window: {last}): {cause}; {kept}")

