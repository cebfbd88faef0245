"""Per-window features for drift detection: five statistics per configured channel, vectorised over [N, T, C]."""

from __future__ import annotations

import numpy as np
import pandas as pd

from components.config import DataConfig

STATISTICS = ("mean", "std", "rms", "range", "dom_freq")


def feature_names(channel_names: tuple[str, ...] | list[str]) -> list[str]:
    """`ax_mean`, `ax_std`, ... channel-major, in the order `window_features` returns them."""
    return [f"{c}_{s}" for c in channel_names for s in STATISTICS]


def window_features(x: np.ndarray, sample_rate_hz: float) -> np.ndarray:
    """[N, T, C] raw windows -> float64 [N, C * 5]: mean, std, RMS, range (max-min) and dominant frequency (Hz).

    The dominant frequency is the rFFT magnitude peak of the window minus its mean, DC excluded (bin 1 and
    up, resolution sample_rate / T); a flat window reports the lowest non-DC bin.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"expected windows [N, T, C], got shape {x.shape}")
    n, t, c = x.shape
    if t < 2:
        raise ValueError("a window needs at least 2 samples for a frequency")
    mean = x.mean(axis=1)
    std = x.std(axis=1)
    rms = np.sqrt((x ** 2).mean(axis=1))
    span = x.max(axis=1) - x.min(axis=1)
    spectrum = np.abs(np.fft.rfft(x - mean[:, None, :], axis=1))[:, 1:, :]  # [N, T//2, C], DC dropped
    dom_freq = (spectrum.argmax(axis=1) + 1) * sample_rate_hz / t
    return np.stack([mean, std, rms, span, dom_freq], axis=2).reshape(n, c * len(STATISTICS))


def feature_frame(x: np.ndarray, data: DataConfig, device_ids: np.ndarray | None = None) -> pd.DataFrame:
    """The per-window features as a DataFrame (one row per window), optionally with a `device_id` column."""
    frame = pd.DataFrame(window_features(x, data.sample_rate_hz), columns=feature_names(data.channel_names))
    if device_ids is not None:
        frame.insert(0, "device_id", np.asarray(device_ids, dtype=str))
    return frame
