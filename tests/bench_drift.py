"""Benchmark of drift detection: a matrix of false-alarm and detection rates (a script, not a test).

    python -m tests.bench_drift --out bench_drift.json --markdown bench_drift.md

Data drift, by row (what happened) x cell (devices x windows per device, each side):
- null rows: the same devices later; new devices of the same population; the class mix only (one class 3x);
- kind rows: each of the simulator's data-drift kinds on every device (gain 10%, offset 0.1 g, stuck ay,
  accelerometer clipped at 2 g, noise x3, 45 Hz stamped as 50, ax/ay swapped), on the same devices later
  and on new devices (another seed's fleet, renamed) that carry the change;
- target rows: a 10% gain on 4 devices x 20 windows; a stuck axis / clipping on 1 device of 8; hardware
  revision B (the data-drift scenario: 10 new devices x 50 windows against 12 x 100); and a gain exactly as
  large as the smallest one the test reports it would catch (median over that cell's null trials). The
  1-of-8 rows also say what any test of the changed device against itself has to go on (within_device_bound):
  how many of its new windows the change touched, in how many trials none, and in how many an exact
  permutation test that could tell the touched windows apart would get below the family's share of alpha.
Trial t of a row simulates 32 devices x 40 windows per side once and every cell takes the first n devices
(sorted ids) and their first w windows: the cells of a trial share data, the trials do not.

Columns, all from the same run on the same windows:
- this method: detect_data_drift with the default DriftConfig, classes = the simulator's labels (the product
  uses the production model's predicted classes; the bench has no model for every trial);
- evidently: DataDriftPreset with default settings on the per-window features (dataset drift = half the columns);
- TFDV: its drift comparators at the configured thresholds (any feature over its threshold is an alarm).
evidently takes about 4 s a call and TFDV 0.5 s, so they run on the first few trials of each cell only
(--baseline-trials, --kind-baseline-trials), and their rates carry wide intervals: say so wherever they
are quoted.

Concept drift (unchanged from before): 10 devices x 20 labelled windows, baseline vs concept-drift scenario,
against an int8 model trained once on the reference (baseline seed 0, 12 x 100).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from dataclasses import replace

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from components.config import Config, DriftConfig  # noqa: E402
from components.simulator import simulate_arrays  # noqa: E402

DATA = Config().data
FLEETS, WINDOWS, MAX_FLEET, MAX_WINDOWS = (2, 4, 8, 32), (10, 40), 32, 40
CELLS = [(n, w) for n in FLEETS for w in WINDOWS]
KINDS = ("gain", "offset", "stuck", "clip", "noise", "rate", "swap")
NEW_SEED = 500_000  # another seed's fleet: new devices of the same population
NULL_ROWS = ("same devices later", "new devices, same population", "class mix only")
TARGET_ROWS = ("target: gain 10%, 4 devices x 20", "target: 1 of 8 stuck", "target: 1 of 8 clip",
               "target: revision B, 10 new x 50 vs 12 x 100")
ROW_ORDER = [*NULL_ROWS, *TARGET_ROWS, *(f"{k}, {s}" for k in KINDS for s in ("same devices", "new devices"))]


def rename(arrays, prefix: str = "new-"):
    x, labels, devices = arrays
    return x, labels, np.char.add(prefix, devices)


def cell(arrays, n_devices: int, windows: int):
    """The first n devices (sorted ids) and each one's first `windows` windows."""
    x, labels, devices = arrays
    keep = np.zeros(len(devices), dtype=bool)
    for device in sorted(set(devices))[:n_devices]:
        keep[np.flatnonzero(devices == device)[:windows]] = True
    return x[keep], labels[keep], devices[keep]


def evaluate(before, after, drift: DriftConfig, baselines: bool, classes: bool = True) -> dict:
    """One cell of one trial: this method's answer and, when asked, evidently's and TFDV's."""
    from components.detect_drift import detect_data_drift, feature_frame
    from components.detect_drift.core import tfdv_drift

    (rx, rl, rd), (nx, nl, nd) = before, after
    result = detect_data_drift(rx, rd, nx, nd, drift, DATA, ref_classes=rl if classes else None,
                               new_classes=nl if classes else None)
    gain = next(iter((result.sensitivity.get("gain") or {}).values()), None)  # the first sensor: the accelerometer
    out = {"drifted": result.drifted, "insufficient": result.status != "tested",
           "kinds": sorted({k["kind"] for k in result.kinds}), "mde_gain": gain,
           "class_mix": bool(result.class_mix.get("shifted")), "note": result.note,
           "family_alpha": min((f["alpha"] for f in result.families), default=None)}
    if baselines:
        ref, new = feature_frame(rx, DATA), feature_frame(nx, DATA)
        out["evidently"] = evidently_default_drift(ref, new)
        out["tfdv"] = bool(tfdv_drift(ref, new, drift)["drifted_features"])
    return out


