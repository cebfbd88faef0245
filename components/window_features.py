"""Per-window features for drift detection, vectorised over [N, T, C]: computed once per dataset version at
ingest and stored beside its windows (components/dataset_features.py), tested by detect-drift.

Five statistics per configured channel (`window_features`), and for every sensor with two or more axes (the
channels sharing a unit) the mean and standard deviation of the vector's magnitude (`drift_features`). The
magnitude does not depend on how a device is worn: at rest an accelerometer reads 1 g whichever way up it is,
so a gain or offset change shows there clearly while per-axis means spread with the wearers' orientations.
Then each channel's jitter (the mean absolute difference of successive samples): white noise raises it far
more than the slower motion it rides on, so a noisier sensor shows there first. Last, each channel's peak share
(the share of samples at exactly the window's largest |value|): a moving sensor reaches its peak once, a
clipped one sits at its full-scale reading for as long as the motion exceeds it, and a stuck one reads its
one value throughout (share 1). A coarse ADC ties more often all along: the paired test takes that as the
device's own baseline. And each channel's spectral centroid (the |rFFT|-weighted mean frequency, DC left
out): a continuous measure where the dominant frequency moves in whole bins, so a time base 10% off shows.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import pandas as pd

from components.config import DataConfig
from components.cores import available_cores

STATISTICS = ("mean", "std", "rms", "range", "dom_freq")
# Windows per block: every temporary stays a few MB whatever N is (and is reused from block to block).
CHUNK_WINDOWS = 2048
# A spectrum peak is taken from the DFT-by-matrix-product only when it beats the runner-up by more than this
# times the window's sum of |x - mean| (both DFTs' rounding errors are below 1e-13 of it); otherwise from
# numpy's rFFT, as before. Either way the dominant frequency is numpy's rFFT argmax, bit for bit.
_PEAK_MARGIN = 2e-9


def feature_names(channel_names: tuple[str, ...] | list[str]) -> list[str]:
    """`ax_mean`, `ax_std`, ... channel-major, in the order `window_features` returns them."""
    return [f"{c}_{s}" for c in channel_names for s in STATISTICS]


def window_features(x: np.ndarray, sample_rate_hz: float) -> np.ndarray:
    """[N, T, C] raw windows -> float64 [N, C * 5]: mean, std, RMS, range (max-min) and dominant frequency (Hz).

    The dominant frequency is the rFFT magnitude peak of the window minus its mean, DC excluded (bin 1 and
    up, resolution sample_rate / T); a flat window reports the lowest non-DC bin.

    Values are those of numpy's `x.mean(1)`, `x.std(1)`, `sqrt((x**2).mean(1))`, `x.max(1) - x.min(1)` and
    `abs(rfft(x - mean, axis=1))[:, 1:].argmax(1)` in float64, bit for bit; they are computed in blocks of
    CHUNK_WINDOWS windows (a window's features depend on that window alone) on the machine's cores.
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"expected windows [N, T, C], got shape {x.shape}")
    n, t, c = x.shape
    if t < 2:
        raise ValueError("a window needs at least 2 samples for a frequency")
    out = np.empty((n, c * len(STATISTICS)), dtype=np.float64)
    starts = range(0, n, CHUNK_WINDOWS)

    def block(start: int) -> None:
        stop = min(start + CHUNK_WINDOWS, n)
        out[start:stop] = _block_features(x[start:stop], sample_rate_hz)

    workers = min(len(starts), available_cores(4))
    if workers > 1:  # numpy releases the GIL in its loops
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(block, starts))
    else:
        for start in starts:
            block(start)
    return out


