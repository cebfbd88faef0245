"""What a data drift looks like: gain, offset, stuck axis, clipping, noise, time base, axis swap, class mix.

The test (data_drift.py) says whether and where; this names the change from the pattern of the drifted
features, per sensor (the channels sharing a unit), so a person knows what to look at on the board:

- stuck: a channel's variation (std) fell to almost nothing;
- clip: a channel's largest readings pile up at a lower bound than before (from the raw windows);
- swap: two channels of a sensor read as each other did; orientation: axis means moved, the magnitude not;
- gain: the magnitude and the variation changed by the same factor;
- offset: axis means moved, their variation did not;
- noise: the sample-to-sample jitter grew, the magnitude much less;
- rate: the dominant frequencies moved together on every sensor, the amplitudes not (the time base lies);
- prior (class mix): reported apart by `class_mix_shift`, since it is not a sensor change.

Rules of thumb on effect patterns, not tests: the decision does not depend on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy import stats

from components.config import DataConfig

STUCK_STD_RATIO = 0.05  # a channel's std at or below this share of before: stuck
CLIP_PEAK_RATIO = 0.97  # the new peak at most this share of before ...
CLIP_SHARE = 0.005  # ... and at least this share of the samples at that peak: clipped
SWAP_RATIO = 0.25  # crossed distance below this share of the straight one: swapped
SAME_FACTOR = 0.5  # gain: the std's change within this share of the magnitude's
RATE_CHANGE = 0.04  # dominant frequencies moved together by more than this: the time base
ROTATION_SHARE = 0.25  # magnitude moved by less than this share of the axis means' move: rotated, not offset


@dataclass
class KindEvidence:
    """A unit to name: a device (or a group of devices), its features' levels before and after, what drifted."""

    devices: tuple[str, ...]
    ref_level: np.ndarray  # [K] mean feature values before
    new_level: np.ndarray  # [K] after (class-matched for devices seen before)
    significant: np.ndarray  # [K] bool
    fleet: bool = False  # a fleet-level finding (the devices' combined statistic), not one device's
    new_devices: bool = False  # devices seen on the new side only, against the reference devices


def saturation(ref_x, ref_devices, new_x, new_devices, data: DataConfig) -> dict:
    """Per side and device: each channel's peak |reading| and the share of samples at it (within 1e-6)."""
    from components.window_features import channel_peaks

    out = {}
    for side, x, devices in (("ref", ref_x, ref_devices), ("new", new_x, new_devices)):
        count = SaturationCount(devices, channel_peaks(x), np.asarray(x).shape[1])
        count.add(np.arange(len(devices)), np.asarray(x))
        out.update(count.result(side))
    return out


class SaturationCount:
    """`saturation` for one side, counted a few windows at a time: the raw samples need not be in memory at once.

    A device's peak is the largest of its windows' channel peaks (window_features.channel_peaks, stored with the
    features), so only its windows that reach the peak have samples to count; the shares are those `saturation`
    computes from all the samples at once.
    """

    def __init__(self, devices: np.ndarray, peaks: np.ndarray, window_length: int):
        self.names, self.codes = np.unique(np.asarray(devices, dtype=str), return_inverse=True)
        self.peak = np.full((len(self.names), peaks.shape[1]), -np.inf)
        np.maximum.at(self.peak, self.codes, np.asarray(peaks, dtype=np.float64))
        self.threshold = self.peak - 1e-6 * np.maximum(self.peak, 1.0)
        self.reaching = (np.asarray(peaks, dtype=np.float64) >= self.threshold[self.codes]).any(axis=1)
        self.at_peak = np.zeros(self.peak.shape)
        self.samples = np.bincount(self.codes, minlength=len(self.names)) * window_length

    def add(self, positions: np.ndarray, x: np.ndarray) -> None:
        """Count the samples at the peak in windows `x` [n, T, C], the windows at `positions` of the devices."""
        keep = self.reaching[positions]
        codes = self.codes[positions[keep]]
        at = (np.abs(np.asarray(x[keep], dtype=np.float64)) >= self.threshold[codes][:, None, :]).sum(axis=1)
        np.add.at(self.at_peak, codes, at)

    def result(self, side: str) -> dict:
        share = self.at_peak / np.maximum(self.samples, 1)[:, None]
        return {(side, str(d)): (self.peak[i], share[i]) for i, d in enumerate(self.names)}


