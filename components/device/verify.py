"""Verify a board's model against the host's TFLM run of the same .tflite, window by window.

The board runs TFLM too, on the same int8 model; given the same float32
window it should produce the same int8 scores, bit for bit. A difference is
a firmware bug (input quantization, channel order, a different kernel, a
wrong model) that accuracy metrics on the host would never show. So the host
sends each window as W (values the board parses back to the same float32),
reads Y, and reports every window whose scores differ: a disagreement is a
result, not an error. Errors are for a link or board that cannot answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from components.config import Config, DataConfig
from components.device.protocol import (
    BoardError,
    Log,
    ProtocolError,
    Ready,
    VerifyReply,
    WindowCommand,
    model_id,
    parse_board_line,
    ready_mismatches,
)
from components.device.serial_link import LinkError, SerialLink, enter_mode
from components.int8_model import Int8Model
from components.model_inputs import input_groups


@dataclass(frozen=True)
class Mismatch:
    index: int  # the window's index in windows_x
    board: tuple[int, ...]
    host: tuple[int, ...]
    max_abs_diff: int

    @property
    def same_top_class(self) -> bool:
        return int(np.argmax(self.board)) == int(np.argmax(self.host))


@dataclass
class VerifyResult:
    port: str
    device_id: str
    board_model: str  # model= in the board's READY
    host_model: str  # model_id of the .tflite verified
    host_scores: np.ndarray  # int8 [N, K], host TFLM
    board_scores: np.ndarray  # int8 [n, K], n <= N: the windows the board answered
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def windows(self) -> int:
        """Windows compared (all N unless verification stopped early)."""
        return len(self.board_scores)

    @property
    def identical(self) -> int:
        return self.windows - len(self.mismatches)

    @property
    def agree(self) -> bool:
        return self.windows == len(self.host_scores) and not self.mismatches

    @property
    def max_abs_diff(self) -> int:
        return max((m.max_abs_diff for m in self.mismatches), default=0)

    @property
    def same_top_class(self) -> int:
        """Windows where the board and the host pick the same class, even if scores differ."""
        return self.identical + sum(m.same_top_class for m in self.mismatches)

    def summary(self) -> str:
        head = f"{self.port}: model {self.host_model} on {self.device_id}: "
        if self.agree:
            return head + f"all {self.windows} windows identical to the host's TFLM run"
        text = (head + f"{self.identical} of {self.windows} windows identical, max |int8 difference| "
                f"{self.max_abs_diff}, same top class on {self.same_top_class}")
        if self.mismatches:
            text += "; differing windows: " + ", ".join(str(m.index) for m in self.mismatches[:20])
            text += " ..." if len(self.mismatches) > 20 else ""
        return text


class VerifyError(RuntimeError):
    """Verification could not finish.

    `result` holds the windows compared so far. It is None when verification
    failed before any window was sent (the host cannot run the model, no
    READY, the board runs another model or data contract): the message then
    says everything there is to say.
    """

    def __init__(self, message: str, result: VerifyResult | None = None):
        super().__init__(message)
        self.result = result


def verify(link: SerialLink, windows_x: np.ndarray, tflite: bytes, config: Config, arena_bytes: int, *,
           check_model: bool = True, ready_timeout: float = 5.0) -> VerifyResult:
    """Run windows_x [N, T, C] (raw sensor units) on the board and on the host; compare the int8 scores.

    `check_model` refuses a board whose READY names another model (its
    answers would differ for a reason no comparison explains). Each reply must
    come within the link's timeout.
    """
    data = config.data
    x = np.asarray(windows_x, dtype=np.float32)
    expected_shape = (data.window_length, len(data.channels))
    if x.ndim != 3 or x.shape[1:] != expected_shape or len(x) == 0:
        raise ValueError(f"windows_x must be [N, {expected_shape[0]}, {expected_shape[1]}] (N >= 1, window_length, "
                         f"channels {','.join(data.channel_names)}), got shape {x.shape}")
    commands = [WindowCommand.of(window) for window in x]
    host = _host_scores(tflite, config, np.array([c.values for c in commands], dtype=np.float32).reshape(x.shape),
                        arena_bytes)
    expected_model = model_id(tflite)
    classes = len(data.class_names)
    if host.shape[1] != classes:
        raise VerifyError(f"model {expected_model} has {host.shape[1]} outputs, the configuration has {classes} "
                          f"classes ({','.join(data.class_names)}): it was trained for another data contract")
    try:
        ready = enter_mode(link, "verify", timeout=ready_timeout)
    except LinkError as exc:
        raise VerifyError(f"{link.name}: cannot start verifying: {exc.detail}") from exc
    refusals = _refusals(ready, data, expected_model if check_model else None)
    if refusals:
        raise VerifyError(f"{link.name}: cannot verify on board {ready.device_id}: " + "; and ".join(refusals))
    result = VerifyResult(link.name, ready.device_id, ready.model, expected_model, host,
                          np.zeros((0, classes), dtype=np.int8))
    replies: list[tuple[int, ...]] = []
    for i, command in enumerate(commands):
        try:
            link.send(command.to_line())
            replies.append(_reply(link, classes))
        except (LinkError, ProtocolError, _Rejected) as exc:
            _compare(result, replies)
            raise VerifyError(f"{link.name}: verification stopped at window {i} of {len(commands)} "
                              f"({i} compared, {result.identical} identical): {_cause(exc)}", result) from exc
    _compare(result, replies)
    return result


class _Rejected(Exception):
    pass


def _cause(exc: Exception) -> str:
    if isinstance(exc, LinkError):
        return exc.detail
    if isinstance(exc, ProtocolError):
        return f"the board sent garbage: {exc}"
    return f"the board rejected the window: ERR {exc}"


def _refusals(ready: Ready, data: DataConfig, expected_model: str | None) -> list[str]:
    """Why the board's READY rules out a comparison ([] when it fits); the model is not checked when None.

    Both reasons are given at once, so a person fixes the board in one go.
    """
    refusals: list[str] = []
    if expected_model is not None and ready.model != expected_model:
        refusals.append(f"it runs another model: model={ready.model}, the model to verify is {expected_model} "
                        "(flash it first)")
    contract = ready_mismatches(ready, data, classes=True)
    if contract:
        refusals.append("its data contract differs from the configuration: " + "; ".join(contract))
    return refusals


def _host_scores(tflite: bytes, config: Config, x: np.ndarray, arena_bytes: int) -> np.ndarray:
    try:
        return Int8Model(tflite, input_groups(config.data)).run_tflm(x, arena_bytes)
    except (ValueError, RuntimeError) as exc:
        raise VerifyError(f"cannot run model {model_id(tflite)} on the host (TFLM, arena {arena_bytes} B), "
                          f"so there is nothing to compare the board with: {exc}") from exc


def _reply(link: SerialLink, classes: int) -> tuple[int, ...]:
    """Read up to the Y for the window just sent; logs are skipped."""
    while True:
        line = link.readline()
        message = parse_board_line(line)
        if isinstance(message, Log) or isinstance(message, Ready) and message.mode == "verify":
            continue  # a log, or a second answer to MODE (sent again after a slow READY)
        if isinstance(message, BoardError):
            raise _Rejected(message.text)
        if not isinstance(message, VerifyReply):
            raise ProtocolError(line, "Y <s1,...,sK> in answer to W")
        if len(message.scores) != classes:
            raise ProtocolError(line, f"Y with {classes} scores (one per class), got {len(message.scores)}", "Y")
        return message.scores


def _compare(result: VerifyResult, replies: list[tuple[int, ...]]) -> None:
    board = np.array(replies, dtype=np.int8).reshape(len(replies), result.host_scores.shape[1])
    result.board_scores = board
    diff = np.abs(board.astype(np.int16) - result.host_scores[:len(board)].astype(np.int16))
    result.mismatches = [Mismatch(int(i), tuple(int(v) for v in board[i]), tuple(int(v) for v in result.host_scores[i]),
                                  int(diff[i].max())) for i in np.flatnonzero(diff.max(axis=1) > 0)]
