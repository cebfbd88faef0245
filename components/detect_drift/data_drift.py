"""Data drift: do the new windows' sensors read as the production model's training data did?

The unit that varies is the device (its tilt, gains, offsets, noise), not the window, and a device is often
on both sides: the same boards, later. So the test follows the data's structure, in up to four families of
hypotheses, each a permutation test on the per-window drift features (window_features.py) with its family-wise
error held by single-step maxT, and the families Bonferroni-combined at `alpha_data`:

1. paired, per device: a device with windows on both sides is compared with itself, class by class. Its
   windows' features are centred within (device, class), so a change in the class mix moves nothing, then
   averaged in blocks of consecutive windows within (device, class, side) (at most `max_blocks` each:
   neighbours that move together count once), and the blocks' side labels are permuted within their
   (device, class), which leaves the centring as it was: the permutation null is exact however few windows
   a class has. One standardized class-matched difference per device and feature: what finds a stuck axis
   on one board of eight.
2. paired, fleet: the devices' standardized differences combined (Stouffer): what finds a small gain change
   that every device shares, on 4 devices as well as 40.
3. saturation, per device: the same relabellings, on the rise of each sensor's peak share (the share of
   samples at exactly the window's largest reading), unstandardized and one-sided: what finds a clipped or
   stuck sensor, whose change the standardized difference of family 1 caps (it widens the pooled spread).
   A device with too few windows of each class for its strata to reach a p-value small enough (10 a side
   over five classes: a few thousand relabellings) has its blocks relabelled across its classes instead,
   still centred within each class (permutation.pooled_devices): a stuck axis shows in every window.
4. between devices: devices seen on one side only, by their mean (class-centred) features, Welch t with whole
   devices permuted (step-down maxT): new devices of the same hardware do not alarm, new hardware does.

The class is the production model's predicted class where the caller gives one: it depends on the signal
alone, so neither a class-mix change nor a stale label (concept drift) changes what a stratum holds.

A family that cannot reach its share of alpha (too few devices, windows or blocks for enough distinct
relabellings) is left out and said so; when none is left, the answer is "insufficient data" with the numbers
that are missing, never a silent no. Each decision also says what silence means: the smallest gain and offset
change per sensor that this data would catch with 95% power, from the same statistics (sensitivity.py). The
permutation machinery (units, statistics, maxT) is in permutation.py.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from components.config import DataConfig, DriftConfig
from components.detect_drift.features_by_sensor import sensor_features
from components.detect_drift.kinds import KindEvidence, class_mix_shift, name_kinds, saturation
from components.detect_drift.permutation import (
    TIE,
    Between,
    between_test,
    centred_device_means,
    critical,
    device_means,
    maxt_adjusted,
    maxt_paired,
    maxt_saturation,
    paired_structure,
    pooled_devices,
)
from components.detect_drift.results import jsonable
from components.detect_drift.sensitivity import smallest_changes
from components.window_features import drift_feature_names, drift_features


@dataclass
class Family:
    """One family of hypotheses: what it tests, its share of alpha, and what it found."""

    name: str  # "paired, per device" | "paired, fleet" | "saturation, per device" | "between devices"
    hypotheses: int
    alpha: float  # its share of alpha_data
    min_p: float  # the smallest p-value its permutations can give
    critical: float  # |statistic| above which it rejects (the permutation maxima's 1 - alpha quantile)
    rejected: list[str]  # "feature" (fleet, between) or "device: feature" (per device), strongest first


@dataclass
class DataDriftResult:
    drifted: bool
    status: str  # "tested" | "insufficient data"
    method: str
    features: list[str]
    p_values: dict[str, float]  # per feature: the smallest raw permutation p over the families' hypotheses
    adjusted_p_values: dict[str, float]  # per feature: family-wise adjusted, Bonferroni over families
    effect_sizes: dict[str, float]  # new - reference, in SD of the reference's own variation
    drifted_features: list[str]  # adjusted p < alpha, largest |effect| first
    drifted_share: float
    reference_devices: int
    new_devices: int
    reference_windows: int
    new_windows: int
    permutations: int
    alpha: float
    paired_devices: list[str] = field(default_factory=list)  # on both sides: compared with themselves
    new_only_devices: int = 0
    families: list[dict] = field(default_factory=list)
    drifted_devices: dict[str, list[str]] = field(default_factory=dict)  # device -> features (per-device family)
    kinds: list[dict] = field(default_factory=list)  # what the drift looks like: kind, sensor, channels, devices
    class_mix: dict = field(default_factory=dict)  # a prior shift, reported apart: it is not sensor drift
    sensitivity: dict = field(default_factory=dict)  # smallest detectable gain / offset per sensor, and why
    untestable_features: list[str] = field(default_factory=list)  # constant on both sides
    note: str = ""

    def to_dict(self) -> dict:
        return jsonable(asdict(self))


# ------------------------------------------------------------------------------------------------ the test


def detect_data_drift(ref_x: np.ndarray, ref_devices: np.ndarray, new_x: np.ndarray, new_devices: np.ndarray,
                      config: DriftConfig = DriftConfig(), data: DataConfig | None = None, *,
                      ref_classes: np.ndarray | None = None, new_classes: np.ndarray | None = None,
                      ref_order: np.ndarray | None = None, new_order: np.ndarray | None = None) -> DataDriftResult:
    """Paired (same devices) and between-device (new devices) permutation tests, one family-wise error.

    `ref_x`/`new_x`: raw windows [N, T, C] in the configured channels (`data`, default DataConfig()).
    `*_classes`: each window's class (the production model's prediction, or a label), None for one class.
    `*_order`: each window's time (e.g. its first timestamp), None for array order. Deterministic for a given
    `config.seed`. The features are taken in float32, as ingest stores them (dataset_features.py), so the
    answer is the one `data_drift_from_features` gives on the stored features of the same windows.
    """
    data = data or DataConfig()
    ref_f, new_f = (drift_features(x, data).astype(np.float32) for x in (ref_x, new_x))
    return data_drift_from_features(ref_f, ref_devices, new_f, new_devices,
                                    saturation(ref_x, ref_devices, new_x, new_devices, data), config, data,
                                    ref_classes=ref_classes, new_classes=new_classes, ref_order=ref_order,
                                    new_order=new_order)


def data_drift_from_features(ref_f: np.ndarray, ref_devices: np.ndarray, new_f: np.ndarray,
                             new_devices: np.ndarray, peaks: dict, config: DriftConfig = DriftConfig(),
                             data: DataConfig | None = None, *, ref_classes: np.ndarray | None = None,
                             new_classes: np.ndarray | None = None, ref_order: np.ndarray | None = None,
                             new_order: np.ndarray | None = None) -> DataDriftResult:
    """detect_data_drift on the windows' drift features (`*_f` [N, K], drift_feature_names order) and their
    devices' saturation (kinds.saturation's dict: what a clipped sensor is named from)."""
    data = data or DataConfig()
    names = drift_feature_names(data)
    # Kept as given (float32 as stored: half the memory of float64). Every sum below is taken in float64
    # (bincount weights, float32 - float64), so the answer is the one float64 copies of them would give.
    ref_f, new_f = np.asarray(ref_f), np.asarray(new_f)
    ref_devices, new_devices = np.asarray(ref_devices, dtype=str), np.asarray(new_devices, dtype=str)
    ref_classes = np.full(len(ref_f), "", dtype=object) if ref_classes is None else np.asarray(ref_classes, str)
    new_classes = np.full(len(new_f), "", dtype=object) if new_classes is None else np.asarray(new_classes, str)
    ref_order = np.arange(len(ref_f)) if ref_order is None else np.asarray(ref_order, dtype=float)
    new_order = np.arange(len(new_f)) if new_order is None else np.asarray(new_order, dtype=float)
    rng = np.random.default_rng(config.seed)
    testable = _testable(ref_f, new_f, len(names))
    paired_ids = sorted(set(ref_devices) & set(new_devices))
    new_only = ~np.isin(new_devices, paired_ids)
    base = _base(names, testable, ref_f, new_f, ref_devices, new_devices, new_only, ref_classes, new_classes, config)

    # each sensor's testable peak-share features: the saturation family's alone. Almost constant on a moving
    # sensor (one sample at the peak), they would give the standardized families a few rare ties as units.
    peak_sensors = [idx for _, _, _, _, idx in sensor_features(names, data, testable) if idx]
    standard = testable & ~np.array([n.endswith("_at_peak") for n in names])

    # 1-3: the devices on both sides, compared with themselves (None: no class of theirs on both sides)
    paired = None
    if paired_ids:
        in_ref, in_new = np.isin(ref_devices, paired_ids), np.isin(new_devices, paired_ids)
        paired = paired_structure(
            np.concatenate([ref_f[in_ref], new_f[in_new]]),
            np.concatenate([ref_devices[in_ref], new_devices[in_new]]),
            np.concatenate([np.zeros(in_ref.sum(), int), np.ones(in_new.sum(), int)]),
            np.concatenate([ref_classes[in_ref], new_classes[in_new]]).astype(str),
            np.concatenate([ref_order[in_ref], new_order[in_new]]), config.max_blocks)
    # 4: devices seen on one side only against the reference devices
    between = None
    new_only_ids = sorted(set(new_devices[new_only]))
    ref_ids = sorted(set(ref_devices))
    if new_only_ids and ref_ids:
        between = _between(ref_f, ref_devices, ref_classes, new_f, new_devices, new_classes, new_only)

    candidates, pooled = _candidates(paired, between, peak_sensors, config)
    chosen = _affordable(candidates, config)
    missing = _missing(candidates, chosen, paired, between, paired_ids, new_only_ids, ref_ids, config)
    if not chosen or not testable.any():
        return _insufficient(names, testable, missing, paired_ids, base)
    return _tested(paired, pooled, between, chosen, standard, peak_sensors, names, new_only_ids, paired_ids,
                   missing, base, peaks, data, config, rng)


def _testable(ref_f: np.ndarray, new_f: np.ndarray, k: int) -> np.ndarray:
    """Which of the K features vary at all over both sides' windows (the others cannot be tested)."""
    sides = [f for f in (ref_f, new_f) if len(f)]
    if not sides:
        return np.zeros(k, bool)
    # over both sides' windows, without a copy of them
    high, low = (np.max([f.max(0) for f in sides], axis=0).astype(np.float64),
                 np.min([f.min(0) for f in sides], axis=0).astype(np.float64))
    return high - low > 1e-9 * (np.maximum(np.abs(high), np.abs(low)) + 1e-12)


