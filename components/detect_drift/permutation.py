"""The permutation machinery of the data-drift test (data_drift.py): its units, statistics and maxT.

Paired: a device seen on both sides, its windows' features centred within (device, class) and averaged in
blocks of consecutive windows within (device, class, side); side labels are permuted within a stratum (a
device's class). Between: devices seen on one side only, by their mean features, whole devices permuted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from components.config import DriftConfig

TIE = 1e-12  # statistics this close count as equal (permutation counts)


@dataclass
class Paired:
    """The paired families' fixed structure: units (block means of centred features) by stratum, a device's
    windows of one class; side labels are permuted within a stratum, which the class-centring leaves alone."""

    devices: list[str]
    stratum_device: np.ndarray  # [S] the device (index into devices) of each stratum
    units: np.ndarray  # [S, M, K] block means minus their stratum's mean, over the device's scale; padded with 0
    raw: np.ndarray  # [S, M, K] the same in feature units
    present: np.ndarray  # [S, M] bool: a real block
    stratum_new: np.ndarray  # [S] blocks on the new side
    stratum_ref: np.ndarray  # [S]
    observed_new: np.ndarray  # [S, M] bool: the block is on the new side
    share: np.ndarray  # [S] the stratum's weight in its device's difference, w / W (w = 1 / (1/new + 1/ref))
    new_blocks: np.ndarray  # [D] blocks on the new side, over the device's strata
    ref_blocks: np.ndarray  # [D]
    scale: np.ndarray  # [D, K] SD of the device's block means about their strata's means (0: nothing varies)
    weights: np.ndarray  # [D] sqrt(W): a device's difference has SD scale / sqrt(W); its Stouffer weight
    ref_level: np.ndarray  # [D, K] mean raw feature on the reference side (what kinds are named from)
    diff: np.ndarray  # [D, K] class-matched mean difference, new - reference, in feature units
    window_sd: np.ndarray  # [D, K] SD of the device's centred windows (effect sizes)
    windows: np.ndarray  # [D, 2] windows used, reference and new

    def arrangements_log10(self) -> np.ndarray:
        """log10 of each device's distinct block relabellings: the product over its strata of C(blocks, new)."""
        n, k = self.stratum_new + self.stratum_ref, self.stratum_new
        per_stratum = (special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)) / math.log(10)
        return np.bincount(self.stratum_device, weights=per_stratum, minlength=len(self.devices))

    def pooled_arrangements_log10(self) -> np.ndarray:
        """log10 of each device's block relabellings when its blocks are relabelled across its strata:
        C(blocks, new blocks) over the device's blocks of every class it has on both sides."""
        n, k = self.new_blocks + self.ref_blocks, self.new_blocks
        return (special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)) / math.log(10)


def group_sums(codes: np.ndarray, values: np.ndarray, groups: int) -> np.ndarray:
    """[groups, K]: the sum of `values` [N, K] over the rows of each group code (bincount, column by column)."""
    return np.stack([np.bincount(codes, weights=col, minlength=groups) for col in values.T], axis=1)


