"""A window's identity: the device that recorded it and the window's id on that device.

The contract makes (device_id, window_id) unique within the fleet, and a window keeps it across uploads,
dataset versions and label imports: a labels version copies a window under the same key, and an upload
that repeats a key with other content is quarantined. Every place that names a window by its identity uses
`WindowKey` (a tuple, so plain (device, window) tuples compare equal to it). The window index stores a
digest of it instead (components/window_index.py), for compactness.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class WindowKey(NamedTuple):
    device_id: str
    window_id: str


def window_keys(device_ids: Iterable, window_ids: Iterable) -> list[WindowKey]:
    """The keys of windows given as two aligned sequences (arrays of a WindowSet, say)."""
    return [WindowKey(str(d), str(w)) for d, w in zip(device_ids, window_ids, strict=True)]