def evidently_default_drift(ref_frame, new_frame) -> bool:
    """evidently's DataDriftPreset with default settings: dataset drift when >= half the columns drift (the
    baseline the matrix compares the method with; the product's own evidently report is `evidently_report`)."""
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    from components.detect_drift.core import evidently_columns

    numeric = [c for c in ref_frame.columns if pd.api.types.is_numeric_dtype(ref_frame[c])]
    _, share = evidently_columns(Report([DataDriftPreset()]).run(new_frame[numeric], ref_frame[numeric]))
    return bool(share >= 0.5)  # DataDriftPreset's default drift_share


def within_device_bound(before, after, control, n_devices: int, windows: int) -> dict:
    """What any test comparing the row's changed device (the first) with itself has to go on in one cell.

    `control`: the same seed with no device changed. The simulator draws each device's windows from a stream
    of its own, so the change alone tells them apart: `changed` counts the device's new windows it touched.
    `bound`: the smallest p-value an exact permutation test of the device's windows could give if it could
    tell every touched window from the rest (all of them on the new side): C(new, a) / C(all, a) with its
    windows relabelled across classes, or the product of that over the classes it has on both sides when
    relabelled within them, the smaller. Windows, not blocks: below 10 windows of a class a side they agree.
    """
    from math import comb

    (_, rl, rd), (nx, nl, nd), (cx, _, _) = (cell(a, n_devices, windows) for a in (before, after, control))
    device = sorted(set(nd))[0]
    mine, ref_classes = nd == device, rl[rd == device]
    touched, classes = (nx[mine] != cx[mine]).any(axis=(1, 2)), nl[mine]
    pooled = comb(len(classes), int(touched.sum())) / comb(len(classes) + len(ref_classes), int(touched.sum()))
    stratified = 1.0
    for c in set(classes) & set(ref_classes):
        k, a = int((classes == c).sum()), int(touched[classes == c].sum())
        stratified *= comb(k, a) / comb(k + int((ref_classes == c).sum()), a)
    return {"changed": int(touched.sum()), "bound": min(pooled, stratified)}


def simulate(scenario: str, seed: int, devices: int = MAX_FLEET, windows: int = MAX_WINDOWS, **kind):
    return simulate_arrays(scenario, DATA, devices=devices, windows_per_device=windows, seed=seed, **kind)


def row_trial(task: tuple) -> list[dict]:
    """Every cell of a group of rows for one trial seed: [{row, cell, trial, ...evaluate()}]. The null rows
    share one trial's reference windows, and so do the kind rows."""
    group, trial, baseline_trials, mde = task
    drift = replace(DriftConfig(), seed=trial)
    seed, baselines = 10_000 + trial, trial < baseline_trials
    records = []

    def add(name, before, after, cells, classes=True, control=None):
        for n, w in cells:
            result = evaluate(cell(before, n, w), cell(after, n, w), drift, baselines, classes)
            if control is not None:
                result.update(within_device_bound(before, after, control, n, w))
            records.append({"row": name, "cell": f"{n}x{w}", "trial": trial, **result})

    if group == "null":
        before = simulate("baseline", seed)
        add("same devices later", before, simulate("data-drift", seed, kind="gain", kind_devices=0), CELLS)
        add("new devices, same population", before, rename(simulate("baseline", seed + NEW_SEED)), CELLS)
        add("class mix only", before, simulate("data-drift", seed, kind="prior"), CELLS)
    elif group == "kinds":
        before = simulate("baseline", seed)
        for kind in KINDS:
            add(f"{kind}, same devices", before, simulate("data-drift", seed, kind=kind), CELLS)
            add(f"{kind}, new devices", before, rename(simulate("data-drift", seed + NEW_SEED, kind=kind)), CELLS)
    elif group == "targets":
        add(TARGET_ROWS[0], simulate("baseline", seed, 4, 20), simulate("data-drift", seed, 4, 20, kind="gain"),
            [(4, 20)])
        before = simulate("baseline", seed, 8, MAX_WINDOWS)
        for row, kind in zip(TARGET_ROWS[1:3], ("stuck", "clip"), strict=True):
            after = simulate("data-drift", seed, 8, MAX_WINDOWS, kind=kind, kind_devices=1)
            control = simulate("data-drift", seed, 8, MAX_WINDOWS, kind=kind, kind_devices=0)
            add(row, before, after, [(8, w) for w in WINDOWS], control=control)
        reference = simulate("baseline", 0, 12, 100)  # the reference of the earlier bench, every trial
        add(TARGET_ROWS[3], reference, simulate("data-drift", 2000 + trial, 10, 50), [(12, 100)], classes=False)
    elif group.startswith("at reported MDE"):
        n, w = mde["cell"]
        after = simulate("data-drift", seed + 1_000_000, n, w, kind="gain", kind_size=1 + mde["gain"])
        add(group, simulate("baseline", seed + 1_000_000, n, w), after, [(n, w)])
    else:
        raise ValueError(f"unknown group {group!r}")
    return records