def centre_within(features: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Each window's features minus the mean of its key's windows."""
    codes, distinct = pd.factorize(keys)
    means = group_sums(codes, features, len(distinct)) / np.bincount(codes)[:, None]
    return features - means[codes]


def centred_device_means(parts: list[tuple[np.ndarray, np.ndarray]], keys: np.ndarray) -> list[np.ndarray]:
    """[device_means(part of centre_within(the parts' windows stacked, keys), its devices)[1] for each part]:
    the same values, computed a feature at a time, so the centred windows are never held all at once."""
    codes, distinct = pd.factorize(keys)
    counts = np.bincount(codes)
    groups = [pd.factorize(np.asarray(devices, dtype=str), sort=True)[0] for _, devices in parts]
    bounds = np.cumsum([0, *(len(f) for f, _ in parts)])
    k = parts[0][0].shape[1]
    out = [np.empty((int(g.max()) + 1 if len(g) else 0, k)) for g in groups]
    for j in range(k):
        column = np.concatenate([f[:, j] for f, _ in parts])
        centred = column - (np.bincount(codes, weights=column, minlength=len(distinct)) / counts)[codes]
        for i, g in enumerate(groups):
            out[i][:, j] = (np.bincount(g, weights=centred[bounds[i]:bounds[i + 1]], minlength=len(out[i]))
                            / np.bincount(g, minlength=len(out[i])))
    return out


def paired_structure(features: np.ndarray, devices: np.ndarray, side: np.ndarray, classes: np.ndarray,
                      order: np.ndarray, max_blocks: int) -> Paired | None:
    """Devices on both sides, their windows centred within (device, class) where the class is on both sides,
    and averaged in blocks of consecutive windows within (device, class, side)."""
    frame = pd.DataFrame({"device": devices, "cls": classes, "side": side, "order": order})
    frame["stratum"] = frame["device"] + "\x1f" + frame["cls"]  # a separator no id holds (pandas drops NULs)
    keep = (frame.groupby("stratum")["side"].transform("nunique") == 2).to_numpy()
    if not keep.any():  # a (device, class) seen on one side says nothing about change
        return None
    frame, x = frame[keep].reset_index(drop=True), features[keep]
    centred = centre_within(x, frame["stratum"].to_numpy())
    group = frame.groupby(["stratum", "side"], sort=False)["order"]
    rank = group.rank(method="first").to_numpy() - 1
    count = group.transform("size").to_numpy()
    block = (rank * np.minimum(count, max_blocks) // count).astype(int)
    names = sorted(frame["device"].unique())
    d_index = pd.Index(names).get_indexer(frame["device"])
    cls_codes, _ = pd.factorize(frame["cls"], sort=True)
    # strata numbered device by device, so a device's strata are contiguous (device_differences sums runs)
    s_codes, s_names = pd.factorize(d_index * (int(cls_codes.max()) + 1) + cls_codes, sort=True)
    stratum_device = np.zeros(len(s_names), dtype=int)
    stratum_device[s_codes] = d_index
    unit_key = (s_codes * 2 + frame["side"].to_numpy()) * max_blocks + block
    unit_codes, unit_ids = pd.factorize(unit_key, sort=True)
    unit_means = group_sums(unit_codes, centred, len(unit_ids)) / np.bincount(unit_codes)[:, None]
    unit_stratum, unit_side = unit_ids // (2 * max_blocks), (unit_ids // max_blocks) % 2
    d, n_strata, k, m = len(names), len(s_names), x.shape[1], 2 * max_blocks
    raw, present, is_new = np.zeros((n_strata, m, k)), np.zeros((n_strata, m), bool), np.zeros((n_strata, m), bool)
    slot = unit_ids % m  # side * max_blocks + block: a fixed slot per unit within its stratum
    raw[unit_stratum, slot] = unit_means
    present[unit_stratum, slot] = True
    is_new[unit_stratum, slot] = unit_side == 1
    stratum_new, stratum_ref = is_new.sum(1), (present & ~is_new).sum(1)
    raw = np.where(present[:, :, None], raw - (raw.sum(1) / present.sum(1)[:, None])[:, None, :], 0.0)
    # The device's scale: its blocks' spread about their strata's means (degrees of freedom: blocks - strata)
    units_per_device = np.bincount(stratum_device, weights=present.sum(1), minlength=d)
    dof = np.maximum(units_per_device - np.bincount(stratum_device, minlength=d), 1)
    scale = np.sqrt(group_sums(stratum_device, (raw ** 2).sum(1), d) / dof[:, None])
    device_scale = scale[stratum_device]  # [S, K]
    units = np.where(device_scale[:, None, :] > 0, raw / np.where(device_scale > 0, device_scale, 1.0)[:, None, :],
                     0.0)
    w = 1 / (1 / stratum_new + 1 / stratum_ref)
    total = np.bincount(stratum_device, weights=w, minlength=d)
    # Levels before and after, class by class, averaged with the weights a class-matched difference has
    # (n_ref * n_new / n per class): what kinds are named from, and the effect sizes.
    side = frame["side"].to_numpy()
    n_side = [np.bincount(s_codes[side == s], minlength=n_strata) for s in (0, 1)]
    level = [group_sums(s_codes[side == s], x[side == s], n_strata) / np.maximum(n_side[s], 1)[:, None]
             for s in (0, 1)]
    lw = n_side[0] * n_side[1] / (n_side[0] + n_side[1])
    level_total = np.bincount(stratum_device, weights=lw, minlength=d)[:, None]
    ref_level, new_level = (group_sums(stratum_device, lw[:, None] * lv, d) / level_total for lv in level)
    n_all = np.bincount(d_index, minlength=d)
    window_sd = np.sqrt(group_sums(d_index, centred ** 2, d) / np.maximum(n_all - 1, 1)[:, None])
    windows = np.stack([np.bincount(d_index[side == s], minlength=d) for s in (0, 1)], axis=1)
    device_new, device_ref = (np.bincount(stratum_device, weights=b, minlength=d).astype(int)
                              for b in (stratum_new, stratum_ref))
    return Paired(names, stratum_device, units, raw, present, stratum_new, stratum_ref, is_new,
                   w / total[stratum_device], device_new, device_ref, scale, np.sqrt(total), ref_level,
                   new_level - ref_level, window_sd, windows)


def device_differences(p: Paired, new_mask: np.ndarray, values: np.ndarray,
                       pooled: np.ndarray | None = None) -> np.ndarray:
    """[B, D, K]: each device's class-matched difference, new - reference, of `values` [S, M, K] under the
    B relabellings `new_mask` [B, S, M]: its strata's mean differences, weighted by `share`. A device marked in
    `pooled` [D] gets the plain difference of its new and reference blocks' means over all its strata (what
    `relabellings` draws for it: its blocks relabelled across its strata)."""
    coef = np.where(new_mask, 1.0 / p.stratum_new[None, :, None], -1.0 / p.stratum_ref[None, :, None])
    coef = coef * p.share[None, :, None]
    if pooled is not None and pooled.any():
        device = p.stratum_device
        plain = np.where(new_mask, 1.0 / p.new_blocks[device][None, :, None],
                         -1.0 / p.ref_blocks[device][None, :, None])
        coef = np.where(pooled[device][None, :, None], plain, coef)
    coef = np.where(p.present[None], coef, 0.0)
    by_stratum = np.matmul(coef.transpose(1, 0, 2), values).transpose(1, 0, 2)  # [B, S, K], one GEMM a stratum
    starts = np.flatnonzero(np.r_[True, np.diff(p.stratum_device) != 0])  # strata are contiguous by device
    return np.add.reduceat(by_stratum, starts, axis=1)


def paired_statistics(p: Paired, new_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-device z [B, D, K] and fleet Z [B, K] for B relabellings `new_mask` [B, S, M]."""
    z = device_differences(p, new_mask, p.units) * p.weights[None, :, None]
    fleet = np.einsum("bdk,d->bk", z, p.weights) / math.sqrt(float((p.weights ** 2).sum()))
    return z, fleet


def relabellings(p: Paired, rng: np.random.Generator, b: int, pooled: np.ndarray | None = None) -> np.ndarray:
    """[b, S, M]: each stratum's blocks given side labels at random, as many on the new side as observed; a
    device marked in `pooled` [D] has its blocks (of all its strata) relabelled together instead, as many on
    the new side as it has there."""
    keys = np.where(p.present[None], rng.random((b, *p.present.shape)), 2.0)  # padding sorts last
    first = np.arange(keys.shape[2])[None, None, :] < p.stratum_new[None, :, None]  # the first k in key order
    mask = np.zeros(keys.shape, dtype=bool)
    np.put_along_axis(mask, np.argsort(keys, axis=2), first, axis=2)
    if pooled is not None and pooled.any():
        strata = np.flatnonzero(pooled[p.stratum_device])  # contiguous by device
        device = p.stratum_device[strata]
        rank = np.unique(device, return_inverse=True)[1]  # 0.. over the pooled devices, in stratum order
        # One sort per relabelling over the pooled strata's slots: a device's keys are offset by 3 x its rank,
        # so its slots sort together (padding, 2.0, after its real blocks); its first new_blocks are new.
        slot_rank = np.repeat(rank, p.present.shape[1])
        flat = keys[:, strata].reshape(b, -1) + 3.0 * slot_rank[None]
        order = np.argsort(flat, axis=1)
        start = np.searchsorted(slot_rank, slot_rank)  # each slot's device's first position in sorted order
        position = np.empty_like(order)
        np.put_along_axis(position, order, np.arange(order.shape[1])[None].repeat(b, 0), axis=1)
        new = (position - start[None]) < p.new_blocks[device].repeat(p.present.shape[1])[None]
        mask[:, strata] = new.reshape(b, len(strata), -1)
    return mask


def maxt_paired(p: Paired, testable: np.ndarray, config: DriftConfig, rng: np.random.Generator):
    """Observed statistics, permutation maxima of both paired families, and per-hypothesis exceedance counts."""
    z_obs, fleet_obs = (a[0] for a in paired_statistics(p, p.observed_new[None]))
    z_obs, fleet_obs = np.where(testable, z_obs, 0.0), np.where(testable, fleet_obs, 0.0)
    max_dev, max_fleet = [], []
    raw_dev, raw_fleet = np.zeros_like(z_obs), np.zeros_like(fleet_obs)
    batch = max(1, min(config.permutations, 4_000_000 // max(p.units.size, 1)))  # bounds memory for big fleets
    for start in range(0, config.permutations, batch):
        z, fleet = paired_statistics(p, relabellings(p, rng, min(batch, config.permutations - start)))
        z, fleet = np.abs(np.where(testable, z, 0.0)), np.abs(np.where(testable, fleet, 0.0))
        max_dev.append(z.reshape(len(z), -1).max(1))
        max_fleet.append(fleet.max(1))
        raw_dev += (z >= np.abs(z_obs) - TIE).sum(0)
        raw_fleet += (fleet >= np.abs(fleet_obs) - TIE).sum(0)
    n = config.permutations + 1
    return z_obs, fleet_obs, np.concatenate(max_dev), np.concatenate(max_fleet), (raw_dev + 1) / n, \
        (raw_fleet + 1) / n


def pooled_devices(p: Paired, reachable: float) -> np.ndarray:
    """[D] bool: the devices whose class strata give too few relabellings for a p-value of `reachable` (a few
    windows of each class on each side), and whose blocks relabelled across their strata give more.

    Decided from the counts alone (the design, not the readings), so either way the test stays a permutation
    test. Relabelled across classes, a device's units are still centred within each of its classes, so a change
    in its class mix does not move their means; what it may move is their spread (see maxt_saturation)."""
    stratified, pooled = p.arrangements_log10(), p.pooled_arrangements_log10()
    return (stratified < -math.log10(reachable)) & (pooled > stratified)


def maxt_saturation(p: Paired, sensors: list[list[int]], config: DriftConfig, rng: np.random.Generator,
                    pooled: np.ndarray | None = None):
    """One-sided maxT on the rise of each device's peak share, summed over each sensor's channels `sensors`.

    Unstandardized: a clipped or stuck channel lifts its share on the new side only, where a standardized
    statistic stays bounded (the pooled SD grows with the very change); shares are on one scale anyway. Summed
    per sensor: clipping hits every axis of a sensor now and then, and a stuck axis lifts the sum by itself.
    Devices in `pooled` (pooled_devices) are relabelled across their classes: a stuck axis shows in every
    window whatever its class, and with ten windows a side spread over five classes the strata alone allow
    10^2.4 to 10^3.9 relabellings (bench_drift's 8 x 10 cell, 5th to 95th percentile), pooled C(20, 10) = 10^5.3.
    The peak share hardly depends on the class once centred within it (a moving sensor's peak is one sample in
    any motion), so the class-free relabelling costs little against a class-mix change (measured: bench_drift's
    class-mix rows, and quantized boards saturating at full scale in tests/components/detect_drift/test_data_drift.py).
    Returns the observed rises [D, S] and the permutation maxima.
    """
    raw = np.stack([p.raw[:, :, idx].sum(2) for idx in sensors], axis=2)  # [strata, M, sensors]
    maxima = []
    batch = max(1, min(config.permutations, 4_000_000 // max(raw.size, 1)))
    for start in range(0, config.permutations, batch):
        b = min(batch, config.permutations - start)
        maxima.append(device_differences(p, relabellings(p, rng, b, pooled), raw, pooled).reshape(b, -1).max(1))
    return device_differences(p, p.observed_new[None], raw, pooled)[0], np.concatenate(maxima)


def maxt_adjusted(observed: np.ndarray, maxima: np.ndarray) -> np.ndarray:
    """Single-step maxT: the share of relabellings (the observed one included) whose maximum reaches |t|."""
    ordered = np.sort(maxima)
    beyond = len(ordered) - np.searchsorted(ordered, np.abs(observed) - TIE, side="left")
    return (beyond + 1) / (len(ordered) + 1)


def critical(maxima: np.ndarray, alpha: float) -> float:
    return float(np.quantile(maxima, 1 - alpha)) if len(maxima) else float("inf")


# ---------------------------------------------------------------------------------------- between devices


def device_means(features: np.ndarray, devices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes, names = pd.factorize(np.asarray(devices, dtype=str), sort=True)
    return np.asarray(names, dtype=str), group_sums(codes, features, len(names)) / np.bincount(codes)[:, None]


def welch_t(assign: np.ndarray, means: np.ndarray, sq: np.ndarray, n_new: int, n_ref: int) -> np.ndarray:
    """Welch t of new-minus-reference device means for each row of a 0/1 assignment matrix [B, D] -> [B, K]."""
    s_new, q_new = assign @ means, assign @ sq
    s_all, q_all = means.sum(0), sq.sum(0)
    s_ref, q_ref = s_all - s_new, q_all - q_new
    m_new, m_ref = s_new / n_new, s_ref / n_ref
    v_new = np.maximum(q_new - n_new * m_new ** 2, 0.0) / max(n_new - 1, 1)
    v_ref = np.maximum(q_ref - n_ref * m_ref ** 2, 0.0) / max(n_ref - 1, 1)
    scale = np.abs(means).max(0) + 1e-12  # guard against a zero variance (a constant feature)
    return (m_new - m_ref) / np.sqrt(v_new / n_new + v_ref / n_ref + (1e-9 * scale) ** 2)


@dataclass
class Between:
    ref_means: np.ndarray  # [R, K] class-centred device means
    new_means: np.ndarray  # [N, K]
    ref_level: np.ndarray  # [K] raw feature mean over reference devices
    new_level: np.ndarray  # [K]

    @property
    def arrangements_log10(self) -> float:
        n, k = len(self.ref_means) + len(self.new_means), len(self.new_means)
        return math.log10(math.comb(n, k))

    def t(self, assign: np.ndarray, shift: np.ndarray | None = None) -> np.ndarray:
        new = self.new_means if shift is None else self.new_means + shift
        means = np.concatenate([self.ref_means, new])
        return welch_t(assign, means, means ** 2, len(self.new_means), len(self.ref_means))


def device_relabellings(b: Between, rng: np.random.Generator, count: int) -> np.ndarray:
    """[count, R + N] 0/1: as many devices drawn as "new" as there are new devices, at random."""
    keys = rng.random((count, len(b.ref_means) + len(b.new_means)))
    perms = np.zeros_like(keys)
    np.put_along_axis(perms, np.argsort(keys, axis=1)[:, :len(b.new_means)], 1.0, axis=1)
    return perms


def between_test(b: Between, testable: np.ndarray, config: DriftConfig, rng: np.random.Generator):
    """Observed t, step-down maxT adjusted p, raw p and the permutation maxima (whole devices permuted)."""
    n_ref, n_new = len(b.ref_means), len(b.new_means)
    observed = np.zeros((1, n_ref + n_new))
    observed[0, n_ref:] = 1.0
    perms = device_relabellings(b, rng, config.permutations)
    t_signed = b.t(np.concatenate([observed, perms]))  # incl. the observed, first
    t_perm = np.where(testable, np.abs(t_signed), 0.0)
    # The observed t is the first row of the same product, not a product of its own: BLAS may add in another
    # order for another shape, and a large t then misses itself by more than TIE (a p-value of 0).
    t_obs = t_perm[0]
    raw = (t_perm >= t_obs - TIE).mean(0)
    order = np.argsort(-t_obs)
    successive_max = np.maximum.accumulate(t_perm[:, order][:, ::-1], axis=1)[:, ::-1]
    adjusted_sorted = np.maximum.accumulate((successive_max >= t_obs[order] - TIE).mean(0))
    adjusted = np.empty_like(adjusted_sorted)
    adjusted[order] = adjusted_sorted
    return t_signed[0], adjusted, raw, t_perm[1:].max(1)
