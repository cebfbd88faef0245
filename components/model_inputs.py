"""What the model sees: input groups by unit, labels as indices, the split by device.

An int8 tensor has one scale for all its values: accelerometer values (a few g)
and gyroscope values (hundreds of deg/s) in one tensor would leave the
accelerometer a couple of quantization levels. So the model has one input per
unit, each quantized on its own; the firmware copies raw sensor values into
the input of their unit and needs no other constants.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

from components.config import DataConfig, TrainConfig


@dataclass(frozen=True)
class InputGroup:
    name: str  # the model input's name, e.g. "in_g", "in_deg_s"
    unit: str
    channels: tuple[int, ...]  # indices into the configured channels, in order
    channel_names: tuple[str, ...]


def input_groups(data: DataConfig) -> list[InputGroup]:
    """One group per unit, in order of first appearance in the channel list."""
    groups: dict[str, list[int]] = {}
    for i, channel in enumerate(data.channels):
        groups.setdefault(channel.unit, []).append(i)
    result = []
    for unit, indices in groups.items():
        name = "in_" + (re.sub(r"[^A-Za-z0-9]+", "_", unit).strip("_").lower() or "x")
        while any(g.name == name for g in result):
            name += "_"
        result.append(InputGroup(name, unit, tuple(indices), tuple(data.channels[i].name for i in indices)))
    return result


def model_inputs(x: np.ndarray, groups: list[InputGroup]) -> list[np.ndarray]:
    """[N, T, C] raw windows -> one [N, T, 1, c] array per group (Conv2D over (T, 1))."""
    return [np.ascontiguousarray(x[:, :, None, list(g.channels)], dtype=np.float32) for g in groups]


def label_indices(labels: np.ndarray, class_names: tuple[str, ...]) -> np.ndarray:
    """Class indices; -1 for unlabelled windows."""
    text = np.asarray(labels).astype(str)  # what str(label) gives, as one array: a fleet's labels are many
    indices = np.full(len(text), -1, dtype=np.int64)
    for i, name in enumerate(class_names):
        indices[text == name] = i
    return indices


def _unit_interval(device_id: str) -> float:
    digest = hashlib.sha256(f"tinymlops-split:{device_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class DeviceSplit:
    train: tuple[str, ...]
    validation: tuple[str, ...]
    holdout: tuple[str, ...]

    def masks(self, device_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (np.isin(device_ids, self.train), np.isin(device_ids, self.validation),
                np.isin(device_ids, self.holdout))


def split_devices(device_ids: np.ndarray, config: TrainConfig) -> DeviceSplit:
    """Each device lands in one set, by a hash of its id alone.

    The hash keeps a device in the same set as the fleet grows and across
    seeds, so a production model and a challenger never trained on each
    other's holdout devices. Small fleets still get at least one device per set.
    """
    devices = sorted({str(d) for d in device_ids}, key=_unit_interval)
    if len(devices) < 3:
        raise ValueError(f"a split by device needs at least 3 devices, the data has {len(devices)}")
    u = {d: _unit_interval(d) for d in devices}
    holdout = [d for d in devices if u[d] < config.holdout_fraction]
    validation = [d for d in devices if config.holdout_fraction <= u[d]
                  < config.holdout_fraction + config.validation_fraction]
    train = [d for d in devices if d not in holdout and d not in validation]
    for chosen in (train, holdout, validation):
        if not chosen:  # a small fleet: lend a device from the largest set
            chosen.append(max((train, holdout, validation), key=len).pop())
    return DeviceSplit(tuple(sorted(train)), tuple(sorted(validation)), tuple(sorted(holdout)))