def _base(names, testable, ref_f, new_f, ref_devices, new_devices, new_only, ref_classes, new_classes,
          config) -> dict:
    """The result's fields that do not depend on the tests: the method, the data's counts, the class mix."""
    return dict(method="paired within-device block permutation (per device, fleet, saturation per device), "
                       "device-level Welch t for new devices; maxT per family, Bonferroni over families",
                features=names, reference_devices=len(set(ref_devices)), new_devices=len(set(new_devices)),
                reference_windows=len(ref_f), new_windows=len(new_f), permutations=config.permutations,
                alpha=config.alpha_data, new_only_devices=len(set(new_devices[new_only])),
                untestable_features=[n for n, ok in zip(names, testable, strict=True) if not ok],
                class_mix=class_mix_shift(ref_classes, new_classes, config.alpha_data))


def _between(ref_f, ref_devices, ref_classes, new_f, new_devices, new_classes, new_only) -> Between:
    """The between-device family's data: the reference devices' and the new-only devices' mean features,
    class-centred (what is tested) and raw (their levels, what a kind is named from)."""
    classes = np.concatenate([ref_classes, new_classes[new_only]]).astype(str)
    only_f = new_f if new_only.all() else new_f[new_only]
    ref_means, new_means = centred_device_means([(ref_f, ref_devices), (only_f, new_devices[new_only])], classes)
    _, ref_raw = device_means(ref_f, ref_devices)
    _, new_raw = device_means(only_f, new_devices[new_only])
    return Between(ref_means, new_means, ref_raw.mean(0), new_raw.mean(0))


