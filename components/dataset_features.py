"""Each dataset version's drift features, computed once when the version is written and stored beside it:

    datasets/<version>/drift_features.npz   one row per window of windows.npz, in its order (VersionFeatures)

so the drift monitor reads features instead of raw windows, and raw samples only for the rows it scores with
the production model (components/window_table.py).

Versions written before this file existed, and versions whose file was written for another channel
configuration, have none that fits: their features are computed from their raw windows when read, for the
rows asked for only. Labels versions (`tinymlops labels import`) write their windows through
`datasets.write_version` alone, so theirs are computed on read too (they are small: relabelled copies).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, fields

import numpy as np

from components import layout
from components.config import DataConfig
from components.datasets import WindowSet, iter_window_samples, open_windows_npz
from components.store import Store
from components.window_features import channel_peaks, drift_feature_names, drift_features

FILE = "drift_features.npz"


def features_key(version: str) -> str:
    return layout.dataset_file(version, FILE)


@dataclass
class VersionFeatures:
    """What the monitor needs of every window of one version, without its samples."""

    names: np.ndarray  # str [K]: drift_feature_names of the channel configuration they were computed for
    features: np.ndarray  # float32 [N, K]: drift_features
    peaks: np.ndarray  # float32 [N, C]: channel_peaks (the saturation evidence starts from them)
    device_ids: np.ndarray  # str [N]
    window_ids: np.ndarray  # str [N]
    labels: np.ndarray  # str [N], "" = unlabelled
    t0_ms: np.ndarray  # float64 [N]: the first sample's time (a window's place in its device's time order)

    def to_npz(self) -> bytes:
        """Not deflated: the features are float data that barely compresses, and the monitor reads them whole."""
        buffer = io.BytesIO()
        np.savez(buffer, **{f.name: getattr(self, f.name) for f in fields(self)})
        return buffer.getvalue()


# Per-window identity, label and time: what `read_window_meta` returns from either file.
META = ("device_ids", "window_ids", "labels", "t0_ms")


def window_drift_features(x: np.ndarray, data: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """(features float32 [N, K], peaks float32 [N, C]) of raw windows [N, T, C] (pure).

    Each window's values depend on that window alone, bit for bit, so features computed upload by upload
    (as ingest does, in its parsing threads) and concatenated equal those computed on the whole version.
    """
    return drift_features(x, data).astype(np.float32), channel_peaks(x)


def version_features(windows: WindowSet, data: DataConfig,
                     computed: tuple[np.ndarray, np.ndarray] | None = None) -> VersionFeatures:
    """The features file's content for `windows` (pure); `computed`: their window_drift_features, if known."""
    features, peaks = computed if computed is not None else window_drift_features(windows.x, data)
    return VersionFeatures(np.array(drift_feature_names(data), dtype=str), features, peaks,
                           windows.device_ids, windows.window_ids, windows.labels,
                           np.asarray(windows.t_ms, dtype=np.float64)[:, 0])


def write_drift_features(store: Store, version: str, windows: WindowSet, data_config: DataConfig,
                         computed: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Store the drift features of the windows a version adds (its windows.npz's rows, in order); `computed`:
    their window_drift_features when the caller has them already.

    Call it before the version's manifest is written: a version exists once its manifest does, and then its
    features are there too.
    """
    store.put_bytes(features_key(version), version_features(windows, data_config, computed).to_npz())


def read_window_meta(store: Store, version: str) -> dict[str, np.ndarray]:
    """{device_ids, window_ids, labels, t0_ms} of the windows a version adds, from its features file, or from
    its windows.npz when it has none (the samples are not read either way)."""
    key = features_key(version)
    if store.exists(key):
        with np.load(io.BytesIO(store.get_bytes(key)), allow_pickle=False) as npz:
            return {name: npz[name] for name in META}
    with open_windows_npz(store, version) as npz:
        return {"device_ids": npz["device_ids"], "window_ids": npz["window_ids"], "labels": npz["labels"],
                "t0_ms": np.asarray(npz["t_ms"][:, 0], dtype=np.float64)}


def read_features(store: Store, version: str, rows: np.ndarray, data: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """(features float32 [len(rows), K], peaks float32 [len(rows), C]) of a version's windows at `rows`.

    From the version's features file when it has one computed for this channel configuration; otherwise (a
    version written before features were stored, a labels version, another configuration) computed from the
    raw windows at `rows`, as ingest would have.
    """
    rows = np.asarray(rows, dtype=np.int64)
    key = features_key(version)
    if store.exists(key):
        with np.load(io.BytesIO(store.get_bytes(key)), allow_pickle=False) as npz:
            if npz["names"].tolist() == drift_feature_names(data):
                return npz["features"][rows], npz["peaks"][rows]
    features = np.empty((len(rows), len(drift_feature_names(data))), dtype=np.float32)
    peaks = np.empty((len(rows), len(data.channels)), dtype=np.float32)
    for positions, x in iter_window_samples(store, version, rows):  # piece by piece: memory stays small
        features[positions], peaks[positions] = window_drift_features(x, data)
    return features, peaks