@lru_cache(maxsize=8)
def _dft_matrix(t: int) -> np.ndarray:
    """[2K, T]: cos then -sin rows of the DFT for bins 1..K = T // 2 (angles reduced mod 2 pi exactly)."""
    j, k = np.arange(t), np.arange(1, t // 2 + 1)
    angle = 2 * np.pi * ((k[:, None] * j[None, :]) % t) / t
    matrix = np.concatenate([np.cos(angle), -np.sin(angle)])
    matrix.setflags(write=False)
    return matrix


def _sequential_sum(rows: np.ndarray) -> np.ndarray:
    """Sum over axis 0 of [T, M], in order: the same additions numpy makes reducing a strided axis."""
    total = rows[0].copy()
    for row in rows[1:]:
        total += row
    return total


def _block_features(x: np.ndarray, sample_rate_hz: float) -> np.ndarray:
    n, t, c = x.shape
    m = n * c
    # [T, N*C] float64: each statistic becomes a loop over T of vector operations on contiguous rows, adding in
    # the order numpy's reductions over axis 1 of [N, T, C] add (so every value is the same, bit for bit).
    xt = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(t, m).astype(np.float64)
    mean = _sequential_sum(xt) / t
    d = xt - mean
    work = d * d
    std = np.sqrt(_sequential_sum(work) / t)  # numpy's std: mean of (x - mean)**2, then sqrt
    np.multiply(xt, xt, out=work)
    rms = np.sqrt(_sequential_sum(work) / t)
    span = xt.max(axis=0) - xt.min(axis=0)
    dom_bin = _dominant_bin(d, t, m)
    dom_freq = (dom_bin + 1) * sample_rate_hz / t
    return np.stack([mean, std, rms, span, dom_freq], axis=1).reshape(n, c * len(STATISTICS))


def _dominant_bin(d: np.ndarray, t: int, m: int) -> np.ndarray:
    """argmax over bins 1..T//2 of |rfft| of each column of d [T, M] (0-based from bin 1), as numpy's rFFT gives."""
    k = t // 2
    y = _dft_matrix(t) @ d  # [2K, M]: real and imaginary parts
    magnitude = np.sqrt(y[:k] ** 2 + y[k:] ** 2)
    best = magnitude.argmax(axis=0)
    columns = np.arange(m)
    top = magnitude[best, columns]
    magnitude[best, columns] = -np.inf
    runner_up = magnitude.max(axis=0)
    unsure = ~(top - runner_up > _PEAK_MARGIN * np.abs(d).sum(axis=0))  # near ties, flat windows, NaN
    if unsure.any():
        cols = np.flatnonzero(unsure)
        best[cols] = np.abs(np.fft.rfft(d[:, cols].T, axis=1))[:, 1:].argmax(axis=1)
    return best


def _vectors(data: DataConfig) -> list[tuple[str, tuple[int, ...]]]:
    """(name, channel indices) of every sensor with two or more axes: channels sharing a unit."""
    from components.model_inputs import input_groups

    return [(g.name.removeprefix("in_"), g.channels) for g in input_groups(data) if len(g.channels) >= 2]


def drift_feature_names(data: DataConfig) -> list[str]:
    """feature_names of the channels, `<unit>_norm_mean`, `<unit>_norm_std` per multi-axis sensor, then
    `<channel>_jitter`, `<channel>_at_peak` and `<channel>_centroid`, per channel."""
    return (feature_names(data.channel_names) + [f"{name}_norm_{s}" for name, _ in _vectors(data)
                                                 for s in ("mean", "std")]
            + [f"{c}_{s}" for s in ("jitter", "at_peak", "centroid") for c in data.channel_names])


def drift_features(x: np.ndarray, data: DataConfig) -> np.ndarray:
    """[N, T, C] raw windows -> float64 [N, len(drift_feature_names(data))], in blocks of CHUNK_WINDOWS."""
    x = np.asarray(x)
    per_channel = window_features(x, data.sample_rate_hz)
    vectors = _vectors(data)
    norms = np.empty((len(x), 2 * len(vectors)))
    jitter = np.empty((len(x), x.shape[2] if x.ndim == 3 else 0))
    at_peak, centroid = np.empty_like(jitter), np.empty_like(jitter)
    t = x.shape[1] if x.ndim == 3 else 0
    frequencies = np.arange(1, t // 2 + 1)[None, :, None] * data.sample_rate_hz / max(t, 1)
    for start in range(0, len(x), CHUNK_WINDOWS):
        block = x[start:start + CHUNK_WINDOWS].astype(np.float64)
        for j, (_, channels) in enumerate(vectors):
            magnitude = np.sqrt((block[:, :, list(channels)] ** 2).sum(axis=2))  # [n, T]
            norms[start:start + len(block), 2 * j] = magnitude.mean(axis=1)
            norms[start:start + len(block), 2 * j + 1] = magnitude.std(axis=1)
        jitter[start:start + len(block)] = np.abs(np.diff(block, axis=1)).mean(axis=1)
        size = np.abs(block)
        at_peak[start:start + len(block)] = (size == size.max(axis=1, keepdims=True)).mean(axis=1)
        spectrum = np.abs(np.fft.rfft(block - block.mean(axis=1, keepdims=True), axis=1))[:, 1:]
        power = spectrum.sum(axis=1)
        centroid[start:start + len(block)] = np.where(
            power > 0, (spectrum * frequencies).sum(axis=1) / np.where(power > 0, power, 1.0), 0.0)
    return np.concatenate([per_channel, norms, jitter, at_peak, centroid], axis=1)


def feature_frame(x: np.ndarray, data: DataConfig, device_ids: np.ndarray | None = None) -> pd.DataFrame:
    """The drift features as a DataFrame (one row per window), optionally with a `device_id` column."""
    frame = pd.DataFrame(drift_features(x, data), columns=drift_feature_names(data))
    if device_ids is not None:
        frame.insert(0, "device_id", np.asarray(device_ids, dtype=str))
    return frame


def channel_peaks(x: np.ndarray) -> np.ndarray:
    """[N, T, C] raw windows -> float32 [N, C]: each channel's largest |reading| in the window.

    Exact (a float32 reading's magnitude is a float32): the monitor takes a device's peak as the largest of its
    windows' peaks and then needs only the windows that reach it to count the samples there (kinds.py).
    """
    x = np.asarray(x)
    return np.abs(x).max(axis=1).astype(np.float32) if len(x) else np.zeros((0, x.shape[2]), np.float32)
