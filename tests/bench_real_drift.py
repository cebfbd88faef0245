"""Drift detection on real recordings: BasicMotions, shipped in the aeon package (a script, not a test).

    python -m tests.bench_real_drift --out bench_real_drift.json

BasicMotions (aeon 1.6.0's aeon/datasets/data/BasicMotions, TRAIN + TEST): 80 recordings of a smartwatch's
3D accelerometer and gyroscope, 100 samples at 10 Hz, four students x four activities (standing, walking,
running, badminton) x five. The wheel is fetched with `pip download aeon==1.6.0 --no-deps` (only the data
files are read; aeon itself is not installed). The files do not say which student wore the watch, so the
"devices" here are made up: each trial deals every activity's 20 recordings out to 8 devices at random, so
the device effects a real fleet has are absent (which makes the paired test's job no easier: its units are
the device's own windows either way).

Two protocols per trial:
- split: each device's recordings, class by class, half before and half after (5 + 5 windows a device);
  the after half changed by the kind (or not: the null);
- re-upload: all 80 recordings before, the same 80 after with the change (the issue's "the same motions").
Kinds, applied to the after side only: gain x1.10 on the accelerometer, offset +1 m/s^2 (0.1 g) on its axes,
ay stuck at its first reading, the accelerometer clipped at the median of its recordings' peak |reading|, noise
(Gaussian, SD 3x the median successive-sample difference) on the accelerometer, ax/ay swapped, and a time
base 10% fast (resampled by linear interpolation). Classes: the labels.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from components.config import Channel, DataConfig, DriftConfig
from components.detect_drift import detect_data_drift

WHEEL = "aeon==1.6.0"
MEMBER = "aeon/datasets/data/BasicMotions/BasicMotions_{}.ts"
# The accelerometer reads in m/s^2 (peaks near 30: about 3 g), the gyroscope in rad/s.
DATA = DataConfig(channels=(Channel("ax", "m_s2", -160, 160), Channel("ay", "m_s2", -160, 160),
                            Channel("az", "m_s2", -160, 160),
                            Channel("gx", "rad_s", -35, 35), Channel("gy", "rad_s", -35, 35),
                            Channel("gz", "rad_s", -35, 35)),
                  window_length=100, sample_rate_hz=10.0,
                  class_names=("Standing", "Walking", "Running", "Badminton"))
KINDS = ("gain", "offset", "stuck", "clip", "noise", "swap", "rate")


def load(cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """x [80, 100, 6] and labels [80] from the aeon wheel (downloaded into `cache` once)."""
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("aeon-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-q", "-d", str(cache)],
                       check=True)
        wheels = sorted(cache.glob("aeon-*.whl"))
    xs, labels = [], []
    with zipfile.ZipFile(wheels[-1]) as wheel:
        for split in ("TRAIN", "TEST"):
            text = wheel.read(MEMBER.format(split)).decode()
            rows = text.split("@data", 1)[1].split()
            for row in rows:
                *dims, label = row.split(":")
                xs.append(np.array([[float(v) for v in d.split(",")] for d in dims]).T)  # [T, C]
                labels.append(label)
    return np.stack(xs).astype(np.float32), np.array(labels)


def change(x: np.ndarray, kind: str | None, reference: np.ndarray) -> np.ndarray:
    """The after side's windows with `kind` applied (None: unchanged)."""
    x = x.copy()
    if kind == "gain":
        x[:, :, :3] *= 1.10
    elif kind == "offset":
        x[:, :, :3] += 1.0
    elif kind == "stuck":
        x[:, :, 1] = x[:, :1, 1]
    elif kind == "clip":
        bound = float(np.median(np.abs(reference[:, :, :3]).max(axis=(1, 2))))
        x[:, :, :3] = np.clip(x[:, :, :3], -bound, bound)
    elif kind == "noise":
        step = float(np.median(np.abs(np.diff(reference[:, :, :3], axis=1))))
        x[:, :, :3] += np.random.default_rng(0).normal(0, 3 * step, x[:, :, :3].shape)
    elif kind == "swap":
        x[:, :, [0, 1]] = x[:, :, [1, 0]]
    elif kind == "rate":  # the watch samples 10% faster than it stamps: each window covers 10% less motion
        t = np.arange(x.shape[1])  # (linear interpolation, which also smooths the watch's repeated samples)
        x = np.stack([[np.interp(t * 0.9, t, w[:, c]) for c in range(x.shape[2])] for w in x]).transpose(0, 2, 1)
    return x.astype(np.float32)


