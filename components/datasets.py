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
    datasets/<version>/index.npz        each window's key and content digest, sorted (WindowIndex)
    datasets/<version>/quarantine.csv   every rejected row with its reason
    datasets/<version>/manifest.json    counts, uploads read, parent, config
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from components import layout
from components.contract import QuarantinedRow, Window
from components.store import Store, get_json, put_json
from components.window_index import WindowIndex
from components.window_key import WindowKey, window_keys


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

    def keys(self) -> list[WindowKey]:
        """Every window's identity across versions."""
        return window_keys(self.device_ids, self.window_ids)

    def select(self, mask: np.ndarray) -> WindowSet:
        return WindowSet(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})

    @staticmethod
    def concat(parts: list[WindowSet]) -> WindowSet:
        return WindowSet(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                            for f in fields(WindowSet)})

    def to_npz(self) -> bytes:
        """An .npz: the samples stored as they are (float sensor data barely compresses, and deflating it cost
        ingest half its time), the rest deflated. np.load reads it like any .npz."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", allowZip64=True) as archive:
            for f in fields(self):
                npy = io.BytesIO()
                np.lib.format.write_array(npy, np.asanyarray(getattr(self, f.name)), allow_pickle=False)
                info = zipfile.ZipInfo(f"{f.name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_STORED if f.name == "x" else zipfile.ZIP_DEFLATED
                archive.writestr(info, npy.getvalue(), compresslevel=1)
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
    return sorted(k[len(layout.DATASETS):-len("/manifest.json")] for k in store.list(layout.DATASETS)
                  if k.endswith("/manifest.json"))


def latest_version(store: Store) -> str | None:
    versions = list_versions(store)
    return versions[-1] if versions else None


def open_windows_npz(store: Store, version: str):
    """A version's windows.npz, opened without pickles (use it in a `with`): to read some arrays, not all."""
    return np.load(io.BytesIO(store.get_bytes(layout.dataset_file(version, "windows.npz"))), allow_pickle=False)


def read_manifest(store: Store, version: str) -> dict:
    return get_json(store, layout.dataset_file(version, "manifest.json"))


def read_window_ids(store: Store, version: str) -> tuple[np.ndarray, np.ndarray]:
    """(device_ids, window_ids) of the windows this version added, without decompressing the samples."""
    with open_windows_npz(store, version) as npz:
        return npz["device_ids"], npz["window_ids"]


def read_windows(store: Store, version: str) -> WindowSet:
    """The windows this version added (not its ancestors)."""
    return WindowSet.from_npz(store.get_bytes(layout.dataset_file(version, "windows.npz")))


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
        with open_windows_npz(store, v) as npz:
            ids.append((npz["device_ids"], npz["window_ids"]))
            heads.append({f.name: _npy_header(npz, f.name) for f in fields(WindowSet)})
    sizes = [len(d) for d, _ in ids]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    total = int(offsets[-1])
    split_ids = None if split_by is None else (split_by.device_ids, split_by.window_ids)
    groups = combine_order(np.concatenate([d for d, _ in ids]), np.concatenate([w for _, w in ids]), split_ids)
    del ids
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
        with open_windows_npz(store, v) as npz:
            for f in fields(WindowSet):
                array = npz[f.name]
                for g, src, dst in moves:
                    if dst is not None:
                        out[g][f.name][dst] = array[src]
                del array
    return [WindowSet(**o) for o in out]


def combine_order(device_ids: np.ndarray, window_ids: np.ndarray,
                  split_ids: tuple[np.ndarray, np.ndarray] | None = None) -> list[np.ndarray]:
    """Indices into versions' concatenated windows (oldest version first) as a lineage combines them: one
    window per (device_id, window_id), the newest copy, at the place of the oldest. With `split_ids`
    (device_ids, window_ids), two groups: the keys it does not hold, then those it holds."""
    total = len(device_ids)
    extra = [] if split_ids is None else [split_ids]
    # Each (device_id, window_id) as one integer: equal keys, equal codes.
    device_codes, _ = pd.factorize(np.concatenate([device_ids, *[d for d, _ in extra]]))
    window_codes, window_names = pd.factorize(np.concatenate([window_ids, *[w for _, w in extra]]))
    codes = device_codes.astype(np.int64) * max(len(window_names), 1) + window_codes
    codes, split_codes = codes[:total], codes[total:]
    # np.unique returns both index lists in the same (sorted-code) order, so they pair up key by key.
    _, first = np.unique(codes, return_index=True)
    _, first_from_end = np.unique(codes[::-1], return_index=True)
    newest = total - 1 - first_from_end
    order = np.arange(total) if len(newest) == total else newest[np.argsort(first, kind="stable")]
    if split_ids is None:
        return [order]
    held = np.isin(codes[order], split_codes)
    return [order[~held], order[held]]


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
    store.put_bytes(layout.dataset_file(version, "windows.npz"), windows.to_npz())
    store.put_bytes(layout.dataset_file(version, "index.npz"),
                    WindowIndex.build(windows.device_ids, windows.window_ids, windows.hashes).to_npz())
    store.put_bytes(layout.dataset_file(version, "quarantine.csv"), quarantine_csv(quarantined))
    put_json(store, layout.dataset_file(version, "manifest.json"), manifest)


