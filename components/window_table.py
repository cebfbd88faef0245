"""Windows as the drift monitor reads them: every window's identity, label and time, and its drift features
and raw samples only for the rows asked for.

A WindowTable is the monitor's counterpart of a WindowSet. From the store (`read_tables`) it holds where each
window lies (version, row) and reads each version's features file (components/dataset_features.py), and its
windows.npz only for the samples of the rows the production model scores. From a WindowSet in memory
(`WindowTable.from_windows`) the same questions are answered from the samples, so the detect-drift step has
one path whichever way its inputs were loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from components import layout
from components.config import DataConfig
from components.dataset_features import META, read_features, read_window_meta
from components.datasets import WindowSet, combine_order, iter_window_samples
from components.store import Store
from components.window_features import channel_peaks, drift_features
from components.window_key import WindowKey, window_keys

CHUNK = 4096  # windows of raw samples at a time: a few MB whatever the table's size


@dataclass
class StoreRows:
    """Where a table's windows lie in the store: version (index into `versions`) and row in its windows."""

    store: Store
    versions: list[str]
    sampled: list[bool]  # per version: its raw windows are stored (a features-only version has none)
    version: np.ndarray  # int32 [N]
    row: np.ndarray  # int64 [N]
    data: DataConfig

    def take(self, index: np.ndarray) -> StoreRows:
        return replace(self, version=self.version[index], row=self.row[index])

    def _by_version(self, idx: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(version index, positions in idx of its windows), version by version."""
        versions = self.version[idx]
        for v in np.unique(versions):
            yield int(v), np.flatnonzero(versions == v)

    def features(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = None
        for v, positions in self._by_version(idx):
            f, p = read_features(self.store, self.versions[v], self.row[idx[positions]], self.data)
            if out is None:
                out = (np.empty((len(idx), f.shape[1]), np.float32), np.empty((len(idx), p.shape[1]), np.float32))
            out[0][positions], out[1][positions] = f, p
        return out if out is not None else _no_features(self.data)

    def has_samples(self, idx: np.ndarray) -> np.ndarray:
        return np.array(self.sampled, dtype=bool)[self.version[idx]] if len(idx) else np.zeros(0, bool)

    def window_ids(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty(len(idx), dtype=object)
        for v, positions in self._by_version(idx):
            out[positions] = read_window_meta(self.store, self.versions[v])["window_ids"][self.row[idx[positions]]]
        return out.astype(str) if len(out) else np.zeros(0, dtype=str)

    def samples(self, idx: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for v, positions in self._by_version(idx):
            if self.sampled[v]:
                for within, x in iter_window_samples(self.store, self.versions[v], self.row[idx[positions]], CHUNK):
                    yield positions[within], x


@dataclass
class MemoryRows:
    """A table's windows in a WindowSet in memory: features computed from the samples when asked for."""

    windows: WindowSet
    index: np.ndarray  # int64 [N]: each table row's window in `windows`
    data: DataConfig

    def take(self, index: np.ndarray) -> MemoryRows:
        return replace(self, index=self.index[index])

    def features(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not len(idx):
            return _no_features(self.data)
        x = self.windows.x[self.index[idx]]
        return drift_features(x, self.data).astype(np.float32), channel_peaks(x)

    def has_samples(self, idx: np.ndarray) -> np.ndarray:
        return np.ones(len(idx), dtype=bool)

    def window_ids(self, idx: np.ndarray) -> np.ndarray:
        return self.windows.window_ids[self.index[idx]]

    def samples(self, idx: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for s in range(0, len(idx), CHUNK):
            positions = np.arange(s, min(s + CHUNK, len(idx)))
            yield positions, self.windows.x[self.index[idx[positions]]]


def _no_features(data: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    from components.window_features import drift_feature_names

    return (np.zeros((0, len(drift_feature_names(data))), np.float32),
            np.zeros((0, len(data.channels)), np.float32))


@dataclass
class WindowTable:
    """Per window what the monitor reads of every window (a few tens of bytes); the rest through `rows`."""

    device_ids: np.ndarray  # str [N]
    labels: np.ndarray  # str [N], "" = unlabelled
    t0_ms: np.ndarray  # float64 [N]: the first sample's time
    rows: StoreRows | MemoryRows

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def from_windows(cls, windows: WindowSet, data: DataConfig) -> WindowTable:
        return cls(windows.device_ids, windows.labels,
                   np.asarray(windows.t_ms, dtype=np.float64)[:, 0] if len(windows) else np.zeros(0),
                   MemoryRows(windows, np.arange(len(windows)), data))

    @property
    def window_ids(self) -> np.ndarray:
        """str [N], read when asked for (the monitor needs them only to tell copies of windows apart)."""
        return self.rows.window_ids(np.arange(len(self)))

    def keys(self) -> list[WindowKey]:
        """Every window's identity, as WindowSet.keys."""
        return window_keys(self.device_ids, self.window_ids)

    def select(self, mask: np.ndarray) -> WindowTable:
        index = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else np.asarray(mask)
        return WindowTable(self.device_ids[index], self.labels[index], self.t0_ms[index], self.rows.take(index))

    def features(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(drift features float32 [len(idx), K], channel peaks float32 [len(idx), C]) of the rows `idx`."""
        return self.rows.features(np.asarray(idx, dtype=np.int64))

    def has_samples(self, idx: np.ndarray) -> np.ndarray:
        """bool [len(idx)]: the window's raw samples are stored (not so in a features-only version)."""
        return self.rows.has_samples(np.asarray(idx, dtype=np.int64))

    def samples(self, idx: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The raw samples of the rows `idx` that have them, a few thousand at a time: (positions in idx, x)."""
        return self.rows.samples(np.asarray(idx, dtype=np.int64))


def read_tables(store: Store, versions: list[str], data: DataConfig,
                split_by: WindowTable | None = None) -> list[WindowTable]:
    """The windows of `versions` (oldest first) combined as `datasets.read_versions` combines them: [those
    windows], or with `split_by`, [those whose (device_id, window_id) `split_by` does not hold, those it holds].

    A window held by several versions is the newest one's (its label), at the oldest one's place. Only the
    versions' features files (or, without one, their windows' ids) are read here.
    """
    if not versions:
        raise ValueError("no dataset versions to read")
    metas = [read_window_meta(store, v) for v in versions]
    sizes = [len(m["device_ids"]) for m in metas]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    meta = {name: np.concatenate([m[name] for m in metas]) for name in META}
    del metas
    groups = _combine(meta["device_ids"], meta["window_ids"], split_by)
    sampled = [store.exists(layout.dataset_file(v, "windows.npz")) for v in versions]
    tables = []
    for rows in groups:
        version = (np.searchsorted(offsets, rows, side="right") - 1).astype(np.int32)
        where = StoreRows(store, list(versions), sampled, version, rows - offsets[version], data)
        tables.append(WindowTable(meta["device_ids"][rows], meta["labels"][rows],
                                  meta["t0_ms"][rows].astype(np.float64), where))
    return tables


def _combine(device_ids: np.ndarray, window_ids: np.ndarray, split_by: WindowTable | None) -> list[np.ndarray]:
    """Indices into the versions' concatenated windows, group by group, as `datasets.read_versions` orders them."""
    return combine_order(device_ids, window_ids, None if split_by is None else (split_by.device_ids,
                                                                               split_by.window_ids))
