"""The smallest tensor arena the host's TFLM runtime (PyPI tflite-micro) runs a model in, searched safely.

tflite-micro's Python runtime crashes the process (SIGSEGV) at some arena sizes just short of what a
model needs, instead of raising. So the bisection runs in a child process that announces each size
before trying it; when the child dies, that size counts as "does not fit" and a new child goes on
from the bounds found so far.

    python -m components.tflm_arena_search LOW HIGH < request.npz    (the child; prints one line per size)
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np

MAX_RESTARTS = 16


def search(model: bytes, inputs: list[tuple[int, np.ndarray]], low: int, high: int) -> int:
    """Smallest size in [low, high] at which the model builds and runs `inputs` ((tensor index, int8 array)
    for one window); RuntimeError if it does not run at `high`."""
    request = io.BytesIO()
    np.savez(request, model=np.frombuffer(model, dtype=np.uint8),
             **{f"input_{index}": array for index, array in inputs})
    for _ in range(MAX_RESTARTS):
        trying = None
        child = subprocess.Popen([sys.executable, "-m", "components.tflm_arena_search", str(low), str(high)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        out, _ = child.communicate(request.getvalue(), timeout=600)
        for line in out.decode().splitlines():
            word, size = line.split()
            if word == "trying":
                trying = int(size)
            elif word == "fits":
                high, trying = int(size), None
            elif word == "fails":
                low, trying = int(size) + 1, None
            elif word == "minimal":
                return int(size)
            elif word == "none":
                raise RuntimeError(f"the model does not run in a {high} B arena")
        if trying is None:
            raise RuntimeError(f"the arena search stopped (exit status {child.returncode}) between {low} and {high} B")
        if trying == high:
            raise RuntimeError(f"the model does not run in a {high} B arena (the TFLM runtime crashed on it)")
        low = trying + 1  # the runtime crashed on this size: it does not fit
    raise RuntimeError(f"the arena search crashed {MAX_RESTARTS} times; last bounds {low}..{high} B")


def _child(low: int, high: int) -> None:
    from tflite_micro import runtime

    request = np.load(io.BytesIO(sys.stdin.buffer.read()))
    model = request["model"].tobytes()
    inputs = [(int(name.split("_")[1]), request[name]) for name in request.files if name.startswith("input_")]

    def fits(size: int) -> bool:
        print(f"trying {size}", flush=True)
        try:
            interpreter = runtime.Interpreter.from_bytes(model, arena_size=size)
            for index, array in inputs:
                interpreter.set_input(array, index)
            interpreter.invoke()
            return True
        except RuntimeError:
            return False

    if not fits(high):
        print(f"none {high}", flush=True)
        return
    print(f"fits {high}", flush=True)
    while low < high:  # invariant: fits(high)
        middle = (low + high) // 2
        if fits(middle):
            high = middle
            print(f"fits {middle}", flush=True)
        else:
            low = middle + 1
            print(f"fails {middle}", flush=True)
    print(f"minimal {high}", flush=True)


if __name__ == "__main__":
    _child(int(sys.argv[1]), int(sys.argv[2]))
