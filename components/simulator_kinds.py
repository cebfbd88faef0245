"""Data-drift kinds: one named change to the baseline's own devices, on all of them or on the first N.

SYNTHETIC, like the simulator. `simulate("data-drift", ..., kind=...)` senses with the baseline fleet (the
same `make_fleet("baseline", ...)` draw for the same seed: the same device ids, tilts, gains and offsets)
and changes only what the kind names, on the drifted devices: "the same devices later", so a drift test can
compare a device with itself. Without a kind, the data-drift scenario is the revision-B fleet, unchanged.

Kinds; `kind_target` names what changes, `kind_size` how much ([defaults]):
- gain: a sensor's gain is multiplied by the size, e.g. after a recalibration [accel, x1.10];
- offset: the size is added to every axis of a sensor, in its unit [accel +0.1 g; gyro +5 deg/s];
- stuck: one channel reads the constant size, a dead axis [ay reads 0];
- clip: a sensor saturates at +-size, a lower full-scale range [accel at +-2 g; gyro at +-500 deg/s];
- noise: a sensor's noise is multiplied by the size [accel and gyro, x3];
- rate: the device samples at `size` Hz but stamps the configured rate. The time base lies, not the stamps:
  t_ms keeps the contract, and a gesture lasts fewer samples (more, above the rate) [90% of the rate];
- swap: two channels of one sensor exchange places, an axis map changed (a board mounted rotated is the
  kind-less data-drift scenario) [ax and ay]; takes no size;
- prior: the target class is `size` times as frequent; the sensors do not change [the second class, x3].

Which devices: the first `kind_devices` device ids in sorted order (`drifted_devices`), all by default;
0 gives the same devices later with nothing changed, a control.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from components.config import DataConfig
from components.simulator import IMU_CHANNELS, Device, SimulatorError, make_fleet

KINDS = ("gain", "offset", "stuck", "clip", "noise", "rate", "swap", "prior")
SENSORS = {"accel": ("ax", "ay", "az"), "gyro": ("gx", "gy", "gz")}
_SENSOR_KINDS = ("gain", "offset", "clip", "noise")  # whose target is a sensor
_DEFAULT_TARGET = {"gain": ("accel",), "offset": ("accel",), "clip": ("accel",), "noise": ("accel", "gyro"),
                   "stuck": ("ay",), "swap": ("ax", "ay"), "rate": ()}  # prior: the configuration's second class
# The Device field each sensor kind changes, per sensor: gain and noise multiply it, offset adds to it.
_DEVICE_FIELD = {("gain", "accel"): "accel_gain", ("gain", "gyro"): "gyro_gain",
                 ("offset", "accel"): "accel_offset", ("offset", "gyro"): "gyro_bias",
                 ("noise", "accel"): "accel_noise", ("noise", "gyro"): "gyro_noise"}


@dataclass(frozen=True)
class DataDrift:
    """One kind, resolved: what changes (target, size) on which devices (sorted ids) of a fleet of fleet_size."""

    kind: str
    target: tuple[str, ...]
    size: float | None
    devices: tuple[str, ...]
    fleet_size: int
    name: str  # names the run in upload keys and window ids: the kind, then what differs from its defaults

    def fleet(self, seed: int) -> list[Device]:
        """The baseline's devices for this seed, the drifted ones changed: what the simulation senses with."""
        baseline = make_fleet("baseline", self.fleet_size, np.random.default_rng(seed))
        return [self._changed(d) if d.device_id in self.devices else d for d in baseline]

    def _changed(self, device: Device) -> Device:
        change = {}
        for sensor in self.target:  # only gain, offset and noise change the device; the others, its readings
            field = _DEVICE_FIELD.get((self.kind, sensor))
            if field:
                value = getattr(device, field)
                change[field] = value + self.size if self.kind == "offset" else value * self.size
        return dataclasses.replace(device, **change) if change else device

    def class_mix(self, device_id: str, classes: Sequence[str]) -> np.ndarray:
        """Each class's probability on this device: uniform, but the prior kind's target `size` times as likely."""
        weights = np.ones(len(classes))
        if self.kind == "prior" and device_id in self.devices:
            weights[list(classes).index(self.target[0])] = self.size
        return weights / weights.sum()

    def time_scale(self, device_id: str, sample_rate_hz: float) -> float:
        """Real time between samples over the stamped time: 50/45 for a device sampling at 45 Hz stamped 50."""
        if self.kind == "rate" and device_id in self.devices:
            return sample_rate_hz / self.size
        return 1.0

    def readings(self, device_id: str, values: np.ndarray) -> np.ndarray:
        """What the device uploads of its IMU's readings [T, 6] (IMU_CHANNELS order)."""
        if device_id not in self.devices or self.kind not in ("stuck", "clip", "swap"):
            return values
        values = values.copy()
        if self.kind == "stuck":
            values[:, IMU_CHANNELS.index(self.target[0])] = self.size
        elif self.kind == "clip":
            columns = [IMU_CHANNELS.index(c) for c in SENSORS[self.target[0]]]
            values[:, columns] = np.clip(values[:, columns], -self.size, self.size)
        else:
            a, b = (IMU_CHANNELS.index(c) for c in self.target)
            values[:, [a, b]] = values[:, [b, a]]
        return values


