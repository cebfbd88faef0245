"""Benchmark of monitoring at fleet scale: the detect-drift step on 1,000,000 new windows (a script, not a test).

    python -m tests.bench_monitor --windows 1000000 --out bench_monitor.json
    python -m tests.bench_monitor --windows 10000000 --features-only --out bench_monitor_10m.json

Targets (the issue's acceptance check): the monitor on 1,000,000 new windows in at most 30 s wall and at most
1024 MB peak resident memory on this machine; on 10,000,000 new windows of features-only versions in at most
300 s. Nothing here is asserted in a test; the numbers are written as JSON, with a summary another bench can
take (`monitor_summary`) and an anchor timed in the same run: evidently's DataDriftPreset on the same stored
feature frames (all reference windows against a seeded sample of --anchor-windows new windows).

Setup (not timed), in a LocalStore in a temporary folder:
- reference: simulate_arrays("baseline", seed 0, 24 devices x 100 windows), one dataset version;
- production model: a small real int8 model trained on it (few epochs), registered with its holdout accuracy
  in metrics.json and promoted (forced, with a reason);
- new windows: simulate_arrays(--scenario, seed 1, 40 devices x 100 windows, oracle labels) tiled over
  --devices new device ids (new device j copies simulated device j mod 40, window k its window k mod 100),
  each with a seeded per-device offset and per-sample Gaussian noise (a little: see NOISE), rounded to the
  upload's 4 decimals; a seeded --labelled-fraction of the windows keep their label, the rest are
  unlabelled. They are written as --versions child dataset versions (a chain whose first parent is the
  reference), as --versions daily ingests of every device would be, each with its drift features written
  by dataset_features.write_drift_features before its manifest, as ingest writes them.
- with --features-only (the 10M mode: 12 GB of samples would not fit the point), the new versions hold their
  drift features file and manifest only: the windows are generated the same way, a slice at a time, their
  features computed by the same code and stored, their samples dropped. The monitor then tests their
  features and scores none of them (see detect_drift.step.detect_drift).

Timed, in a fresh subprocess (so its peak memory is the monitor's own): load_monitor_inputs + detect_drift +
write_report with the default Config, imports included. The parent (which stays small: setup runs in a
subprocess of its own) reads the child's wall time and its peak RSS (os.wait4's ru_maxrss for that child);
the child reports the split (import, load, detect, write) and its peak RSS (VmHWM) after each part. The
machine's load average is recorded too: other processes on this 2-core machine slow the monitor down. Use
--store DIR to keep (or reuse) the prepared store between runs.

On this machine (a VM whose balloon returns freed memory to the host) every GB a process touches for the
first time costs a few seconds, so the monitor's time depends on the memory it allocates, not only its CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

TARGET_WALL_S = 30.0  # 1,000,000 new windows
TARGET_PEAK_MB = 1024.0
TARGET_WALL_S_FEATURES_ONLY = 300.0  # 10,000,000 new windows, features-only versions (no memory target)
FEATURES_ONLY_SLICE = 250_000  # windows generated at a time in --features-only mode
BASE_DEVICES, BASE_WINDOWS_PER_DEVICE = 40, 100
REF_DEVICES, REF_WINDOWS_PER_DEVICE = 24, 100
# Noise added to every tiled copy, as a fraction of each channel's standard deviation over the simulated
# windows: a per-device offset (the same for all of a device's windows) and per-sample noise.
NOISE = {"device_offset_sd": 0.05, "sample_sd": 0.02}
SETUP_MARKER = "bench_monitor_setup.json"


def _maxrss_mb() -> float:
    """This process's peak RSS in MB: VmHWM belongs to the address space, so it starts afresh at exec (unlike
    ru_maxrss, which a child started by vfork inherits from its parent's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _window_set(x, t_ms, labels, devices, window_ids, sources, hashes=True):
    from components.datasets import WindowSet

    n = len(x)
    hashes = (np.array([hashlib.sha256(f"{d}\0{w}\0{lab}\0".encode() + t.tobytes() + v.tobytes()).hexdigest()
                        for d, w, lab, t, v in zip(devices, window_ids, labels, t_ms, x, strict=True)])
              if hashes else np.full(n, "", dtype=str))  # features-only: no windows.npz to hash for
    return WindowSet(x=x, t_ms=t_ms, labels=labels, device_ids=devices, window_ids=window_ids, sources=sources,
                     pred_labels=np.full(n, "", dtype=str), pred_scores=np.full(n, np.nan, dtype=np.float32),
                     hashes=hashes)


