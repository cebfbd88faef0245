"""What silence means: the smallest gain and offset change per sensor a data-drift test would catch.

A normal-shift approximation of the permutation statistics (permutation.py), calibrated by tests/bench_drift.py.
"""

from __future__ import annotations

import math

import numpy as np

from components.config import DriftConfig
from components.detect_drift.features_by_sensor import sensor_features
from components.detect_drift.permutation import Between, Paired, critical, device_relabellings

Z_POWER = 1.6448536269514722  # one-sided normal quantile: 95% power
# The normal-shift approximation of `smallest_changes` is optimistic: at its size, simulated gains were found in
# 65-75% of trials (8 devices x 20 windows and 4 x 10, 20 seeds each), about 95% at 1.3 times it. Calibrated
# here; tests/bench_drift.py measures the detection rate at the reported size in every cell.
SENSITIVITY_CALIBRATION = 1.3


def smallest_changes(paired, between, chosen, fleet_crit, device_crit, testable, names, data, config, rng) -> dict:
    """The smallest gain (relative) and offset (sensor units) each tested family would catch with 95% power.

    The statistics are linear in the new side's features once their scales are fixed, so a change of size s
    moves each one by s times a slope read off the data; it is caught with 95% power when the slope times s
    reaches the family's critical value plus 1.645 (the statistic's null spread is about 1). The smallest s
    over the features and families is reported; an approximation, calibrated by bench_drift.py.
    """
    out = {"power": 0.95, "method": "normal shift of the permutation statistics (slope x size = critical + "
                                    "1.645)", "gain": {}, "offset": {}}
    for sensor, unit, gain_idx, mean_idx, _ in sensor_features(names, data):
        best_gain, best_offset = math.inf, {c: math.inf for c in mean_idx}
        if paired is not None and (fleet_crit is not None or device_crit is not None):
            level_new = np.abs(paired.ref_level + paired.diff) * testable  # a gain g moves a feature by g * level
            best_gain = min(best_gain, paired_smallest(paired, gain_idx, level_new[:, gain_idx], fleet_crit,
                                                        device_crit))
            for c, j in mean_idx.items():  # an offset o moves the channel's mean by o
                moved = np.full((len(paired.devices), 1), float(testable[j]))
                best_offset[c] = min(best_offset[c], paired_smallest(paired, [j], moved, fleet_crit, device_crit,
                                                                      upper=1e6))
        if between is not None and "between devices" in chosen:
            assign = np.zeros((1, len(between.ref_means) + len(between.new_means)))
            assign[0, len(between.ref_means):] = 1
            t0 = between.t(assign)[0]
            crit = between_critical(between, testable, config, rng)
            for delta_kind in ("gain", "offset"):
                step = np.zeros(len(names))
                if delta_kind == "gain":
                    step[gain_idx] = 0.01 * np.abs(between.new_level[gain_idx])
                    slope = np.abs(between.t(assign, step)[0] - t0) / 0.01 * testable
                    best_gain = min(best_gain, SENSITIVITY_CALIBRATION * (crit + Z_POWER)
                                    / max(float(slope[gain_idx].max()), 1e-300))
                else:
                    for c, j in mean_idx.items():
                        unit_step = np.zeros(len(names))
                        unit_step[j] = 1e-3
                        slope = abs(between.t(assign, unit_step)[0][j] - t0[j]) / 1e-3 * testable[j]
                        best_offset[c] = min(best_offset[c], SENSITIVITY_CALIBRATION * (crit + Z_POWER)
                                             / max(float(slope), 1e-300))
        worst_offset = max(best_offset.values())
        out["gain"][sensor] = best_gain if math.isfinite(best_gain) else None
        out["offset"][sensor] = {"unit": unit, "any_axis": worst_offset if math.isfinite(worst_offset) else None,
                                 "per_axis": {c: (v if math.isfinite(v) else None) for c, v in best_offset.items()}}
    out["statement"] = statement(out, paired, between, chosen)
    return out


def paired_smallest(p: Paired, features: list[int], moved: np.ndarray, fleet_crit, device_crit,
                     upper: float = 4.0) -> float:
    """The smallest size s at which a change moving `features` by s * moved [D, J] reaches 95% power.

    A device's statistic is the shift over its blocks' SD; the SD is taken over both sides, so a shift of
    the new blocks by delta inflates it to sqrt(sd^2 + delta^2 * n_new * n_ref / (n (n - 1))): bisection on s.
    """
    n_new, n_ref = p.new_blocks[:, None].astype(float), p.ref_blocks[:, None].astype(float)
    n = n_new + n_ref
    spread = n_new * n_ref / (n * np.maximum(n - 1, 1))
    rel = 1 / p.weights[:, None]
    weights = p.weights[:, None] / math.sqrt(float((p.weights ** 2).sum()))
    scale = p.scale[:, features]

    def reaches(size: float) -> bool:
        shift = size * moved
        sd = np.sqrt(scale ** 2 + shift ** 2 * spread)
        z = np.where(sd > 0, shift / np.where(sd > 0, sd, 1) / rel, 0.0)
        ok = False
        if fleet_crit is not None:
            ok |= bool(((weights * z).sum(0) >= fleet_crit + Z_POWER).any())
        if device_crit is not None:
            ok |= bool((z >= device_crit + Z_POWER).any())
        return ok

    if not reaches(upper):
        return math.inf
    low, high = 0.0, upper
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (low, middle) if reaches(middle) else (middle, high)
    return high * SENSITIVITY_CALIBRATION


def between_critical(between: Between, testable, config: DriftConfig, rng) -> float:
    perms = device_relabellings(between, rng, min(config.permutations, 500))
    return critical(np.abs(between.t(perms) * testable).max(1), config.alpha_data)


def statement(out: dict, paired, between, chosen) -> str:
    parts = []
    if paired is not None and chosen & {"paired, per device", "paired, fleet"}:
        windows = paired.windows
        parts.append(f"{len(paired.devices)} device(s) seen before x {int(np.median(windows[:, 1]))} new windows "
                     f"(median) against {int(np.median(windows[:, 0]))} of their own")
    if between is not None and "between devices" in chosen:
        parts.append(f"{len(between.new_means)} new device(s) against {len(between.ref_means)}")
    changes = []
    for sensor, gain in out["gain"].items():
        offset = out["offset"][sensor]
        if gain is not None:
            changes.append(f"a {sensor} gain change below {gain:.1%}")
        if offset["any_axis"] is not None:
            changes.append(f"a {sensor} offset below {offset['any_axis']:.3g} {offset['unit']} on any axis")
    if not changes:
        return "no test could run: any change would go unnoticed"
    return f"with {' and '.join(parts)}, {', '.join(changes)} would go unnoticed at 95% power"