def _clipped(e: KindEvidence, peaks: dict, channel: int, all_ref: list[str]) -> tuple[float, float] | None:
    new = [peaks[("new", d)] for d in e.devices if ("new", d) in peaks]
    ref_ids = all_ref if e.new_devices else e.devices
    ref = [peaks[("ref", d)] for d in ref_ids if ("ref", d) in peaks]
    if not new or not ref:
        return None
    new_peak = float(np.median([p[channel] for p, _ in new]))
    new_share = float(np.median([s[channel] for _, s in new]))
    ref_peak = float(np.median([p[channel] for p, _ in ref]))
    ref_share = float(np.median([s[channel] for _, s in ref]))
    if 0 < new_peak < CLIP_PEAK_RATIO * ref_peak and new_share >= max(CLIP_SHARE, 3 * ref_share):
        return new_peak, ref_peak
    return None


def name_kinds(evidence: list[KindEvidence], names: list[str], data: DataConfig, peaks: dict) -> list[dict]:
    """Each named change once, with the devices it was seen on (merged over per-device findings)."""
    from components.model_inputs import input_groups

    index = {n: i for i, n in enumerate(names)}
    all_ref = sorted(d for side, d in peaks if side == "ref")
    merged: dict[tuple, dict] = {}
    fleet_sensors: set[str] = set()
    for e in sorted(evidence, key=lambda e: not e.fleet):  # fleet-wide findings first
        for found in _kinds_of(e, index, data, peaks, all_ref, input_groups(data)):
            scope = "new devices" if e.new_devices else "fleet" if e.fleet else "device"
            if e.fleet and not e.new_devices:
                fleet_sensors.add(found["sensor"])
            elif not e.fleet and fleet_sensors and (found["sensor"] in fleet_sensors or found["kind"] == "other"):
                continue  # the fleet-wide finding names it, with every device
            key = (found["kind"], found["sensor"], tuple(found["channels"]), scope)
            entry = merged.setdefault(key, {**found, "scope": scope, "devices": []})
            entry["devices"] = sorted(set(entry["devices"]) | set(e.devices))
    return list(merged.values())


def _kinds_of(e: KindEvidence, index: dict, data: DataConfig, peaks: dict, all_ref: list[str], groups) -> list[dict]:
    """The kinds of change one unit's evidence shows: each sensor's, then the time base's (which replaces the
    amplitude kinds it explains), else "other" with the drifted features."""
    found = []
    for g in groups:
        found += _sensor_kinds(e, index, g, data, peaks, all_ref)
    rate = _rate_kind(e, index, data, groups)
    if rate is not None:
        found = [f for f in found if f["kind"] not in ("noise", "gain", "offset", "other")]
        found.append(rate)
    if not found:
        top = [n for n, j in sorted(index.items(), key=lambda kv: kv[1]) if e.significant[j]][:6]
        found.append({"kind": "other", "sensor": "", "channels": [],
                      "detail": "no known pattern; drifted: " + ", ".join(top)})
    return found


def _relative(e: KindEvidence, index: dict, name: str) -> float:
    """Feature `name`'s relative change, new over reference level, minus 1."""
    j = index[name]
    return float((e.new_level[j] - e.ref_level[j]) / max(abs(e.ref_level[j]), 1e-12))


def _drifted(e: KindEvidence, index: dict, *features: str) -> bool:
    """Whether any of `features` (those among the tested features) drifted."""
    return any(e.significant[index[f]] for f in features if f in index)


def _kind(kind: str, sensor: str, channels: list[str], detail: str) -> dict:
    return {"kind": kind, "sensor": sensor, "channels": channels, "detail": detail}


def _sensor_kinds(e: KindEvidence, index: dict, g, data: DataConfig, peaks: dict, all_ref: list[str]) -> list[dict]:
    """The kinds of change of one sensor (input group `g`): [] when none of its features drifted; else its
    broken channels (stuck, clipped, swapped) when any, else how its signal changed."""
    sensor, chans = g.name.removeprefix("in_"), list(g.channel_names)
    stats_of = [f"{c}_{s}" for c in chans for s in ("mean", "std", "rms", "range", "dom_freq", "jitter", "at_peak")]
    norm = [f"{sensor}_norm_mean", f"{sensor}_norm_std"] if f"{sensor}_norm_mean" in index else []
    if not _drifted(e, index, *stats_of, *norm):
        return []
    return (_broken_channels(e, index, sensor, chans, g.unit, data, peaks, all_ref)
            or _signal_change(e, index, sensor, chans, g.unit, norm))