def _new_windows(j, k, rng_key, base_x, base_labels, channel_sd, device_offset, device_names, args, length,
                 step_ms, v, hashes=True):
    """New device j's window k: simulated window (j mod 40, k mod 100) + the device's offset + sample noise."""
    base_i = (j % BASE_DEVICES) * BASE_WINDOWS_PER_DEVICE + k % BASE_WINDOWS_PER_DEVICE
    vrng = np.random.default_rng(rng_key)
    x = base_x[base_i] + device_offset[j][:, None, :]
    x += (vrng.standard_normal(x.shape, dtype=np.float32) * NOISE["sample_sd"]) * channel_sd
    x = x.round(4).astype(np.float32)
    labels = np.where(vrng.random(len(j)) < args.labelled_fraction, base_labels[base_i], "")
    devices = device_names[j]
    return _window_set(x, _t_ms(k * length * step_ms, length, step_ms), labels, devices,
                       np.char.add(f"bench-s{args.seed}-", np.char.zfill(k.astype(str), 6)),
                       np.char.add(np.char.add("incoming/", devices), f"/bench-s{args.seed}-{v:03d}.csv"), hashes)


def _t_ms(starts_ms: np.ndarray, length: int, step_ms: float) -> np.ndarray:
    return (np.asarray(starts_ms, dtype=np.float64)[:, None] + np.arange(length) * step_ms).round()


def _manifest(version: str, parent: str | None, n: int, note: str) -> dict:
    return {"version": version, "parent": parent, "created_at": datetime.now(UTC).isoformat(), "uploads": [],
            "counts": {"windows_accepted": n}, "note": note}


def _train_model(config, windows) -> tuple[bytes, float, int]:
    from components.int8_model import Int8Model
    from components.model_inputs import input_groups
    from components.quantize.core import quantize
    from components.train.core import train

    trained = train(windows, config)
    tflite = quantize(trained.model, trained.data, config).tflite
    data = trained.data
    holdout_x, holdout_y = data.windows.x[data.holdout], data.y[data.holdout]
    accuracy = float((Int8Model(tflite, input_groups(config.data)).run_reference(holdout_x).argmax(1)
                      == holdout_y).mean())
    return tflite, accuracy, len(holdout_y)


