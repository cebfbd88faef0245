"""Windows in memory (WindowSet) and immutable dataset versions in the store.

A dataset version holds the windows one ingest accepted (or, for a labels
version, copies of old windows with their corrected labels) and names its
parent; the data a model trains on is a version together with its ancestors
(`read_lineage`). Within a lineage a window is identified by (device_id,
window_id), and a later version overrides an earlier one: that is how a labels
version relabels old windows without touching the version that holds them. A
version exists once its manifest exists: the manifest is written last, so a
failed write leaves nothing a reader would see.

    datasets/<version>/windows.npz      the accepted windows (WindowSet)
    datasets/<version>/quarantine.csv   every rejected row with its reason
    datasets/<version>/manifest.json    counts, uploads read, parent, config
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from components.contract import QuarantinedRow, Window
from components.store import Store, get_json, put_json

PREFIX = "datasets/"


@dataclass
class WindowSet:
    """N windows of T samples and C channels, with per-window metadata."""

    x: np.ndarray  # float32 [N, T, C], raw sensor units
    t_ms: np.ndarray  # float64 [N, T]
    labels: np.ndarray  # str [N], "" = unlabelled
    device_ids: np.ndarray  # str [N]
    window_ids: np.ndarray  # str [N]
    sources: np.ndarray  # str [N], the upload each window came from
    pred_labels: np.ndarray  # str [N], the device's own prediction, "" = none
    pred_scores: np.ndarray  # float32 [N], nan = none
    hashes: np.ndarray  # str [N], content hash (exact-duplicate identity)

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def empty(cls, window_length: int, channels: int) -> WindowSet:
        return cls.from_windows([], window_length, channels)

    @classmethod
    def from_windows(cls, windows: list[Window], window_length: int, channels: int) -> WindowSet:
        def text(values) -> np.ndarray:
            return np.array(list(values), dtype=str)

        return cls(
            x=np.array([w.x for w in windows], dtype=np.float32).reshape(-1, window_length, channels),
            t_ms=np.array([w.t_ms for w in windows], dtype=np.float64).reshape(-1, window_length),
            labels=text(w.label for w in windows),
            device_ids=text(w.device_id for w in windows),
            window_ids=text(w.window_id for w in windows),
            sources=text(w.source for w in windows),
            pred_labels=text(w.pred_label for w in windows),
            pred_scores=np.array([w.pred_score for w in windows], dtype=np.float32),
            hashes=text(w.content_hash for w in windows),
        )

    def keys(self) -> np.ndarray:
        """"device_id/window_id" of every window: a window's identity across versions."""
        return np.char.add(np.char.add(self.device_ids.astype(str), "/"), self.window_ids.astype(str))

    def select(self, mask: np.ndarray) -> WindowSet:
        return WindowSet(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})

    @staticmethod
    def concat(parts: list[WindowSet]) -> WindowSet:
        return WindowSet(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                            for f in fields(WindowSet)})

    def to_npz(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{f.name: getattr(self, f.name) for f in fields(self)})
        return buffer.getvalue()

    @classmethod
    def from_npz(cls, data: bytes) -> WindowSet:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return cls(**{f.name: npz[f.name] for f in fields(cls)})

    def sample_frame(self, channel_names: tuple[str, ...]) -> pd.DataFrame:
        """One row per sample, the shape of the upload contract (for TFDV statistics)."""
        n, t, c = self.x.shape
        frame = pd.DataFrame(self.x.reshape(n * t, c), columns=list(channel_names))
        frame.insert(0, "label", np.repeat(self.labels, t))
        frame.loc[frame["label"] == "", "label"] = None  # absent, not an empty class
        return frame


def new_version_id(now: datetime | None = None) -> str:
    """Sortable and unique per microsecond: ds-20261127-072418-123456."""
    now = now or datetime.now(UTC)
    return now.strftime("ds-%Y%m%d-%H%M%S-%f")


def list_versions(store: Store) -> list[str]:
    return sorted(k[len(PREFIX):-len("/manifest.json")] for k in store.list(PREFIX)
                  if k.endswith("/manifest.json"))


def latest_version(store: Store) -> str | None:
    versions = list_versions(store)
    return versions[-1] if versions else None


def read_manifest(store: Store, version: str) -> dict:
    return get_json(store, f"{PREFIX}{version}/manifest.json")


def read_window_ids(store: Store, version: str) -> tuple[np.ndarray, np.ndarray]:
    """(device_ids, window_ids) of the windows this version added, without decompressing the samples."""
    with np.load(io.BytesIO(store.get_bytes(f"{PREFIX}{version}/windows.npz")), allow_pickle=False) as npz:
        return npz["device_ids"], npz["window_ids"]


def read_windows(store: Store, version: str) -> WindowSet:
    """The windows this version added (not its ancestors)."""
    return WindowSet.from_npz(store.get_bytes(f"{PREFIX}{version}/windows.npz"))


def lineage_versions(store: Store, version: str) -> list[str]:
    """The version and its ancestors, oldest first."""
    chain: list[str] = []
    current: str | None = version
    while current:
        chain.append(current)
        current = read_manifest(store, current).get("parent")
    return chain[::-1]