def read_index(store: Store, version: str) -> WindowIndex:
    """The keys and contents of the windows this version added. A version written before the index existed
    has none: it is built from the version's windows then (slower, the same answer)."""
    key = layout.dataset_file(version, "index.npz")
    if store.exists(key):
        return WindowIndex.from_npz(store.get_bytes(key))
    with open_windows_npz(store, version) as npz:
        return WindowIndex.build(npz["device_ids"], npz["window_ids"], npz["hashes"])


QUARANTINE_COLUMNS = ("source", "line", "device_id", "window_id", "field", "reason", "raw")


def quarantine_csv(rows: list[QuarantinedRow]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=QUARANTINE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: v for k, v in asdict(row).items() if k in QUARANTINE_COLUMNS})
    return buffer.getvalue().encode()


def read_quarantine(store: Store, version: str) -> list[dict]:
    text = store.get_bytes(layout.dataset_file(version, "quarantine.csv")).decode()
    return list(csv.DictReader(io.StringIO(text)))


def iter_window_samples(store: Store, version: str, rows: np.ndarray, chunk: int = 4096):
    """The raw samples (x) of a version's windows at `rows`, without the rest of its windows.npz: yields
    (positions in `rows`, float32 [n, T, C]) pieces of at most `chunk` windows, in ascending row order.

    Samples stored as they are (not deflated) are read in place; a deflated x (versions written before) is
    inflated once, front to back, keeping only the rows asked for.
    """
    import zipfile

    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    data = store.get_bytes(layout.dataset_file(version, "windows.npz"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open("x.npy") as fp:
        info = archive.getinfo("x.npy")
        major, _ = np.lib.format.read_magic(fp)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(fp)
        if fortran:
            raise ValueError(f"{version}: x.npy is stored in Fortran order, which this reader does not take")
        per_row = int(np.prod(shape[1:]))
        if info.compress_type == zipfile.ZIP_STORED:
            local = data[info.header_offset:info.header_offset + 30]  # the member's local header: name, extra
            start = (info.header_offset + 30 + int.from_bytes(local[26:28], "little")
                     + int.from_bytes(local[28:30], "little") + fp.tell())
            x = np.frombuffer(data, dtype=dtype, count=shape[0] * per_row, offset=start).reshape(shape)
            for s in range(0, len(rows), chunk):
                yield order[s:s + chunk], x[rows[order[s:s + chunk]]]
            return
        done, sorted_rows = 0, rows[order]
        for first in range(0, shape[0], chunk):
            n = min(chunk, shape[0] - first)
            raw = fp.read(n * per_row * dtype.itemsize)
            end = int(np.searchsorted(sorted_rows, first + n, side="left"))
            if end > done:
                block = np.frombuffer(raw, dtype=dtype).reshape(n, *shape[1:])
                yield order[done:end], block[sorted_rows[done:end] - first]
                done = end
            if done == len(rows):
                return


def read_window_samples(store: Store, version: str, rows: np.ndarray) -> np.ndarray:
    """float32 [len(rows), T, C]: the raw samples of a version's windows at `rows`, in that order."""
    rows = np.asarray(rows, dtype=np.int64)
    parts = list(iter_window_samples(store, version, rows))
    if not parts:
        with open_windows_npz(store, version) as npz:
            shape = _npy_header(npz, "x")[0]
        return np.empty((0, *shape[1:]), dtype=np.float32)
    out = np.empty((len(rows), *parts[0][1].shape[1:]), dtype=parts[0][1].dtype)
    for positions, x in parts:
        out[positions] = x
    return out
