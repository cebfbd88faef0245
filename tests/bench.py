"""Benchmarks (`make bench`): the data path and the model path, written as JSON.

Wall-clock numbers on a shared 2-core machine are noisy; compare the ratios
measured in one run (e.g. MinIO/S3 vs local ingest), not absolute values
across runs. Nothing here is asserted in a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def bench_data_path(devices: int, windows_per_device: int) -> dict:
    from moto.server import ThreadedMotoServer

    from components.config import Config
    from components.datasets import latest_version, read_windows
    from components.ingest.core import run_ingest
    from components.simulator import simulate, write_simulation
    from components.store import LocalStore, MinioStore
    from components.validate_schema.core import validate_new_windows

    config = Config()
    (uploads, truth), sim_s = _timed(lambda: simulate("baseline", config.data, devices=devices,
                                                      windows_per_device=windows_per_device))
    rows = len(truth) * config.data.window_length
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    results = {"windows": len(truth), "rows": rows, "simulate_windows_per_s": len(truth) / sim_s}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            stores = {"local": LocalStore(tmp),
                      "s3": MinioStore(f"127.0.0.1:{port}", "bench", access_key="a", secret_key="b")}
            for name, store in stores.items():
                _, write_s = _timed(lambda store=store: write_simulation(store, uploads, truth, "bench"))
                result, ingest_s = _timed(lambda store=store: run_ingest(store, config))
                assert result.counts["rows_read"] == rows
                results[f"{name}_upload_rows_per_s"] = rows / write_s
                results[f"{name}_ingest_rows_per_s"] = rows / ingest_s
            store = stores["local"]
            windows = read_windows(store, latest_version(store))
            _, validate_s = _timed(lambda: validate_new_windows(store, config, "bench", windows))
            results["validate_schema_samples_per_s"] = rows / validate_s
    finally:
        server.stop()
    results["s3_over_local_ingest_time_ratio"] = (results["local_ingest_rows_per_s"]
                                                  / results["s3_ingest_rows_per_s"])
    return results


def bench_model(devices: int, windows_per_device: int) -> dict:
    """Train, quantize and evaluate on the default fleet; time TFLM against the reference kernels."""
    from components.config import Config
    from components.datasets import read_lineage
    from components.evaluate.core import evaluate, load_holdouts
    from components.features import input_groups
    from components.ingest.core import run_ingest
    from components.int8_model import Int8Model
    from components.quantize.core import quantize
    from components.simulator import simulate, write_simulation
    from components.store import LocalStore
    from components.train.core import train

    config = Config()
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(tmp)
        uploads, truth = simulate("baseline", config.data, devices=devices, windows_per_device=windows_per_device)
        write_simulation(store, uploads, truth, "bench")
        version = run_ingest(store, config).version
        trained, train_s = _timed(lambda: train(read_lineage(store, version), config))
        quantized, quantize_s = _timed(lambda: quantize(trained.model, trained.data, config))
        holdouts = load_holdouts(store, version, config)
        evaluation, evaluate_s = _timed(lambda: evaluate(trained.model, quantized.tflite, holdouts, None,
                                                         config, version))
    m = evaluation.metrics
    int8 = Int8Model(quantized.tflite, input_groups(config.data))
    x = holdouts["holdout"].x
    _, tflm_s = _timed(lambda: int8.run_tflm(x, m["host_arena_bytes"]))  # the 64-bit runtime needs more
    _, reference_s = _timed(lambda: int8.run_reference(x))
    return {
        "windows": len(truth), "epochs_run": trained.epochs_run, "train_s": train_s, "quantize_s": quantize_s,
        "evaluate_s": evaluate_s, "float_accuracy": m["float_accuracy"], "int8_accuracy": m["int8_accuracy"],
        "float_minus_int8_points": 100 * (m["float_accuracy"] - m["int8_accuracy"]),
        "tflite_bytes": m["tflite_bytes"], "arena_bytes": m["arena_bytes"], "tflm_mismatches": m["tflm_mismatches"],
        "holdout_windows": len(x), "tflm_us_per_window": 1e6 * tflm_s / len(x),
        "reference_us_per_window": 1e6 * reference_s / len(x), "tflm_over_reference_time_ratio": tflm_s / reference_s,
        # On the board's ISA (QEMU -icount, instructions not seconds): per kernel set, bit-exact windows,
        # instructions per inference, minimal arena, TFLM flash and static RAM, stack peak; and the latency budget.
        "host_arena_bytes": m["host_arena_bytes"], "arena_measured_on": m["arena_measured_on"],
        "cortex_m4": m["cortex_m4"], "latency": m["latency"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench.json")
    parser.add_argument("--devices", type=int, default=12)
    parser.add_argument("--windows-per-device", type=int, default=100)
    args = parser.parse_args()
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform()},
              "data_path": bench_data_path(args.devices, args.windows_per_device),
              "model": bench_model(args.devices, args.windows_per_device)}
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    print(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