def _broken_channels(e: KindEvidence, index: dict, sensor: str, chans: list[str], unit: str, data: DataConfig,
                     peaks: dict, all_ref: list[str]) -> list[dict]:
    """A sensor's stuck channels, each named; then its clipped ones (of the rest), together; then the two of
    the rest that read as each other did, if any."""
    ref, new = e.ref_level, e.new_level
    found = []
    stuck = [c for c in chans if ref[index[f"{c}_std"]] > 0
             and new[index[f"{c}_std"]] <= STUCK_STD_RATIO * ref[index[f"{c}_std"]]
             and _drifted(e, index, f"{c}_std", f"{c}_range", f"{c}_at_peak")]
    for c in stuck:
        fell = new[index[f"{c}_std"]] / ref[index[f"{c}_std"]]
        found.append(_kind("stuck", sensor, [c], f"{c} reads about {new[index[f'{c}_mean']]:.3g} {unit}; its "
                                                 f"variation fell to {fell:.0%} of before"))
    clipped = {c: v for c in chans if c not in stuck
               and (v := _clipped(e, peaks, data.channel_names.index(c), all_ref))}
    if clipped:
        top = max(p for p, _ in clipped.values())
        before = max(r for _, r in clipped.values())
        found.append(_kind("clip", sensor, sorted(clipped), f"readings pile up at +-{top:.3g} {unit} (peaks of "
                                                             f"+-{before:.3g} before): a lower full-scale range?"))
    live = [c for c in chans if c not in stuck and c not in clipped]
    swapped = _swap(live, ref, new, index, partial(_drifted, e, index))
    if swapped:
        a, b = swapped
        found.append(_kind("swap", sensor, [a, b], f"{a} reads as {b} did and {b} as {a}: an axis map changed"))
    return found


def _signal_change(e: KindEvidence, index: dict, sensor: str, chans: list[str], unit: str,
                   norm: list[str]) -> list[dict]:
    """How a sensor whose channels all still work changed: more noise, a gain, an orientation or an offset
    (the first that fits, in that order); [] when none does."""
    ref, new = e.ref_level, e.new_level
    # For a multi-axis sensor the magnitude's mean and std (wearing does not move them), else the channels'
    std_change = _relative(e, index, norm[1]) if norm else float(np.median([_relative(e, index, f"{c}_std")
                                                                             for c in chans]))
    mag_change = _relative(e, index, norm[0]) if norm else float(np.median([_relative(e, index, f"{c}_rms")
                                                                             for c in chans]))
    jitter_change = float(np.median([_relative(e, index, f"{c}_jitter") for c in chans]))
    amplitude = _drifted(e, index, *norm, *(f"{c}_{s}" for c in chans for s in ("std", "rms", "range", "jitter")))
    # Noise first: it lifts the variation and a little the magnitude too, but the jitter far more; a gain
    # moves all three by the same factor.
    if (_drifted(e, index, *(f"{c}_jitter" for c in chans)) and jitter_change > 0.1
            and jitter_change > 2 * max(abs(mag_change), 0.0)):
        return [_kind("noise", sensor, chans, f"sample-to-sample jitter x{1 + jitter_change:.2f}, magnitude "
                                              f"x{1 + mag_change:.3f}: more noise")]
    if (amplitude and abs(mag_change) >= 0.02 and mag_change * std_change > 0
            and abs(std_change - mag_change) <= SAME_FACTOR * max(abs(mag_change), abs(std_change))):
        return [_kind("gain", sensor, chans, f"magnitude x{1 + mag_change:.3f}, variation x{1 + std_change:.3f}: "
                                             "a gain change")]
    means = [c for c in chans if _drifted(e, index, f"{c}_mean")]
    if not means:
        return []
    # A rotation moves the axis means but not the magnitude (to first order); an offset moves the
    # magnitude by its component along the mean vector. So: rotated when the magnitude moved far less
    # than the means did (an offset across the mean vector looks the same, and is named so).
    moved = float(np.sqrt(sum((new[index[f"{c}_mean"]] - ref[index[f"{c}_mean"]]) ** 2 for c in chans)))
    magnitude = abs(float(new[index[norm[0]]] - ref[index[norm[0]]])) if norm else 0.0
    if norm and not _drifted(e, index, *norm) and len(means) >= 2 and magnitude < ROTATION_SHARE * moved:
        return [_kind("orientation", sensor, means, "axis means moved, the magnitude did not: the sensor sits "
                                                    "rotated (an orientation or axis-map change)")]
    shifts = ", ".join(f"{c} {new[index[f'{c}_mean']] - ref[index[f'{c}_mean']]:+.3g}" for c in means)
    return [_kind("offset", sensor, means, f"mean shifted ({shifts} {unit}): an offset or bias")]