def _candidates(paired, between, peak_sensors, config) -> tuple[list[tuple[str, float]], np.ndarray | None]:
    """The families that apply, each with the log10 of its most distinct relabellings; and which devices the
    saturation family relabels across their classes (pooled_devices; None without that family)."""
    candidates, pooled = [], None
    if paired is not None:
        arrangements = paired.arrangements_log10()
        candidates.append(("paired, per device", float(arrangements.max())))
        if len(paired.devices) >= 2:
            candidates.append(("paired, fleet", float(arrangements.sum())))
        if peak_sensors:
            # a device whose classes leave too few relabellings to be found at the smallest share any family can
            # get (four families), over the family's hypotheses, is relabelled across its classes (pooled_devices)
            pooled = pooled_devices(paired, config.alpha_data / 4 / (len(paired.devices) * len(peak_sensors)))
            candidates.append(("saturation, per device",
                               float(np.where(pooled, paired.pooled_arrangements_log10(), arrangements).max())))
    if between is not None and min(len(between.ref_means), len(between.new_means)) >= max(config.min_devices, 2):
        candidates.append(("between devices", between.arrangements_log10))
    return candidates, pooled


def _affordable(candidates: list[tuple[str, float]], config) -> list[tuple[str, float]]:
    """The candidates that can reach their share of alpha at all: dropping one raises the others' share, so
    until none more drops."""
    floor = 1 / (config.permutations + 1)
    chosen = list(candidates)
    while chosen:
        share = config.alpha_data / len(chosen)
        kept = [(n, a) for n, a in chosen if max(floor, 10 ** -a) <= share]
        if len(kept) == len(chosen):
            break
        chosen = kept
    return chosen


