"""Benchmarks (`make bench`): the data path at scale (one table, bench_scale.md) and the model path, as JSON.

Wall-clock numbers on a shared 2-core machine are noisy; compare the ratios
measured in one run (e.g. MinIO/S3 vs local ingest), not absolute values
across runs. Nothing here is asserted in a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def bench_model(devices: int, windows_per_device: int) -> dict:
    """Train, quantize and evaluate on the default fleet; time TFLM against the reference kernels."""
    from components.config import Config
    from components.datasets import read_lineage
    from components.evaluate.core import evaluate
    from components.holdouts import load_holdouts
    from components.ingest.step import run_ingest
    from components.int8_model import Int8Model
    from components.model_inputs import input_groups
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


def scale(args) -> dict:
    """Ingest, validate-schema and the monitor at scale (issue 15), each with its anchor, in this run."""
    from tests.bench_ingest import bench_history, bench_throughput
    from tests.bench_validate import bench_validate

    result = {"ingest": bench_throughput(args.devices, 4 * args.windows_per_device),
              "ingest_history": bench_history(args.history_windows, 10),
              "validate": bench_validate(args.validate_samples)}
    if not args.skip_cycle:
        from tests.bench_cycle import bench_cycle

        result["cycle"] = bench_cycle()
    for name, windows in (("monitor", args.monitor_windows), ("monitor_features_only", args.monitor_features_windows)):
        if windows:  # each in a process of its own, as bench_monitor measures it (full JSON in bench_<name>.json)
            extra = ["--features-only"] if name == "monitor_features_only" else []
            subprocess.run([sys.executable, "-m", "tests.bench_monitor", "--windows", str(windows),
                            "--out", f"bench_{name}.json", *extra], check=True)
            with open(f"bench_{name}.json") as f:
                result[name] = json.load(f)["summary"]
    return result


def scale_table(s: dict) -> str:
    """One Markdown table: each measure, its target, the anchor measured in the same run, and the ratio."""
    rows = []
    ingest, history, validate = s["ingest"], s["ingest_history"], s["validate"]
    for where, target in (("local", 250_000), ("s3", 150_000)):
        rows.append((f"ingest, {'local store' if where == 'local' else 'S3 (moto, own process)'}, rows/s",
                     ingest[f"{where}_ingest_rows_per_s"], f">= {target:,}", "pyarrow read_csv, no checks",
                     ingest["pyarrow_read_csv_rows_per_s"], ingest[f"{where}_over_pyarrow_speed_ratio"]))
    rows.append((f"ingest of {history['new_uploads']} uploads into {history['history_windows']:,} stored windows, s",
                 history["into_history_store_s"], "about the empty store's", "same uploads into an empty store, s",
                 history["into_empty_store_s"], history["history_over_empty_time_ratio"]))
    rows.append(("validate-schema in memory, samples/s", validate["in_memory_samples_per_s"], ">= 500,000",
                 "TFDV on Beam (DirectRunner), samples/s", validate["beam_samples_per_s"],
                 validate["in_memory_over_beam_speed_ratio"]))
    for name in ("monitor", "monitor_features_only"):
        m = s.get(name)
        if m:
            anchor = m.get("anchor") or {}
            rows += [(f"{name.replace('_', ' ')}: {m['windows']:,} new windows, wall s", m["wall_s"],
                      f"<= {m['target_wall_s']:g}",
                      f"evidently DataDriftPreset, {anchor['new_windows']:,} new windows' features, s" if anchor
                      else "-", anchor.get("wall_s", float("nan")),
                      m["wall_s"] / anchor["wall_s"] if anchor else float("nan")),
                     (f"{name.replace('_', ' ')}: peak RSS, MB", m["peak_mb"],
                      f"<= {m['target_peak_mb']:g}" if m.get("target_peak_mb") else "none set", "", "",
                      float("nan"))]

    for cycle in s.get("cycle", {}).get("cycles", []):
        rows.append((f"local cycle {cycle['cycle']} (monitor + continuous training, decision "
                     f"{cycle['drift_decision']}), wall s", cycle["wall_s"], f"<= {s['cycle']['target_cycle_s']}",
                     "its tasks' wall s (the rest: the monitor process)", cycle["tasks_s"],
                     cycle["tasks_s"] / cycle["wall_s"]))

    def number(value) -> str:
        if isinstance(value, str):
            return value
        return "-" if value != value else f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"

    lines = ["| measure | this run | target | anchor (same run) | anchor | ratio |", "|---|---|---|---|---|---|"]
    lines += [f"| {m} | {number(v)} | {t} | {a} | {number(av)} | {number(r)} |" for m, v, t, a, av, r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench.json")
    parser.add_argument("--markdown", default="bench_scale.md", help="the scale table")
    parser.add_argument("--devices", type=int, default=12)
    parser.add_argument("--windows-per-device", type=int, default=100)
    parser.add_argument("--history-windows", type=int, default=1_000_000)
    parser.add_argument("--validate-samples", type=int, default=1_000_000)
    parser.add_argument("--monitor-windows", type=int, default=1_000_000, help="0: skip")
    parser.add_argument("--monitor-features-windows", type=int, default=10_000_000, help="0: skip")
    parser.add_argument("--skip-model", action="store_true")
    parser.add_argument("--skip-cycle", action="store_true", help="skip make run's cycle, timed task by task")
    args = parser.parse_args()
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform()},
              "scale": scale(args)}
    if not args.skip_model:
        report["model"] = bench_model(args.devices, args.windows_per_device)
    report["machine"]["load_average_after"] = os.getloadavg()
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    table = scale_table(report["scale"])
    with open(args.markdown, "w") as f:
        f.write(table)
    print(json.dumps(report, indent=2, sort_keys=True))
    print(table)


if __name__ == "__main__":
    main()