def deal(labels: np.ndarray, devices: int, rng: np.random.Generator) -> np.ndarray:
    """Made-up device ids: every class's recordings dealt out to the devices at random."""
    out = np.empty(len(labels), dtype=object)
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        out[idx] = [f"watch-{i % devices}" for i in range(len(idx))]
    return out.astype(str)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--cache", default=".tinymlops/cache/aeon")
    parser.add_argument("--out", default="bench_real_drift.json")
    args = parser.parse_args(argv)
    started = time.time()
    x, labels = load(Path(args.cache))
    rows: dict[str, dict[str, list]] = {}
    for trial in range(args.trials):
        rng = np.random.default_rng(trial)
        devices = deal(labels, args.devices, rng)
        after = np.zeros(len(x), dtype=bool)
        for key in np.unique(np.char.add(devices, labels)):
            idx = rng.permutation(np.flatnonzero(np.char.add(devices, labels) == key))
            after[idx[: len(idx) // 2]] = True
        drift = DriftConfig(seed=trial)
        for kind in (None, *KINDS):
            for protocol in ("split", "re-upload"):
                if protocol == "split":
                    ref, new = (x[~after], labels[~after], devices[~after]), (x[after], labels[after], devices[after])
                else:
                    ref, new = (x, labels, devices), (x, labels, devices)
                if protocol == "re-upload" and kind is None and trial:
                    continue  # the same windows twice: one trial says it
                result = detect_data_drift(ref[0], ref[2], change(new[0], kind, x), new[2], drift, DATA,
                                           ref_classes=ref[1], new_classes=new[1])
                row = rows.setdefault(f"{kind or 'null'}, {protocol}", {"drifted": [], "named": [], "status": [],
                                                                        "mde_gain": []})
                row["drifted"].append(result.drifted)
                row["status"].append(result.status)
                row["named"].append(sorted({k["kind"] for k in result.kinds}))
                row["mde_gain"].append(result.sensitivity.get("gain", {}).get("m_s2"))
    summary = {}
    for name, row in rows.items():
        kind = name.split(",")[0]
        found = [n for d, n in zip(row["drifted"], row["named"], strict=True) if d]
        gains = [g for g in row["mde_gain"] if g is not None]
        summary[name] = {"trials": len(row["drifted"]), "alarms": int(sum(row["drifted"])),
                         "insufficient": row["status"].count("insufficient data"),
                         "named_right": None if kind == "null" else int(sum(kind in n for n in found)),
                         "names_given": sorted({k for n in found for k in n}),
                         "reported_mde_gain_median": float(np.median(gains)) if gains else None}
    result = {"command": "python -m tests.bench_real_drift " + " ".join(sys.argv[1:] if argv is None else argv),
              "data": f"BasicMotions from {WHEEL} (TRAIN + TEST, {len(x)} recordings)", "devices": args.devices,
              "seconds": time.time() - started, "rows": summary}
    Path(args.out).write_text(json.dumps(result, indent=1))
    for name, s in summary.items():
        print(f"{name:22s} alarms {s['alarms']:3d}/{s['trials']:<3d} insufficient {s['insufficient']:3d} "
              f"named right {s['named_right']} names {s['names_given']} mde {s['reported_mde_gain_median']}")
    return result


if __name__ == "__main__":
    main()
