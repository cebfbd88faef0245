"""The index of the windows one dataset version holds: each window's key and content, compact and sorted.

An ingest must know, for every new window, whether a stored version already holds its (device_id, window_id)
and with which content. Reading every earlier version's windows for that made each ingest cost as much as the
whole history; this index is 32 bytes a window (1,000,000 windows: 32 MB), sorted, so a lookup is a binary
search per version and reads nothing else. Keys and contents are 128-bit digests: two different windows share
one with a probability near 2^-128 per pair, far below any hardware error rate. Pure: no store.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import cached_property

import numpy as np


def key_digests(device_ids, window_ids) -> np.ndarray:
    """A 16-byte digest of each window's key (components/window_key.py): its identity, compact."""
    return np.array([hashlib.blake2b(f"{d}\0{w}".encode(), digest_size=16).digest()
                     for d, w in zip(device_ids, window_ids, strict=True)], dtype="S16")


def content_digests(hashes) -> np.ndarray:
    """The first 16 bytes of each window's content hash (contract.content_hash, hex)."""
    return np.array([bytes.fromhex(h[:32]) for h in hashes], dtype="S16")


def _prefixes(keys: np.ndarray) -> np.ndarray:
    return np.frombuffer(np.ascontiguousarray(keys, dtype="S16").tobytes(), dtype=">u8")[::2].astype(np.uint64)


@dataclass(frozen=True)
class WindowIndex:
    keys: np.ndarray  # S16 [N], sorted ascending
    contents: np.ndarray  # S16 [N], aligned with keys

    @classmethod
    def build(cls, device_ids, window_ids, hashes) -> WindowIndex:
        keys = key_digests(device_ids, window_ids)
        order = np.argsort(keys, kind="stable")
        return cls(keys[order], content_digests(hashes)[order])

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """For each key, its position in this index, or -1 when the index does not hold it."""
        # Searched by the keys' first 8 bytes as big-endian integers (the same order as the bytes, and several
        # times faster to compare); a prefix shared by two different keys is searched again in full.
        at = np.searchsorted(self._prefixes, _prefixes(keys))
        found = at < len(self.keys)
        found[found] = self.keys[at[found]] == keys[found]
        again = ~found & (at < len(self.keys))
        again[again] = self._prefixes[at[again]] == _prefixes(keys[again])
        if again.any():
            at[again] = np.searchsorted(self.keys, keys[again])
            found[again] = (at[again] < len(self.keys)) & (self.keys[np.minimum(at[again], len(self.keys) - 1)]
                                                          == keys[again])
        return np.where(found, at, -1)

    @cached_property
    def _prefixes(self) -> np.ndarray:
        return _prefixes(self.keys)

    def to_npz(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, keys=self.keys, contents=self.contents)
        return buffer.getvalue()

    @classmethod
    def from_npz(cls, data: bytes) -> WindowIndex:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return cls(npz["keys"], npz["contents"])