def _rate_kind(e: KindEvidence, index: dict, data: DataConfig, groups) -> dict | None:
    """A time-base change: the dominant frequencies moved the same way, by more than RATE_CHANGE, on the
    channels of every sensor (of two, when there are more); None otherwise."""
    rate_channels = [c for c in data.channel_names if _drifted(e, index, f"{c}_dom_freq")]
    rates = [_relative(e, index, f"{c}_dom_freq") for c in rate_channels]
    rate_sensors = {g.name for g in groups for c in rate_channels if c in g.channel_names}
    if not (len(rate_sensors) >= min(2, len(groups)) and np.all(np.sign(rates) == np.sign(rates[0]))
            and abs(np.median(rates)) > RATE_CHANGE):
        return None
    return {"kind": "rate", "sensor": "all", "channels": list(data.channel_names),
            "detail": f"dominant frequencies x{1 + float(np.median(rates)):.3f} on {len(rates)} channels: "
                      "the sample rate or time base changed"}


def _swap(chans, ref, new, index, drifted) -> tuple[str, str] | None:
    best = None
    for i, a in enumerate(chans):
        for b in chans[i + 1:]:
            if not drifted(*(f"{c}_{s}" for c in (a, b) for s in ("mean", "std", "rms", "range"))):
                continue
            stats_ = ("mean", "std", "rms", "range")
            ja, jb = [index[f"{a}_{s}"] for s in stats_], [index[f"{b}_{s}"] for s in stats_]
            scale = np.maximum(np.maximum(np.abs(ref[ja]), np.abs(ref[jb])), 1e-9)
            straight = (((new[ja] - ref[ja]) / scale) ** 2).sum() + (((new[jb] - ref[jb]) / scale) ** 2).sum()
            crossed = (((new[ja] - ref[jb]) / scale) ** 2).sum() + (((new[jb] - ref[ja]) / scale) ** 2).sum()
            if crossed < SWAP_RATIO * straight and (best is None or crossed / straight < best[0]):
                best = (crossed / straight, (a, b))
    return best[1] if best else None


def class_mix_shift(ref_classes: np.ndarray, new_classes: np.ndarray, alpha: float) -> dict:
    """A change in the share of each class (the prior), window-level chi-square: reported, never sensor drift."""
    ref_classes, new_classes = np.asarray(ref_classes, dtype=str), np.asarray(new_classes, dtype=str)
    classes = sorted(set(ref_classes) | set(new_classes))
    if classes in ([], [""]) or not len(ref_classes) or not len(new_classes):
        return {"tested": False, "kind": "prior", "note": "no classes given"}
    table = np.array([[int((side == c).sum()) for c in classes] for side in (ref_classes, new_classes)])
    table = table[:, table.sum(0) > 0]
    p = float(stats.chi2_contingency(table).pvalue) if table.shape[1] > 1 else 1.0
    ref_share = {c: float((ref_classes == c).mean()) for c in classes}
    new_share = {c: float((new_classes == c).mean()) for c in classes}
    moved = max(classes, key=lambda c: abs(new_share[c] - ref_share[c]))
    return {"tested": True, "kind": "prior", "shifted": p < alpha, "p_value": p, "reference_share": ref_share,
            "new_share": new_share, "largest_change": moved,
            "method": "chi-square of class counts (window-level; classes as given: the model's predictions)"}