def _insufficient(names, testable, missing, paired_ids, base) -> DataDriftResult:
    """The answer when no family can be tested, or no feature: not drifted, and why, in numbers."""
    if not testable.any():
        missing = "every feature is constant on both sides (a dead or constant sensor?)"
    ones = {n: 1.0 for n in names}
    return DataDriftResult(drifted=False, status="insufficient data", p_values=ones, adjusted_p_values=ones,
                           effect_sizes={n: float("nan") for n in names}, drifted_features=[],
                           drifted_share=0.0, paired_devices=paired_ids,
                           note=f"insufficient data: {missing}", **base)


def _tested(paired, pooled, between, chosen, standard, peak_sensors, names, new_only_ids, paired_ids, missing,
            base, peaks, data, config, rng) -> DataDriftResult:
    """The chosen families' tests, each adjusted (maxT) and Bonferroni-combined over the families, and the
    answer they give. The random draws are taken in this order: the paired families', the saturation
    family's, the between-device family's, the sensitivity's."""
    share = config.alpha_data / len(chosen)
    chosen_names = {n for n, _ in chosen}
    adjusted, raw, effect = np.ones(len(names)), np.ones(len(names)), np.full(len(names), np.nan)
    families, drifted_devices, evidence = [], {}, []
    fleet_critical = device_critical = None  # what the sensitivity reads off the paired families, if tested
    min_p = {n: _min_p(a, config) for n, a in chosen}
    alpha = config.alpha_data

    if "paired, per device" in chosen_names or "paired, fleet" in chosen_names:
        z_obs, fleet_obs, max_dev, max_fleet, raw_dev, raw_fleet = maxt_paired(paired, standard, config, rng)
        effect = _paired_effect(paired)
        if "paired, per device" in chosen_names:
            adj_dev, family, drifted_devices, found = _per_device_family(
                paired, z_obs, max_dev, standard, names, share, len(chosen), min_p["paired, per device"], alpha)
            adjusted, raw = np.minimum(adjusted, adj_dev.min(0)), np.minimum(raw, raw_dev.min(0))
            families.append(family)
            evidence += found
        if "paired, fleet" in chosen_names:
            adj_fleet, family, found = _fleet_family(paired, fleet_obs, max_fleet, standard, names, share,
                                                     len(chosen), min_p["paired, fleet"], alpha)
            adjusted, raw = np.minimum(adjusted, adj_fleet), np.minimum(raw, raw_fleet)
            families.append(family)
            evidence += found
        if "saturation, per device" in chosen_names:
            rise, max_rise = maxt_saturation(paired, peak_sensors, config, rng, pooled)
            adj_sat, family, drifted_devices, found = _saturation_family(
                paired, rise, max_rise, peak_sensors, names, share, len(chosen), min_p["saturation, per device"],
                alpha, drifted_devices)
            adjusted = np.minimum(adjusted, adj_sat)
            families.append(family)
            evidence += found
        fleet_critical = critical(max_fleet, share) if "paired, fleet" in chosen_names else None
        device_critical = critical(max_dev, share) if "paired, per device" in chosen_names else None
    if "between devices" in chosen_names:
        t_obs, adj_b, raw_b, max_b = between_test(between, standard, config, rng)
        adj_b = np.minimum(1.0, adj_b * len(chosen))
        adjusted, raw = np.minimum(adjusted, adj_b), np.minimum(raw, raw_b)
        effect = np.where(np.isnan(effect), _between_effect(between), effect)
        family, found = _between_family(between, t_obs, adj_b, max_b, standard, names, new_only_ids, share,
                                        min_p["between devices"], alpha)
        families.append(family)
        evidence += found

    strongest_first = np.argsort(-np.nan_to_num(np.abs(effect), nan=np.inf))
    drifted = [names[j] for j in strongest_first if adjusted[j] < alpha]
    kinds = name_kinds(evidence, names, data, peaks)
    sensitivity = smallest_changes(paired, between, chosen_names, fleet_critical, device_critical, standard, names,
                                   data, config, rng)
    return DataDriftResult(drifted=bool(drifted), status="tested", p_values=dict(zip(names, raw.tolist(), strict=True)),
                           adjusted_p_values=dict(zip(names, adjusted.tolist(), strict=True)),
                           effect_sizes=dict(zip(names, effect.tolist(), strict=True)), drifted_features=drifted,
                           drifted_share=len(drifted) / len(names), paired_devices=paired_ids, families=families,
                           drifted_devices=drifted_devices, kinds=kinds, sensitivity=sensitivity, note=missing, **base)


