"""The holdout sets a model is judged on: the labelled windows of the devices training held out, read from the
store. Evaluate measures a candidate on them; the report and the CLI show a model's accuracy on them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.config import Config
from components.datasets import lineage_versions, read_lineage, read_manifest, read_window_ids
from components.model_inputs import label_indices, split_devices
from components.store import Store
from components.window_key import WindowKey, window_keys


@dataclass
class Holdout:
    x: np.ndarray  # raw windows [N, T, C]
    y: np.ndarray  # class indices
    keys: tuple[WindowKey, ...] = ()  # each window's


def load_holdouts(store: Store, dataset_version: str, config: Config) -> dict[str, Holdout]:
    """The labelled windows of holdout devices, with their current labels (a labels version may have
    corrected them): all of them ("holdout"), those the oldest version brought ("baseline"), those the newest
    ingest brought ("newest": after a drift, the drifted data)."""
    ingested = [v for v in lineage_versions(store, dataset_version) if read_manifest(store, v).get("kind") != "labels"]
    origin_of: dict[WindowKey, int] = {}
    for i, version in enumerate(ingested):
        for key in window_keys(*read_window_ids(store, version)):
            origin_of.setdefault(key, i)
    windows = read_lineage(store, dataset_version)
    keys = windows.keys()
    origin = np.array([origin_of.get(k, -1) for k in keys])
    y = label_indices(windows.labels, config.data.class_names)
    labelled = y >= 0
    split = split_devices(windows.device_ids[labelled], config.train)  # the split train() made
    held = labelled & np.isin(windows.device_ids, split.holdout)
    sets = {"holdout": held, "baseline": held & (origin == 0)}
    if len(ingested) > 1 and (held & (origin == len(ingested) - 1)).any():
        sets["newest"] = held & (origin == len(ingested) - 1)
    return {name: Holdout(windows.x[mask], y[mask], tuple(keys[i] for i in np.flatnonzero(mask)))
            for name, mask in sets.items() if mask.any()}