def setup(root: Path, args) -> dict:
    """Reference version, production model, and `args.windows` new windows in `args.versions` child versions."""
    from components import registry
    from components.config import Config
    from components.dataset_features import VersionFeatures, features_key, version_features, write_drift_features
    from components.datasets import new_version_id, write_version
    from components.simulator import simulate_arrays
    from components.store import LocalStore, put_json

    started = time.perf_counter()
    store = LocalStore(root)
    data = Config().data
    length, step_ms = data.window_length, 1000.0 / data.sample_rate_hz
    now = datetime.now(UTC)

    ref_x, ref_labels, ref_devices = simulate_arrays("baseline", data, devices=REF_DEVICES,
                                                     windows_per_device=REF_WINDOWS_PER_DEVICE, seed=0)
    n_ref = len(ref_x)
    ref_k = np.arange(n_ref) % REF_WINDOWS_PER_DEVICE
    ref = _window_set(ref_x, _t_ms(ref_k * length * step_ms, length, step_ms), ref_labels, ref_devices,
                      np.array([f"baseline-s0-{i:05d}" for i in range(n_ref)]),
                      np.array([f"incoming/{d}/baseline-s0-000.csv" for d in ref_devices]))
    ref_version = new_version_id(now)
    write_drift_features(store, ref_version, ref, data)
    write_version(store, ref_version, ref, [], _manifest(ref_version, None, n_ref, "bench_monitor reference"))

    train_config = Config.from_dict({"train": {"epochs": args.epochs},
                                     "quantize": {"qat_epochs": 1, "representative_windows": 100}})
    t0 = time.perf_counter()
    tflite, holdout_accuracy, holdout_n = _train_model(train_config, ref)
    model_s = time.perf_counter() - t0
    model_version = registry.new_model_version(now)
    metrics = {"int8_accuracy": holdout_accuracy, "dataset_version": ref_version,
               "holdouts": {"holdout": {"windows": holdout_n, "int8_accuracy": holdout_accuracy}}}
    registry.register(store, model_version, {"model.tflite": tflite, "metrics.json": json.dumps(metrics).encode()},
                      {"dataset_version": ref_version, "blessed": False, "note": "bench_monitor"})
    registry.promote(store, model_version, force=True, by="bench_monitor", reason="benchmark setup", now=now)
    print(f"reference {ref_version}: {n_ref} windows; model {model_version} in production, int8 holdout "
          f"accuracy {holdout_accuracy:.3f} on {holdout_n} windows ({model_s:.0f} s)", flush=True)

    base_x, base_labels, _ = simulate_arrays(args.scenario, data, devices=BASE_DEVICES,
                                             windows_per_device=BASE_WINDOWS_PER_DEVICE, seed=1, truth=True)
    channel_sd = base_x.reshape(-1, base_x.shape[2]).std(0).astype(np.float32)
    rng = np.random.default_rng(args.seed)
    per_device = -(-args.windows // args.devices)  # ceil
    per_version = -(-per_device // args.versions)
    device_offset = (rng.standard_normal((args.devices, base_x.shape[2])) * NOISE["device_offset_sd"]
                     * channel_sd).astype(np.float32)
    device_names = np.array([f"dev-n{j:04d}" for j in range(args.devices)])
    parent, versions, written, labelled = ref_version, [], 0, 0
    for v in range(args.versions):
        # Version v holds windows k in [v * per_version, (v + 1) * per_version) of every device, device-major.
        k = np.arange(v * per_version, min((v + 1) * per_version, per_device))
        j = np.repeat(np.arange(args.devices), len(k))
        k = np.tile(k, args.devices)
        keep = j * per_device + k < args.windows  # the last device may get fewer windows
        j, k = j[keep], k[keep]
        if not len(j):
            break
        version = new_version_id(now + timedelta(seconds=v + 1))
        # The full mode generates a version in one slice (one random stream per version, as before); the
        # features-only mode in slices, each with its own stream.
        size = FEATURES_ONLY_SLICE if args.features_only else len(j)
        parts = []
        for p, start in enumerate(range(0, len(j), size)):
            rng_key = [args.seed, v, p] if args.features_only else [args.seed, v]
            ws = _new_windows(j[start:start + size], k[start:start + size], rng_key, base_x, base_labels,
                              channel_sd, device_offset, device_names, args, length, step_ms, v,
                              hashes=not args.features_only)
            labelled += int((ws.labels != "").sum())
            parts.append(version_features(ws, data) if args.features_only else ws)
        manifest = _manifest(version, parent, len(j), f"bench_monitor new part {v}"
                             + (" (features only: no samples stored)" if args.features_only else ""))
        if args.features_only:
            features = VersionFeatures(parts[0].names, *(np.concatenate([getattr(q, f) for q in parts])
                                                         for f in ("features", "peaks", "device_ids", "window_ids",
                                                                   "labels", "t0_ms")))
            store.put_bytes(features_key(version), features.to_npz())
            put_json(store, f"datasets/{version}/manifest.json", manifest)
        else:
            (ws,) = parts
            write_drift_features(store, version, ws, data)  # as ingest does, before the manifest
            write_version(store, version, ws, [], manifest)
        parent = version
        versions.append(version)
        written += len(j)
        print(f"new version {v + 1}/{args.versions} {version}: {len(j)} windows", flush=True)
    info = {
        "reference": {"version": ref_version, "scenario": "baseline", "seed": 0, "devices": REF_DEVICES,
                      "windows_per_device": REF_WINDOWS_PER_DEVICE, "windows": n_ref},
        "model": {"version": model_version, "train_epochs": args.epochs, "qat_epochs": 1,
                  "int8_holdout_accuracy": holdout_accuracy, "holdout_windows": holdout_n, "train_s": model_s,
                  "promotion": "forced (bench setup)"},
        "new": {"windows": written, "labelled_windows": labelled, "labelled_fraction": args.labelled_fraction,
                "devices": args.devices, "versions": versions, "windows_per_device": per_device,
                "how": (f"simulate_arrays({args.scenario!r}, seed=1, devices={BASE_DEVICES}, windows_per_device="
                        f"{BASE_WINDOWS_PER_DEVICE}, truth=True) tiled: new device j copies simulated device j mod "
                        f"{BASE_DEVICES} (its window k: simulated window k mod {BASE_WINDOWS_PER_DEVICE}), plus a "
                        f"per-device offset N(0, {NOISE['device_offset_sd']} sd) and per-sample noise "
                        f"N(0, {NOISE['sample_sd']} sd) of each channel (seed {args.seed}), rounded to 4 decimals; "
                        f"a seeded {args.labelled_fraction:.0%} keep their oracle label; one child version per "
                        "day-long slice of every device's windows"
                        + ("; features only: each version's drift features file and manifest, computed a slice of "
                           f"{FEATURES_ONLY_SLICE} windows at a time (a random stream per slice), no samples"
                           if args.features_only else "; drift features written before each manifest"))},
        "args": _setup_args(args),
        "store_bytes": sum(p.stat().st_size for p in root.rglob("*") if p.is_file()),
        "setup_s": time.perf_counter() - started,
    }
    (root / SETUP_MARKER).write_text(json.dumps(info, indent=1))
    return info


def _setup_args(args) -> dict:
    return {k: getattr(args, k) for k in ("windows", "devices", "versions", "labelled_fraction", "scenario", "seed",
                                          "epochs", "features_only")}


def child(root: str, html: str) -> None:
    """The monitor itself: what the drift-monitor pipeline's detect-drift step does, timed by part."""
    t0 = time.perf_counter()
    from components.config import Config
    from components.detect_drift.step import detect_drift, write_report
    from components.drift_inputs import load_monitor_inputs
    from components.store import LocalStore

    store, config = LocalStore(root), Config()
    t1 = time.perf_counter()
    inputs = load_monitor_inputs(store, None, config.data)
    t2 = time.perf_counter()
    rss_load = _maxrss_mb()
    report = detect_drift(inputs, config, html)
    t3 = time.perf_counter()
    rss_detect = _maxrss_mb()
    key = write_report(store, report, html)
    t4 = time.perf_counter()
    e = report.evidence
    print(json.dumps({
        "seconds": {"import": t1 - t0, "load": t2 - t1, "detect": t3 - t2, "write": t4 - t3, "total": t4 - t0},
        "peak_rss_mb_after": {"load": rss_load, "detect": rss_detect, "write": _maxrss_mb()},
        "decision": report.decision, "decision_key": key, "new_windows": e.get("new_windows"),
        "new_labelled_windows": e.get("new_labelled_windows"), "new_devices": e.get("new_devices"),
        "relabelled_windows": e.get("relabelled_windows"),
        "data_drift": {k: (e.get("data_drift") or {}).get(k) for k in
                       ("drifted", "drifted_features", "reference_devices", "new_devices", "permutations")},
        "concept_drift": {k: (e.get("concept_drift") or {}).get(k) for k in
                          ("drifted", "accuracy", "holdout_accuracy", "windows", "devices", "p_value")},
    }))


def anchor(root: str, windows: int, seed: int) -> None:
    """evidently's DataDriftPreset (default settings, as tests/bench_drift.py's evidently_default_drift runs it) on
    the stored drift features: every reference window against a seeded uniform sample of `windows` new ones.
    Timed without its imports and the loading: a yardstick of this machine's speed in the same run."""
    import pandas as pd

    from components.config import Config
    from components.drift_inputs import load_monitor_inputs
    from components.store import LocalStore
    from components.window_features import drift_feature_names

    data = Config().data
    inputs = load_monitor_inputs(LocalStore(root), None, data)
    rows = np.sort(np.random.default_rng(seed).choice(len(inputs.new), min(windows, len(inputs.new)),
                                                      replace=False))
    ref_f = inputs.reference.features(np.arange(len(inputs.reference)))[0]
    ref, new = (pd.DataFrame(f.astype(np.float64), columns=drift_feature_names(data))
                for f in (ref_f, inputs.new.features(rows)[0]))
    t0 = time.perf_counter()
    from evidently import Report
    from evidently.presets import DataDriftPreset
    t1 = time.perf_counter()
    Report([DataDriftPreset()]).run(new, ref).dict()
    t2 = time.perf_counter()
    print(json.dumps({"what": f"evidently DataDriftPreset() on the stored drift features ({ref.shape[1]} columns) "
                              f"of all {len(ref)} reference windows against a uniform sample of {len(new)} new "
                              f"windows (seed {seed}); Report.run and its result, not the imports",
                      "reference_windows": len(ref), "new_windows": len(new), "wall_s": t2 - t1,
                      "import_s": t1 - t0}))


def _in_child(args: list[str]) -> tuple[str, int, object]:
    """Run `python -m tests.bench_monitor ARGS` fresh: (its stdout's last line, wall seconds, rusage)."""
    cmd = [sys.executable, "-m", "tests.bench_monitor", *args]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1])
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"failed ({os.waitstatus_to_exitcode(status)}): {shlex.join(cmd)}")
    return out.decode().strip().splitlines()[-1], wall, usage


