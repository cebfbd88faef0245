"""The drift features as the data-drift test groups them: by sensor (the model's input groups, one per unit).

The per-window features themselves are computed in components/window_features.py (ingest stores them with
each dataset version).
"""

from __future__ import annotations

import numpy as np

from components.config import DataConfig


def sensor_features(names: list[str], data: DataConfig, testable: np.ndarray | None = None):
    """(sensor name, unit, gain feature indices, {channel: mean feature index}, testable peak-share feature
    indices) per sensor (input group)."""
    from components.model_inputs import input_groups

    index = {n: i for i, n in enumerate(names)}
    for g in input_groups(data):
        sensor = g.name.removeprefix("in_")
        gain = [index[f"{c}_{s}"] for c in g.channel_names for s in ("mean", "std", "rms", "range", "jitter")]
        gain += [index[f"{sensor}_norm_{s}"] for s in ("mean", "std") if f"{sensor}_norm_{s}" in index]
        peak = [index[f"{c}_at_peak"] for c in g.channel_names
                if testable is None or testable[index[f"{c}_at_peak"]]]
        yield sensor, g.unit, gain, {c: index[f"{c}_mean"] for c in g.channel_names}, peak
