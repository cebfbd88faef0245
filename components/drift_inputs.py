"""What a drift decision compares, read from the store: the production model's training data (reference)
against every window of the latest lineage it has never seen (new). Detect-drift reads them as the monitor
does (tables: features and samples on demand); the relabel queue reads the windows whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from components import registry
from components.config import DataConfig
from components.datasets import WindowSet, latest_version, lineage_versions, read_versions
from components.store import Store
from components.window_key import WindowKey
from components.window_table import WindowTable, read_tables


@dataclass
class DriftInputs:
    """What one detect-drift run compares; loaded from the store by `load_monitor_inputs` (tables: what the
    monitor reads) or `load_drift_inputs` (the windows whole: what the relabel queue needs)."""

    dataset_version: str | None  # the latest lineage's head: names the data compared
    production: str | None  # the model in production, if any
    tflite: bytes | None
    holdout_accuracy: float
    holdout_windows: int
    reference: WindowSet | WindowTable | None
    new: WindowSet | WindowTable | None
    # "device_id/window_id" of reference windows whose label an import changed since the model was trained
    relabelled_keys: frozenset[WindowKey] = frozenset()
    labelled_windows: int = 0  # with no model in production: labelled windows there are to train on

    @property
    def relabelled(self) -> int:
        return len(self.relabelled_keys)

    @property
    def data_key(self) -> str:
        """The data an alert is about: the same key twice means the same data."""
        return f"{self.dataset_version}--{self.production}"


def load_drift_inputs(store: Store, dataset_version: str | None = None) -> DriftInputs:
    """The inputs with the windows whole (WindowSet, samples in memory)."""
    return _load(store, dataset_version, lambda versions, split_by=None: read_versions(store, versions, split_by))


def load_monitor_inputs(store: Store, dataset_version: str | None = None,
                        data: DataConfig = DataConfig()) -> DriftInputs:
    """The inputs as the monitor reads them (WindowTable): every window's identity, label and time from the
    versions' features files; features and raw samples later, for the rows the decision uses."""
    return _load(store, dataset_version, lambda versions, split_by=None: read_tables(store, versions, data,
                                                                                      split_by))


def _load(store: Store, dataset_version: str | None, read: Callable) -> DriftInputs:
    """`read(versions, split_by=None)` combines versions as datasets.read_versions does."""
    dataset_version = dataset_version or latest_version(store)
    production = registry.production(store)
    if not dataset_version or not production:
        labelled = (int((read(lineage_versions(store, dataset_version))[0].labels != "").sum())
                    if dataset_version else 0)
        return DriftInputs(dataset_version, production, None, float("nan"), 0, None, None, labelled_windows=labelled)
    record = registry.read_model(store, production)
    trained = lineage_versions(store, record["dataset_version"])
    reference = read(trained)[0]
    lineage = lineage_versions(store, dataset_version)
    if lineage[:len(trained)] == trained:
        # Every window of the training lineage's versions is in the reference, so only the later versions can
        # hold new windows, or new labels of trained windows (a labels version copies them): read only those,
        # split into windows the model never saw and copies of trained ones.
        later = lineage[len(trained):]
        new, copies = (read(later, split_by=reference) if later
                       else [reference.select(np.zeros(len(reference), dtype=bool))] * 2)
    else:  # the model was trained on data that is not an ancestor of this version: compare whole lineages
        new, copies = read(lineage, split_by=reference)
    trained_label = dict(zip(reference.keys(), reference.labels.tolist(), strict=True))
    relabelled = frozenset(k for k, label in zip(copies.keys(), copies.labels.tolist(), strict=True)
                           if trained_label[k] != label)
    metrics = json.loads(registry.read_model_file(store, production, "metrics.json"))
    return DriftInputs(dataset_version, production, registry.read_model_file(store, production, "model.tflite"),
                       float(metrics["int8_accuracy"]), int(metrics["holdouts"]["holdout"]["windows"]),
                       reference, new, relabelled)
