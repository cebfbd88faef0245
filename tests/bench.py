"""Benchmarks (`make bench`): throughput of the data path, written as JSON.

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench.json")
    parser.add_argument("--devices", type=int, default=12)
    parser.add_argument("--windows-per-device", type=int, default=50)
    args = parser.parse_args()
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform()},
              "data_path": bench_data_path(args.devices, args.windows_per_device)}
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    print(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
