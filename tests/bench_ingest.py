"""Benchmark of ingest (a script, not a test): rows per second locally and from S3, against pyarrow's bare
CSV parse of the same bytes, and the cost of history.

    python -m tests.bench_ingest --out bench_ingest.json

- throughput: the default simulator's uploads (25 windows of 50 rows a file) ingested into an empty LocalStore,
  and into an empty bucket of moto's S3 server run as a process of its own (as MinIO would be: not sharing
  this process's interpreter). Anchor: pyarrow.csv.read_csv with its defaults (type inference, threads) on
  the same bytes, in memory, with no checks. One small ingest runs first, untimed: the first call of each
  Arrow kernel and the lazy imports cost about a second once per process (bench_cycle reports a task's
  imports apart).
- history: 100 new uploads ingested into an empty store, then the same uploads into a store that already
  holds --history-windows windows in --history-versions dataset versions (written directly as versions, not
  through ingest, to keep the setup short; each with its index, as ingest writes it), and the 1 upload per
  25 windows they came from still in the landing zone. Ingest lists the landing zone, reads the versions'
  manifests and indexes, never their windows, so both should cost about the same.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import numpy as np

TARGET_LOCAL_ROWS_PER_S = 250_000
TARGET_S3_ROWS_PER_S = 150_000


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MotoProcess:
    """moto's S3 server on 127.0.0.1, in a process of its own."""

    def __enter__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/moto-api/", timeout=1)
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("moto's server did not start within 30 s")

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=30)


def bench_throughput(devices: int, windows_per_device: int) -> dict:
    import pyarrow.csv as pa_csv

    from components.config import Config
    from components.ingest.step import run_ingest
    from components.simulator import simulate, write_simulation
    from components.store import LocalStore, MinioStore

    config = Config()
    uploads, truth = simulate("baseline", config.data, devices=devices, windows_per_device=windows_per_device)
    rows = len(truth) * config.data.window_length
    _, parse_s = _timed(lambda: [pa_csv.read_csv(io.BytesIO(u.data)) for u in uploads])
    result = {"uploads": len(uploads), "rows": rows, "pyarrow_read_csv_rows_per_s": rows / parse_s}
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: the first call of each Arrow kernel and lazy imports
        warm_store = LocalStore(tmp)
        write_simulation(warm_store, *simulate("baseline", config.data, devices=1, windows_per_device=25, seed=5),
                         "warm-up")
        run_ingest(warm_store, config)
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(tmp)
        write_simulation(store, uploads, truth, "bench")
        outcome, ingest_s = _timed(lambda: run_ingest(store, config))
        assert outcome.counts["rows_accepted"] == rows, outcome.counts
        result["local_ingest_rows_per_s"] = rows / ingest_s
    with MotoProcess() as moto:
        store = MinioStore(f"127.0.0.1:{moto.port}", "bench", access_key="bench", secret_key="bench-secret")
        write_simulation(store, uploads, truth, "bench")
        cpu_before = _cpu_seconds(moto.process.pid)
        outcome, ingest_s = _timed(lambda: run_ingest(store, config))
        assert outcome.counts["rows_accepted"] == rows, outcome.counts
        result["s3_ingest_rows_per_s"] = rows / ingest_s
        result["s3_server_cpu_s"] = _cpu_seconds(moto.process.pid) - cpu_before  # moto's own work, same 2 cores
    result["s3_ingest_s"] = ingest_s
    result["local_over_pyarrow_speed_ratio"] = result["local_ingest_rows_per_s"] / result["pyarrow_read_csv_rows_per_s"]
    result["s3_over_pyarrow_speed_ratio"] = result["s3_ingest_rows_per_s"] / result["pyarrow_read_csv_rows_per_s"]
    return result