# ------------------------------------------------------------------------------------------------ aggregation


def rate(flags: list[bool]) -> dict:
    from scipy.stats import binomtest

    k, n = int(sum(flags)), len(flags)
    ci = binomtest(k, n).proportion_ci(0.95, method="exact") if n else None
    return {"count": k, "trials": n, "rate": k / n if n else None, "ci95": [ci.low, ci.high] if ci else None}


def expected_kind(row: str) -> str | None:
    """The kind the namer should give: the injected one (None for null rows and hardware revision B)."""
    for kind in KINDS:
        if row.startswith(kind) or row.endswith(f" {kind}") or row.startswith(f"at reported MDE: {kind}"):
            return kind
    return "gain" if row.startswith("target: gain") else None


def summarise(records: list[dict]) -> list[dict]:
    cells: dict[tuple, list[dict]] = {}
    for r in records:
        cells.setdefault((r["row"], r["cell"]), []).append(r)
    out = []
    for (row, name), rs in cells.items():
        rs.sort(key=lambda r: r["trial"])
        kind, found = expected_kind(row), [r for r in rs if r["drifted"]]
        gains = [r["mde_gain"] for r in rs if r["mde_gain"] is not None]
        entry = {"row": row, "cell": name, "null": row in NULL_ROWS, "method": rate([r["drifted"] for r in rs]),
                 "insufficient": rate([r["insufficient"] for r in rs]),
                 "named_right": rate([kind in r["kinds"] for r in found]) if kind else None,
                 "class_mix_reported": rate([r["class_mix"] for r in rs]),
                 "reported_mde_gain_median": float(np.median(gains)) if gains else None,
                 "evidently": rate([r["evidently"] for r in rs if "evidently" in r]),
                 "tfdv": rate([r["tfdv"] for r in rs if "tfdv" in r]),
                 "note_example": next((r["note"] for r in rs if r["insufficient"]), "")}
        if any("changed" in r for r in rs):  # what a test of the changed device against itself has to go on
            changed = [r["changed"] for r in rs]
            entry["changed_windows"] = {"median": float(np.median(changed)),
                                        "p5_p95": [float(q) for q in np.percentile(changed, [5, 95])]}
            entry["none_changed"] = rate([c == 0 for c in changed])
            entry["bound_below_family_alpha"] = rate([r["family_alpha"] is not None
                                                      and r["bound"] < r["family_alpha"] for r in rs])
        out.append(entry)
    order = {row: i for i, row in enumerate(ROW_ORDER)}
    return sorted(out, key=lambda e: (order.get(e["row"], len(order)), [int(v) for v in e["cell"].split("x")]))




def _pct(r: dict | None, counts: bool = True) -> str:
    if not r or not r["trials"]:
        return "-"
    rate = f"{r['rate']:.1%}" if 0 < r["rate"] < 0.1 else f"{r['rate']:.0%}"
    return f"{rate} ({r['count']}/{r['trials']})" if counts else rate


