"""What a person sees of a local run: one line per task, and kfp.local's full logs in a file.

kfp.local prints every task's streamed output, its executor JSON and its
outputs on stdout, and TensorFlow's C++ start-up noise goes to the process's
file descriptors. During a run both descriptors 1 and 2 (and Python's
sys.stdout/sys.stderr) point at a log file under the pipeline root; the lines
kfp.local logs for each task (start, finish, outputs) are read back as they
are written and turned into one line per task on the console: name, status,
seconds and the task's metrics. `verbose` streams the full log as well.
"""

from __future__ import annotations

import ast
import io
import os
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STAMP = re.compile(r"^\d\d:\d\d:\d\d\.\d+ - (INFO|ERROR|WARNING) - ")
_STARTED = re.compile(r"Executing task '([^']+)'")
_FINISHED = re.compile(r"Task '([^']+)' finished with status (\w+)")
_OUTPUTS = re.compile(r"Task '([^']+)' (outputs:|has no outputs)")
_METRICS = re.compile(r"metadata=(\{.*\}) \)$")
_PARAMETER = re.compile(r"^\s{4}(\w+): (?!\w+\( )(.*)$")
_ARTIFACT = re.compile(r"^\s{4}\w+: (\w+)\( name=")


# Per task, the numbers that matter, in order; a task's return value (KFP's "Output") under a name.
SHOWN = {
    "ingest": ("windows_accepted", "windows_quarantined", "rows_quarantined"),
    "validate-schema": ("anomalies", "blocking_anomalies"),
    "detect-drift": ("new_windows", "data_drift", "concept_drift"),
    "relabel-queue": ("queued_windows", "train_on"),
    "train": ("epochs_run", "best_val_accuracy"),
    "quantize": ("tflite_bytes", "qat_val_accuracy"),
    "evaluate": ("int8_accuracy", "float_accuracy", "arena_bytes", "blessed"),
    "export-c-array": ("model_array_bytes",),
    "firmware-build": ("firmware_built", "cortex_m4_verified"),
    "promote": ("model_version",),
}
OUTPUT_NAMES = {"relabel-queue": "train_on", "evaluate": "blessed", "promote": "model_version"}


@dataclass
class TaskLine:
    name: str
    status: str = "running"
    seconds: float = 0.0
    numbers: dict = field(default_factory=dict)

    def text(self) -> str:
        numbers = {OUTPUT_NAMES.get(self.name, "output") if k == "Output" else k: v for k, v in self.numbers.items()}
        keys = SHOWN.get(self.name, tuple(numbers))
        shown = " ".join(f"{k}={_short(numbers[k])}" for k in keys if k in numbers)
        return f"  {self.name:<16} {self.status.lower():<8} {self.seconds:6.1f} s  {shown}".rstrip()


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if not value.is_integer() else str(int(value))
    return str(value).strip("'")


class _TaskLog(io.TextIOBase):
    """A text stream that writes everything to the log and reports kfp.local's task lines as they pass."""

    def __init__(self, log, show, verbose: bool):
        self._log, self._show, self._verbose = log, show, verbose
        # On a terminal, a spinner names the running task (rich); elsewhere, plain lines only.
        self._live = None
        if show.isatty() and not verbose:
            from rich.console import Console
            from rich.live import Live
            from rich.spinner import Spinner

            # Not redirecting sys.stdout/stderr: they point at the log during the run.
            self._spinner = Spinner("dots", "starting")
            self._live = Live(self._spinner, console=Console(file=show, highlight=False), transient=True,
                              redirect_stdout=False, redirect_stderr=False)
            self._live.start()
        self._partial = ""
        self._task: TaskLine | None = None
        self._started: dict[str, float] = {}
        self._collecting = False
        self._artifact = ""  # the class of the output artifact being read
        self.tasks: list[TaskLine] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._log.write(text)
        if self._verbose:
            self._show.write(text)
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            self._read(_ANSI.sub("", line))
        return len(text)

    def flush(self) -> None:
        self._log.flush()
        self._show.flush()

    def _read(self, line: str) -> None:
        stamped = _STAMP.match(line)
        if stamped and self._collecting:
            self._finish()
        if stamped:
            self._logged(line[stamped.end():])
        elif self._collecting and self._task is not None:
            self._output(line)

    def _logged(self, message: str) -> None:
        if m := _STARTED.search(message):
            self._started[m[1]] = time.monotonic()
            if self._live is not None:
                self._spinner.update(text=f"{m[1]} running")
        elif m := _FINISHED.search(message):
            self._task = TaskLine(m[1], m[2], time.monotonic() - self._started.get(m[1], time.monotonic()))
            if m[2] != "SUCCESS":
                self._finish()
        elif m := _OUTPUTS.search(message):
            self._collecting = m[2] == "outputs:"
            if not self._collecting:
                self._finish()

    def _output(self, line: str) -> None:
        """One line of a task's outputs: a parameter (`    decision: 'data'`) or part of an artifact's
        three lines (`    metrics: Metrics( name=...`, `uri=...`, `metadata={...} )`)."""
        if artifact := _ARTIFACT.match(line):
            self._artifact = artifact[1]
        elif (metrics := _METRICS.search(line)) and self._artifact == "Metrics":
            self._task.numbers.update(ast.literal_eval(metrics[1]))
        elif parameter := _PARAMETER.match(line):
            self._task.numbers[parameter[1]] = parameter[2]

    def _finish(self) -> None:
        if self._task is not None:
            self.tasks.append(self._task)
            if self._live is not None:
                self._live.console.print(self._task.text(), markup=False)
            elif not self._verbose:
                print(self._task.text(), file=self._show, flush=True)
        self._task, self._collecting, self._artifact = None, False, ""

    def close_run(self) -> None:
        if self._partial:
            self._read(_ANSI.sub("", self._partial))
            self._partial = ""
        if self._collecting:
            self._finish()
        if self._live is not None:
            self._live.stop()


@contextmanager
def descriptors_to(target_fd: int, *fds: int):
    """Point descriptors `fds` at `target_fd` for the block: what C libraries and child processes write
    goes there too, not only what Python prints."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in fds]
    for fd in fds:
        os.dup2(target_fd, fd)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip(fds, saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)


@contextmanager
def quiet_run(log_path: Path, verbose: bool = False):
    """Route all output of the run to `log_path`; per-task lines go to the console (stderr).

    Yields the list of TaskLine, filled as tasks finish."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    show = open(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")  # the console, kept aside
    old_streams = sys.stdout, sys.stderr
    with (open(log_path, "a", buffering=1, encoding="utf-8", errors="replace") as log,
          descriptors_to(log.fileno(), 1, 2)):
        stream = _TaskLog(log, show, verbose)
        sys.stdout = sys.stderr = stream
        try:
            yield stream.tasks
        finally:
            stream.close_run()
            sys.stdout, sys.stderr = old_streams
            show.close()