def _min_p(arrangements_log10: float, config) -> float:
    """The smallest p-value a family's relabellings can give (its distinct relabellings, or the permutations)."""
    return float(max(1 / (config.permutations + 1), 10 ** -arrangements_log10))


def _paired_effect(paired) -> np.ndarray:
    """Per feature: the devices' mean new - reference difference, in SD of each device's own variation."""
    return np.nanmean(np.where(paired.window_sd > 0, paired.diff / np.where(paired.window_sd > 0,
                                                                            paired.window_sd, 1), 0), 0)


def _per_device_family(paired, z_obs, max_dev, standard, names, share, n_families, min_p, alpha):
    """The paired, per device family: its adjusted p-values [device, K] (Bonferroni over `n_families`
    included), its Family, the drifted features of each device (strongest first), and the evidence of the
    devices with any."""
    adj_dev = np.minimum(1.0, maxt_adjusted(z_obs, max_dev) * n_families)
    hits = np.argwhere(adj_dev < alpha)
    hits = hits[np.argsort(-np.abs(z_obs[hits[:, 0], hits[:, 1]]))]
    drifted_devices = {}
    for d, j in hits:
        drifted_devices.setdefault(paired.devices[d], []).append(names[j])
    family = asdict(Family("paired, per device", int(standard.sum()) * len(paired.devices), share, min_p,
                           critical(max_dev, share), [f"{paired.devices[d]}: {names[j]}" for d, j in hits]))
    evidence = [KindEvidence((device,), paired.ref_level[d], paired.ref_level[d] + paired.diff[d],
                             adj_dev[d] < alpha)
                for d, device in enumerate(paired.devices) if device in drifted_devices]
    return adj_dev, family, drifted_devices, evidence


def _fleet_family(paired, fleet_obs, max_fleet, standard, names, share, n_families, min_p, alpha):
    """The paired, fleet family: its adjusted p-values [K] (Bonferroni over `n_families` included), its Family,
    and its evidence (the devices' mean levels) if it found any."""
    adj_fleet = np.minimum(1.0, maxt_adjusted(fleet_obs, max_fleet) * n_families)
    hits = [j for j in np.argsort(-np.abs(fleet_obs)) if adj_fleet[j] < alpha]
    family = asdict(Family("paired, fleet", int(standard.sum()), share, min_p, critical(max_fleet, share),
                           [names[j] for j in hits]))
    if not hits:
        return adj_fleet, family, []
    level = paired.ref_level.mean(0)
    return adj_fleet, family, [KindEvidence(tuple(paired.devices), level, level + paired.diff.mean(0),
                                            adj_fleet < alpha, fleet=True)]