def read_lineage(store: Store, version: str) -> WindowSet:
    """The version's windows together with all its ancestors' windows, oldest first.

    One window per (device_id, window_id): its content comes from the newest version in the lineage that
    holds it, its position from the oldest, so a relabel changes labels without reordering the data.
    """
    return read_versions(store, lineage_versions(store, version))[0]


def read_versions(store: Store, versions: list[str], split_by: WindowSet | None = None) -> list[WindowSet]:
    """The windows of `versions` (oldest first) combined as `read_lineage` combines a lineage: [those windows],
    or with `split_by`, [those whose (device_id, window_id) `split_by` does not hold, those it holds].

    Streamed: a first pass reads only the ids and each array's header, a second fills the result one version
    and one field at a time, so memory peaks at about the result plus one field of one version.
    """
    if not versions:
        raise ValueError("no dataset versions to read")
    ids, heads = [], []
    for v in versions:
        with np.load(io.BytesIO(store.get_bytes(f"{PREFIX}{v}/windows.npz")), allow_pickle=False) as npz:
            ids.append((npz["device_ids"], npz["window_ids"]))
            heads.append({f.name: _npy_header(npz, f.name) for f in fields(WindowSet)})
    sizes = [len(d) for d, _ in ids]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    total = int(offsets[-1])
    extra = [] if split_by is None else [(split_by.device_ids, split_by.window_ids)]
    # Each (device_id, window_id) as one integer: equal keys, equal codes.
    device_codes, device_names = pd.factorize(np.concatenate([d for d, _ in ids + extra]))
    window_codes, window_names = pd.factorize(np.concatenate([w for _, w in ids + extra]))
    del ids
    codes = device_codes.astype(np.int64) * max(len(window_names), 1) + window_codes
    codes, split_codes = codes[:total], codes[total:]
    # np.unique returns both index lists in the same (sorted-code) order, so they pair up key by key.
    _, first = np.unique(codes, return_index=True)
    _, first_from_end = np.unique(codes[::-1], return_index=True)
    newest = total - 1 - first_from_end
    order = np.arange(total) if len(newest) == total else newest[np.argsort(first, kind="stable")]
    groups = [order] if split_by is None else [order[~np.isin(codes[order], split_codes)],
                                               order[np.isin(codes[order], split_codes)]]
    group = np.full(total, -1, dtype=np.int64)  # each stored window's group (-1: overridden) and place in it
    place = np.zeros(total, dtype=np.int64)
    out = []
    for g, rows in enumerate(groups):
        group[rows], place[rows] = g, np.arange(len(rows))
        out.append({f.name: np.empty((len(rows), *heads[0][f.name][0][1:]),
                                     dtype=np.result_type(*[np.empty(0, h[f.name][1]) for h in heads]))
                    for f in fields(WindowSet)})
    for i, v in enumerate(versions):
        mine = slice(offsets[i], offsets[i + 1])
        moves = []
        for g in range(len(groups)):
            src = np.flatnonzero(group[mine] == g)
            dst = place[mine][src]
            if len(src) == sizes[i] and (len(dst) < 2 or bool((np.diff(dst) == 1).all())):
                moves.append((g, slice(None), slice(int(dst[0]), int(dst[0]) + len(dst)) if len(dst) else None))
            elif len(src):
                moves.append((g, src, dst))
        if not any(to is not None for _, _, to in moves):
            continue
        with np.load(io.BytesIO(store.get_bytes(f"{PREFIX}{v}/windows.npz")), allow_pickle=False) as npz:
            for f in fields(WindowSet):
                array = npz[f.name]
                for g, src, dst in moves:
                    if dst is not None:
                        out[g][f.name][dst] = array[src]
                del array
    return [WindowSet(**o) for o in out]


def _npy_header(npz, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of one array in an .npz, from its header: the data is not read."""
    with npz.zip.open(f"{name}.npy") as fp:
        version = np.lib.format.read_magic(fp)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(fp)
    return shape, dtype


def write_version(store: Store, version: str, windows: WindowSet,
                  quarantined: list[QuarantinedRow], manifest: dict) -> None:
    """Write one immutable dataset version; the manifest goes last."""
    store.put_bytes(f"{PREFIX}{version}/windows.npz", windows.to_npz())
    store.put_bytes(f"{PREFIX}{version}/quarantine.csv", quarantine_csv(quarantined))
    put_json(store, f"{PREFIX}{version}/manifest.json", manifest)


QUARANTINE_COLUMNS = ("source", "line", "device_id", "window_id", "field", "reason", "raw")


def quarantine_csv(rows: list[QuarantinedRow]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=QUARANTINE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: v for k, v in asdict(row).items() if k in QUARANTINE_COLUMNS})
    return buffer.getvalue().encode()


def read_quarantine(store: Store, version: str) -> list[dict]:
    text = store.get_bytes(f"{PREFIX}{version}/quarantine.csv").decode()
    return list(csv.DictReader(io.StringIO(text)))