def drifted_devices(devices: int, kind_devices: int | None = None) -> list[str]:
    """The device ids a kind changes in a fleet of `devices`: the first `kind_devices` in sorted order, all
    when None. The ids do not depend on the seed."""
    ids = sorted(d.device_id for d in make_fleet("baseline", devices, np.random.default_rng(0)))
    if kind_devices is None:
        return ids
    if not 0 <= kind_devices <= devices:
        raise SimulatorError(f"kind_devices must be between 0 and the fleet's {devices} devices, not {kind_devices}")
    return ids[:kind_devices]


def data_drift(config: DataConfig, devices: int, kind: str, *, kind_devices: int | None = None,
               kind_size: float | None = None, kind_target: str | Sequence[str] | None = None) -> DataDrift:
    """The kind resolved against the configuration: defaults filled in, the target and size checked.
    `kind_target` is a sequence of names or one comma-separated string ("gyro", "ax,az", "wave")."""
    if kind not in KINDS:
        raise SimulatorError(f"unknown kind {kind!r}: expected one of {KINDS}")
    default_target = (config.class_names[1],) if kind == "prior" else _DEFAULT_TARGET[kind]
    if isinstance(kind_target, str):
        kind_target = [t.strip() for t in kind_target.split(",") if t.strip()]
    target = default_target if kind_target is None else tuple(kind_target)
    _check_target(kind, target, config)
    default_size = _default_size(kind, target, config)
    size = default_size if kind_size is None else float(kind_size)
    if kind == "swap" and size is not None:
        raise SimulatorError("the swap kind takes no size: it exchanges two channels")
    if size is not None and (not math.isfinite(size) or (size <= 0 and kind not in ("offset", "stuck"))):
        raise SimulatorError(f"{kind}: size must be {'finite' if kind in ('offset', 'stuck') else 'above 0'}, "
                             f"not {size}")
    drifted = tuple(drifted_devices(devices, kind_devices))
    parts = [kind]  # the name: a different change at the same seed must not land on the same keys
    if len(drifted) < devices:
        parts.append(f"n{len(drifted)}")
    if target != default_target:
        parts.append(".".join(target))
    if size != default_size:
        parts.append(f"x{size:g}")
    name = "-".join(re.sub(r"[^A-Za-z0-9._]", "_", p) for p in parts)  # window ids and keys allow these
    return DataDrift(kind, target, size, drifted, devices, name)


def _check_target(kind: str, target: tuple[str, ...], config: DataConfig) -> None:
    if kind == "rate":
        if target:
            raise SimulatorError("the rate kind takes no target: the whole device's time base changes")
        return
    if kind == "prior":
        if len(target) != 1 or target[0] not in config.class_names:
            raise SimulatorError(f"prior: the target is one class of {config.class_names}, not {target}")
        return
    if len(set(target)) != len(target):
        raise SimulatorError(f"{kind}: target names repeat: {target}")
    if kind in _SENSOR_KINDS:
        single = kind in ("offset", "clip")  # their size is in the sensor's unit
        if not target or not set(target) <= set(SENSORS) or (single and len(target) != 1):
            raise SimulatorError(f"{kind}: the target is {'a sensor' if single else 'sensors'} of "
                                 f"{tuple(SENSORS)}, not {target}")
        channels = [c for s in target for c in SENSORS[s]]
    else:  # stuck: one channel; swap: two channels of one sensor
        count = 1 if kind == "stuck" else 2
        sensors = {s for s, names in SENSORS.items() for c in target if c in names}
        if len(target) != count or not set(target) <= set(IMU_CHANNELS) or len(sensors) != 1:
            raise SimulatorError(f"{kind}: the target is {'a channel' if count == 1 else 'two channels of one sensor'}"
                                 f" of {IMU_CHANNELS}, not {target}")
        channels = list(target)
    if not set(channels) & set(config.channel_names):
        raise SimulatorError(f"{kind} changes {channels}, none of which the configuration's channels "
                             f"{config.channel_names} has: nothing would change")


def _default_size(kind: str, target: tuple[str, ...], config: DataConfig) -> float | None:
    if kind == "rate":
        return 0.9 * config.sample_rate_hz  # 45 Hz stamped as 50
    gyro = target == ("gyro",)
    if kind == "offset":
        return 5.0 if gyro else 0.1
    if kind == "clip":
        return 500.0 if gyro else 2.0  # from +-2000 deg/s, +-4 g
    return {"gain": 1.10, "stuck": 0.0, "noise": 3.0, "prior": 3.0}.get(kind)  # swap: none