def pivot(summary: list[dict], meta: dict) -> str:
    """The README's view: this method's rate per row and cell ("insuff." where no test could run), then the
    target rows with every column."""
    cells = [f"{n}x{w}" for n, w in CELLS]
    by = {(e["row"], e["cell"]): e for e in summary}
    trials = {e["row"]: e["method"]["trials"] for e in summary}
    lines = ["| this method: alarm rate | trials | " + " | ".join(cells) + " |", "|---|---|" + "---|" * len(cells)]
    for row in [r for r in ROW_ORDER if r in trials and not r.startswith(("target", "at reported"))]:
        values = []
        for name in cells:
            e = by.get((row, name))
            values.append("-" if e is None else "insuff." if e["insufficient"]["rate"] == 1 else
                          _pct(e["method"], counts=False))
        lines.append(f"| {row} | {trials[row]} | " + " | ".join(values) + " |")
    lines += ["", "| target | cell | this method | kind named | reported MDE (gain) | evidently | TFDV "
                  "| changed windows: median (5-95%) | none changed | within-device bound < family alpha |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for e in summary:
        if e["row"].startswith(("target", "at reported")):
            mde = e["reported_mde_gain_median"]
            changed = e.get("changed_windows")
            bound = ("- | - | -" if changed is None else
                     f"{changed['median']:g} ({changed['p5_p95'][0]:g}-{changed['p5_p95'][1]:g}) | "
                     f"{_pct(e['none_changed'])} | {_pct(e['bound_below_family_alpha'])}")
            lines.append(f"| {e['row']} | {e['cell']} | {_pct(e['method'])} | {_pct(e['named_right'])} | "
                         f"{'-' if mde is None else f'{mde:.1%}'} | {_pct(e['evidently'])} | {_pct(e['tfdv'])} | "
                         f"{bound} |")
    return "\n".join(lines) + "\n"


def markdown(summary: list[dict], meta: dict) -> str:
    lines = [f"Data drift, `{meta['command']}` ({meta['seconds'] / 60:.0f} min on {meta['workers']} processes). "
             f"Rates with (count/trials); null rows are false alarms, the others detections. evidently and TFDV "
             f"ran on the first {meta['baseline_trials']} trials of each null and target cell and the first "
             f"{meta['kind_baseline_trials']} of each kind cell only.", "",
             "| row | devices x windows | this method | insufficient data | kind named | reported MDE (gain) "
             "| evidently | TFDV |", "|---|---|---|---|---|---|---|---|"]
    for e in summary:
        mde = e["reported_mde_gain_median"]
        lines.append(f"| {e['row']} | {e['cell']} | {_pct(e['method'])} | {_pct(e['insufficient'])} | "
                     f"{_pct(e['named_right'])} | {'-' if mde is None else f'{mde:.1%}'} | "
                     f"{_pct(e['evidently'])} | {_pct(e['tfdv'])} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ concept drift


def concept_bench(trials: int) -> dict:
    """Concept drift: false alarms and detections of detect_concept_drift against a real int8 model."""
    from components.datasets import WindowSet
    from components.detect_drift import detect_concept_drift
    from components.int8_model import Int8Model
    from components.model_inputs import input_groups, label_indices
    from components.quantize.core import quantize
    from components.train.core import train

    config, started = Config(), time.time()
    x, labels, devices = simulate("baseline", 0, 12, 100)
    n, t, _ = x.shape
    empty = np.full(n, "", dtype=str)
    windows = WindowSet(x=x, t_ms=np.tile(np.arange(t) * 20.0, (n, 1)), labels=labels, device_ids=devices,
                        window_ids=np.array([f"w{i}" for i in range(n)]), sources=empty, pred_labels=empty,
                        pred_scores=np.full(n, np.nan, dtype=np.float32),
                        hashes=np.array([f"h{i}" for i in range(n)]))
    trained = train(windows, config)
    tflite = quantize(trained.model, trained.data, config).tflite
    data, groups = trained.data, input_groups(config.data)
    holdout_y = data.y[data.holdout]
    accuracy = float((Int8Model(tflite, groups).run_reference(data.windows.x[data.holdout]).argmax(1)
                      == holdout_y).mean())
    flags = {"false_alarm": [], "detection": []}
    for trial in range(trials):
        drift = replace(DriftConfig(), seed=trial)
        for scenario, seed, key in (("baseline", 3000 + trial, "false_alarm"),
                                    ("concept-drift", 4000 + trial, "detection")):
            nx, nl, nd = simulate(scenario, seed, 10, 20)
            result = detect_concept_drift(tflite, groups, nx, label_indices(nl, config.data.class_names), nd,
                                          accuracy, len(holdout_y), drift, config.data.class_names)
            flags[key].append(result.drifted)
    return {"model": {"kind": "int8 tflite (TFLite reference kernels), default Config train + quantize",
                      "reference": "baseline seed 0, 12 devices x 100", "holdout_accuracy": accuracy,
                      "holdout_windows": len(holdout_y)},
            "new": "10 devices x 20 labelled windows; baseline seeds 3000+t, concept-drift seeds 4000+t",
            **{k: rate(v) for k, v in flags.items()}, "seconds": time.time() - started}


# ------------------------------------------------------------------------------------------------ main


def run_tasks(tasks: list[tuple], workers: int, records: list[dict], progress) -> None:
    ctx = multiprocessing.get_context("fork")  # before TensorFlow is imported here: the workers import it
    with ctx.Pool(workers) as pool:
        for i, result in enumerate(pool.imap_unordered(row_trial, tasks)):
            records.extend(result)
            progress(i + 1, len(tasks))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--null-trials", type=int, default=200, help="per null row (and target row)")
    parser.add_argument("--kind-trials", type=int, default=20, help="per kind row")
    parser.add_argument("--baseline-trials", type=int, default=2,
                        help="trials per null and target cell evidently and TFDV run on")
    parser.add_argument("--kind-baseline-trials", type=int, default=1,
                        help="trials per kind cell evidently and TFDV run on")
    parser.add_argument("--concept-trials", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--groups", default="null,targets,kinds",
                        help="task groups to run (comma-separated; the MDE rows need null): a part of the matrix")
    parser.add_argument("--out", default="bench_drift.json")
    parser.add_argument("--markdown", default="bench_drift.md")
    parser.add_argument("--render", action="store_true", help="only write --markdown again from --out")
    args = parser.parse_args(argv)
    if args.render:  # the tables again from a finished run's JSON (no trials)
        done = json.loads(open(args.out).read())
        ROW_ORDER.extend(sorted({e["row"] for e in done["data_drift"] if e["row"].startswith("at reported")}))
        with open(args.markdown, "w") as f:
            f.write(pivot(done["data_drift"], done) + "\n" + markdown(done["data_drift"], done))
        return done
    started = time.time()
    meta = {"command": "python -m tests.bench_drift " + " ".join(sys.argv[1:] if argv is None else argv),
            "workers": args.workers, "baseline_trials": args.baseline_trials,
            "kind_baseline_trials": args.kind_baseline_trials, "drift_config": DriftConfig().__dict__,
            "null_trials": args.null_trials, "kind_trials": args.kind_trials, "groups": args.groups, "seconds": 0.0}
    records: list[dict] = []

    def write(done: int = 0, total: int = 0) -> dict:
        meta["seconds"] = time.time() - started
        summary = summarise(records)
        result = {**meta, "tasks_done": [done, total], "data_drift": summary}
        with open(args.out, "w") as f:  # partial results survive an interrupted run
            json.dump(result, f, indent=1)
        with open(args.markdown, "w") as f:
            f.write(pivot(summary, meta) + "\n" + markdown(summary, meta))
        return result

    def progress(done: int, total: int) -> None:
        if done % 25 == 0 or done == total:
            print(f"{done}/{total} tasks, {time.time() - started:.0f} s", flush=True)
            write(done, total)

    b = args.baseline_trials
    groups = args.groups.split(",")
    tasks = [(group, t, b, None) for t in range(args.null_trials) for group in ("null", "targets") if group in groups]
    tasks += [("kinds", t, args.kind_baseline_trials, None) for t in range(args.kind_trials) if "kinds" in groups]
    tasks.sort(key=lambda task: (task[1], task[0] != "kinds"))  # the first trials first: early partial tables
    run_tasks(tasks, args.workers, records, progress)
    # The test's own statement of what it would miss, checked: a gain as large as the reported smallest one.
    summary = summarise(records)
    mde_tasks = []
    for e in summary:
        if e["row"] == "same devices later" and e["cell"] in ("4x40", "8x10", "32x10"):
            mde = {"cell": tuple(int(v) for v in e["cell"].split("x")), "gain": e["reported_mde_gain_median"]}
            row = f"at reported MDE: gain {mde['gain']:.1%}, same devices"
            mde_tasks += [(row, t, 0, mde) for t in range(args.kind_trials * 2)]
    run_tasks(mde_tasks, args.workers, records, progress)
    ROW_ORDER.extend(sorted({task[0] for task in mde_tasks}))
    write(len(tasks), len(tasks))
    if args.concept_trials:
        meta["concept_drift"] = concept_bench(args.concept_trials)
    result = write(len(tasks), len(tasks))
    print(markdown(result["data_drift"], meta))
    print(json.dumps(meta.get("concept_drift"), indent=1))
    return result


if __name__ == "__main__":
    main()