def _history_version(store, config, version: str, parent: str | None, start: int, n: int, rng) -> None:
    """One dataset version of n windows written directly (as ingest would write it, index included)."""
    from components.contract import content_hash
    from components.datasets import WindowSet, write_version

    data = config.data
    t, c = data.window_length, len(data.channels)
    devices = np.array([f"hist-{(start + i) // 1000:05d}" for i in range(n)])
    window_ids = np.array([f"w{start + i:08d}" for i in range(n)])
    x = rng.normal(0, 1, (n, t, c)).astype(np.float32)
    t_ms = 1000.0 * np.arange(start, start + n)[:, None] + np.arange(t) * 1000.0 / data.sample_rate_hz
    labels = np.array(data.class_names)[rng.integers(0, len(data.class_names), n)]
    hashes = np.array([content_hash(d, w, lab, tt, xx) for d, w, lab, tt, xx in
                       zip(devices.tolist(), window_ids.tolist(), labels.tolist(), t_ms, x, strict=True)])
    windows = WindowSet(x=x, t_ms=t_ms, labels=labels, device_ids=devices, window_ids=window_ids,
                        sources=np.full(n, "history"), pred_labels=np.full(n, ""),
                        pred_scores=np.full(n, np.nan, dtype=np.float32), hashes=hashes)
    # The uploads it came from stay in the landing zone, as they do in a real store: the next ingest lists them
    # and must skip them (their content is not read again, so a placeholder stands in for it).
    uploads = [f"incoming/{d}/history-{w}.csv" for d, w in zip(devices[::25].tolist(), window_ids[::25].tolist(),
                                                                strict=True)]
    for key in uploads:
        store.put_bytes(key, b"processed by an earlier ingest\n")
    write_version(store, version, windows, [], {"version": version, "parent": parent, "uploads": [
        {"key": key} for key in uploads], "counts": {"windows_accepted": n}})


def bench_history(history_windows: int, history_versions: int) -> dict:
    from components.config import Config
    from components.datasets import new_version_id
    from components.ingest.step import run_ingest
    from components.simulator import simulate, write_simulation
    from components.store import LocalStore

    config = Config()
    uploads, truth = simulate("baseline", config.data, devices=4, windows_per_device=625, seed=7)  # 100 uploads
    rng = np.random.default_rng(0)
    result = {"new_uploads": len(uploads), "new_rows": len(truth) * config.data.window_length,
              "history_windows": history_windows, "history_versions": history_versions}
    with tempfile.TemporaryDirectory() as empty_dir, tempfile.TemporaryDirectory() as full_dir:
        empty, full = LocalStore(empty_dir), LocalStore(full_dir)
        start = datetime(2026, 1, 1, tzinfo=UTC)
        parent, per_version = None, -(-history_windows // history_versions)
        setup_start = time.perf_counter()
        for i in range(history_versions):
            version = new_version_id(start + timedelta(days=i))
            n = min(per_version, history_windows - i * per_version)
            _history_version(full, config, version, parent, i * per_version, n, rng)
            parent = version
        result["history_setup_s"] = time.perf_counter() - setup_start
        for name, store in (("empty", empty), ("history", full)):
            write_simulation(store, uploads, truth, "bench")
            outcome, seconds = _timed(lambda store=store: run_ingest(store, config))
            assert outcome.counts["windows_accepted"] == len(truth), outcome.counts
            result[f"into_{name}_store_s"] = seconds
    result["history_over_empty_time_ratio"] = result["into_history_store_s"] / result["into_empty_store_s"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench_ingest.json")
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--windows-per-device", type=int, default=400)
    parser.add_argument("--history-windows", type=int, default=1_000_000)
    parser.add_argument("--history-versions", type=int, default=10)
    args = parser.parse_args()
    report = {"throughput": bench_throughput(args.devices, args.windows_per_device),
              "history": bench_history(args.history_windows, args.history_versions),
              "targets": {"local_rows_per_s": TARGET_LOCAL_ROWS_PER_S, "s3_rows_per_s": TARGET_S3_ROWS_PER_S},
              "load_average": os.getloadavg()}
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    print(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