def _saturation_family(paired, rise, max_rise, peak_sensors, names, share, n_families, min_p, alpha,
                       drifted_devices):
    """The saturation family: its adjusted p-values per feature (each sensor's smallest over the devices, 1
    off the peak shares; Bonferroni over `n_families` included), its Family, `drifted_devices` with the
    peak-share features that rose on each (device, sensor) it found added (strongest first), and their
    evidence."""
    adj_sat = np.where(rise > TIE, np.minimum(1.0, maxt_adjusted(rise, max_rise) * n_families), 1.0)
    adjusted = np.ones(len(names))
    for s_, idx in enumerate(peak_sensors):
        adjusted[idx] = adj_sat[:, s_].min()
    hits = np.argwhere(adj_sat < alpha)
    hits = hits[np.argsort(-rise[hits[:, 0], hits[:, 1]])]
    family = asdict(Family("saturation, per device", len(peak_sensors) * len(paired.devices), share, min_p,
                           critical(max_rise, share),
                           [f"{paired.devices[d]}: {_sensor_label(names, peak_sensors[s_])}" for d, s_ in hits]))
    drifted_devices, evidence = {device: list(found) for device, found in drifted_devices.items()}, []
    for d, s_ in hits:
        device, idx = paired.devices[d], peak_sensors[s_]
        lifted = [j for j in idx if paired.diff[d, j] > 0]
        listed = drifted_devices.setdefault(device, [])
        listed += [names[j] for j in lifted if names[j] not in listed]
        significant = np.zeros(len(names), dtype=bool)
        significant[lifted] = True
        evidence.append(KindEvidence((device,), paired.ref_level[d], paired.ref_level[d] + paired.diff[d],
                                     significant))
    return adjusted, family, drifted_devices, evidence


def _between_effect(between) -> np.ndarray:
    """Per feature: the new-only devices' mean - the reference devices' mean, in pooled device SD."""
    pooled = np.sqrt((between.ref_means.var(0, ddof=1) * (len(between.ref_means) - 1)
                      + between.new_means.var(0, ddof=1) * (len(between.new_means) - 1))
                     / max(len(between.ref_means) + len(between.new_means) - 2, 1))
    return (between.new_means.mean(0) - between.ref_means.mean(0)) / np.where(pooled > 0, pooled, np.nan)


def _between_family(between, t_obs, adj_b, max_b, standard, names, new_only_ids, share, min_p, alpha):
    """The between-device family's Family, and its evidence (the two groups' levels) if it found any."""
    hits = [j for j in np.argsort(-np.abs(t_obs)) if adj_b[j] < alpha]
    family = asdict(Family("between devices", int(standard.sum()), share, min_p, critical(max_b, share),
                           [names[j] for j in hits]))
    if not hits:
        return family, []
    return family, [KindEvidence(tuple(new_only_ids), between.ref_level, between.new_level, adj_b < alpha,
                                 fleet=True, new_devices=True)]


def _missing(candidates, chosen, paired, between, paired_ids, new_only_ids, ref_ids, config) -> str:
    """Why a family is not tested, in numbers: '' when every family that applies is tested."""
    reasons = []
    floor = 1 / (config.permutations + 1)
    need = config.alpha_data / max(len(chosen), 1)
    dropped = {n for n, _ in candidates} - {n for n, _ in chosen}
    if paired_ids and paired is None:
        reasons.append(f"{len(paired_ids)} device(s) on both sides, but no class of theirs is on both sides")
    if paired is not None and dropped & {"paired, per device", "paired, fleet"}:
        blocks = ", ".join(f"{d} {r}+{n}" for d, r, n in zip(paired.devices, paired.ref_blocks, paired.new_blocks,
                                                           strict=True))
        reasons.append(f"devices seen before: too few windows to compare a device with itself (reference+new "
                       f"blocks: {blocks}); a p-value below {need:.2g} needs about {math.ceil(1 / need)} distinct "
                       f"relabellings (and {config.permutations} permutations give at best {floor:.2g})")
    if new_only_ids:
        n_new, n_ref = len(new_only_ids), len(ref_ids)
        if min(n_new, n_ref) < max(config.min_devices, 2):
            reasons.append(f"{n_new} new device(s) against {n_ref} reference device(s): the between-device test "
                           f"needs at least {max(config.min_devices, 2)} on each side")
        elif "between devices" in dropped:
            reasons.append(f"{n_new} new against {n_ref} reference devices: only {math.comb(n_new + n_ref, n_new)} "
                           f"ways to split them, so no p-value below {1 / math.comb(n_new + n_ref, n_new):.2g} "
                           f"(needed: {need:.2g}); more devices, or the same devices on both sides")
    if not paired_ids and not new_only_ids:
        reasons.append("no new windows")
    return "; ".join(reasons)


def _sensor_label(names: list[str], idx: list[int]) -> str:
    return "+".join(names[j] for j in idx)