def run_monitor(root: Path) -> tuple[dict, float, float]:
    """The monitor in a fresh subprocess: (its JSON, wall seconds, peak RSS in MB).

    The parent stays small (setup runs in a subprocess of its own): a child started by vfork begins with its
    parent's ru_maxrss, so a large parent would hide the child's own peak.
    """
    html = str(root.parent / f"{root.name}-report.html")
    args = ["--child", str(root), "--html", html]
    line, wall, usage = _in_child(args)
    monitor = json.loads(line)
    monitor["ru_maxrss_mb"] = usage.ru_maxrss / 1024
    monitor["command"] = shlex.join([sys.executable, "-m", "tests.bench_monitor", *args])
    return monitor, wall, max(monitor["ru_maxrss_mb"], monitor["peak_rss_mb_after"]["write"])


def monitor_summary(argv: list[str] | None = None) -> dict:
    """For another bench: {"windows", "wall_s", "peak_mb", "target_wall_s", "target_peak_mb", "anchor"} of a
    run of this one with `argv` (e.g. ["--windows", "1000000", "--store", DIR]); the full JSON is in --out."""
    return main(argv)["summary"]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=1_000_000)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=10, help="child dataset versions holding the new windows")
    parser.add_argument("--labelled-fraction", type=float, default=0.1)
    parser.add_argument("--scenario", default="data-drift", choices=("baseline", "data-drift", "concept-drift"))
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--epochs", type=int, default=5, help="training epochs of the production model")
    parser.add_argument("--features-only", action="store_true",
                        help="new versions hold drift features and no samples (the 10,000,000-window mode)")
    parser.add_argument("--anchor-windows", type=int, default=50_000,
                        help="new windows in the evidently anchor's sample (0: no anchor)")
    parser.add_argument("--store", help="keep the prepared store here (reused if already prepared)")
    parser.add_argument("--out", default="bench_monitor.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--html", help=argparse.SUPPRESS)
    parser.add_argument("--anchor", help=argparse.SUPPRESS)
    parser.add_argument("--setup-only", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.html)
        return {}
    if args.anchor:
        anchor(args.anchor, args.anchor_windows, args.seed)
        return {}
    if args.setup_only:
        setup(Path(args.setup_only), args)
        return {}
    command = "python -m tests.bench_monitor " + shlex.join(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        root = Path(args.store).resolve() if args.store else Path(tmp) / "store"
        marker = root / SETUP_MARKER
        if marker.exists():
            info = json.loads(marker.read_text())
            if info.get("args") != _setup_args(args):
                raise SystemExit(f"{root} was prepared with {info.get('args')}, not {_setup_args(args)}")
            print(f"reusing the prepared store {root}", flush=True)
        else:
            subprocess.run([sys.executable, "-m", "tests.bench_monitor", *(sys.argv[1:] if argv is None else argv),
                            "--setup-only", str(root)], check=True, cwd=Path(__file__).resolve().parents[1])
            info = json.loads(marker.read_text())
            print(f"setup done in {info['setup_s']:.0f} s; store {info['store_bytes'] / 2**20:.0f} MiB", flush=True)
        load_before = os.getloadavg()
        monitor, wall, peak_mb = run_monitor(root)
        load_after = os.getloadavg()
        anchored = (json.loads(_in_child(["--anchor", str(root), "--anchor-windows", str(args.anchor_windows),
                                          "--seed", str(args.seed)])[0]) if args.anchor_windows else None)
    target_wall = TARGET_WALL_S_FEATURES_ONLY if args.features_only else TARGET_WALL_S
    target_peak = None if args.features_only else TARGET_PEAK_MB
    result = {
        "command": command,
        "monitor_command": monitor.pop("command"),
        "windows": info["new"]["windows"], "devices": info["new"]["devices"],
        "labelled_windows": info["new"]["labelled_windows"], "dataset_versions": len(info["new"]["versions"]),
        "features_only": args.features_only,
        "wall_s": wall, "seconds": monitor["seconds"], "peak_rss_mb": peak_mb,
        "peak_rss_mb_after": monitor["peak_rss_mb_after"],
        "targets": {"wall_s": target_wall, "peak_rss_mb": target_peak},
        "pass": {"wall_s": wall <= target_wall, "peak_rss_mb": None if target_peak is None else peak_mb <= target_peak},
        "decision": monitor["decision"], "monitor": monitor,
        "anchor": anchored,
        "summary": {"windows": info["new"]["windows"], "wall_s": wall, "peak_mb": peak_mb,
                    "target_wall_s": target_wall, "target_peak_mb": target_peak, "anchor": anchored},
        "setup": info,
        "machine": {"cpus": os.cpu_count(), "memory_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                    / 2**30, "python": platform.python_version(), "platform": platform.platform(),
                    "numpy": np.__version__,
                    "load_average_1_5_15min": {"before": load_before, "after": load_after}},
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: result[k] for k in ("command", "windows", "devices", "labelled_windows", "wall_s", "seconds",
                                             "peak_rss_mb", "peak_rss_mb_after", "pass", "decision", "anchor")},
                     indent=1))
    return result


if __name__ == "__main__":
    main()
