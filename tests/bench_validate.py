"""Validate-schema throughput (issue 15): TFDV statistics in memory and by Beam on the same windows, as JSON.

    python -m tests.bench_validate [--samples 1000000] [--beam-samples N] [--out bench_validate.json]

Imports are timed apart, in a fresh interpreter: TFDV pulls in TensorFlow and Beam (seconds), which a
throughput that includes them would mostly measure. Each path is warmed up first. Beam's number includes
starting its worker processes, as every Beam run does; `beam_startup_s` is a run on one window, for scale.
About 75 s on 2 busy cores at the defaults. Wall-clock on a shared 2-core machine is noisy: compare the
ratio measured in one run. Nothing here is asserted in a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics as stats_lib
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TARGET_SAMPLES_PER_S = 500_000
DISTINCT_WINDOWS = 2_000  # simulated once, then repeated: the simulator makes ~1-2k windows/s


def _import_seconds() -> float:
    code = "import time; t = time.perf_counter(); import tensorflow_data_validation; print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def _windows(samples: int):
    """At least `samples` samples of simulated baseline windows (DISTINCT_WINDOWS distinct ones, repeated)."""
    import numpy as np

    from components.config import Config
    from components.datasets import WindowSet
    from components.simulator import simulate_arrays

    data = Config().data
    x, labels, device_ids = simulate_arrays("baseline", data, devices=10, windows_per_device=DISTINCT_WINDOWS // 10)
    repeat = -(-samples // (len(labels) * data.window_length))
    n = len(labels) * repeat
    return WindowSet(x=np.tile(x, (repeat, 1, 1)), t_ms=np.zeros((n, data.window_length)),
                     labels=np.tile(labels, repeat), device_ids=np.tile(device_ids, repeat),
                     window_ids=np.arange(n).astype(str), sources=np.tile(device_ids, repeat),
                     pred_labels=np.full(n, ""), pred_scores=np.full(n, np.nan, dtype=np.float32),
                     hashes=np.arange(n).astype(str))


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_validate(samples_target: int = 1_000_000, beam_samples: int | None = None, repeats: int = 3) -> dict:
    """Samples/s of both paths; Beam on the first `beam_samples` of the same windows (default: all of them)."""
    import_s = _import_seconds()
    import tensorflow_data_validation  # noqa: F401  (timed above, in a fresh interpreter)

    from components.config import Config
    from components.store import LocalStore
    from components.validate_schema.statistics import statistics_beam, statistics_in_memory
    from components.validate_schema.step import validate_new_windows

    config = Config()
    names, options = config.data.channel_names, config.validation.beam_options
    windows = _windows(samples_target)
    samples = len(windows) * config.data.window_length
    beam_windows = windows.select(slice(0, max(1, (beam_samples or samples) // config.data.window_length)))
    beam_n = len(beam_windows) * config.data.window_length

    statistics_in_memory(windows.select(slice(0, 100)), names)  # warm-up: lazy imports, first-call costs
    in_memory_s = [_timed(lambda: statistics_in_memory(windows, names)) for _ in range(repeats)]
    beam_startup_s = _timed(lambda: statistics_beam(windows.select(slice(0, 1)), names, options))  # also warm-up
    beam_s = _timed(lambda: statistics_beam(beam_windows, names, options))
    with tempfile.TemporaryDirectory() as tmp:  # the whole step, store writes included, schema already there
        store = LocalStore(tmp)
        validate_new_windows(store, config, "warm-up", windows.select(slice(0, 100)))
        step_s = _timed(lambda: validate_new_windows(store, config, "bench", windows))

    in_memory = samples / stats_lib.median(in_memory_s)
    beam = beam_n / beam_s
    return {
        "samples": samples,
        "distinct_windows": DISTINCT_WINDOWS,
        "in_memory_samples_per_s": in_memory,
        "in_memory_runs_s": in_memory_s,
        "beam_samples": beam_n,
        "beam_options": list(options),
        "beam_samples_per_s": beam,
        "beam_startup_s": beam_startup_s,
        "in_memory_over_beam_speed_ratio": in_memory / beam,
        "validate_new_windows_samples_per_s": samples / step_s,
        "import_s": import_s,
        "target_samples_per_s": TARGET_SAMPLES_PER_S,
        "cpu_count": os.cpu_count(),
        "note": "in-memory: median of the runs; Beam: one run on the first beam_samples of the same windows, "
                "its worker start-up included; import_s: TFDV's import in a fresh interpreter",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--beam-samples", type=int, default=None,
                        help="fewer samples for Beam (default: the same --samples) to shorten the run")
    parser.add_argument("--out", default="bench_validate.json")
    args = parser.parse_args()
    result = bench_validate(args.samples, args.beam_samples)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
