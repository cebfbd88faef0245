"""A fleet of simulated IMU devices writing uploads in the device contract.

SYNTHETIC DATA: this is the embedded default's data source and the tests'
fixture, not a recording of real people. Each window is one gesture performed
by a device worn at its own tilt, through a 6-axis IMU with its own gain,
offset, bias and noise:

- motion: the hand's acceleration and angular rate in the world frame, per
  gesture (idle tremor, wave, punch, circle, lift), at the wearer's tempo and
  vigour, starting at a random moment in the window;
- sensing: the accelerometer reads specific force (acceleration minus
  gravity, so a device at rest reads +1 g up) rotated into the device frame;
  the gyroscope reads angular rate; both are clipped to the sensor's range.

Scenarios:
- baseline: the fleet as trained on (hardware revision A).
- data-drift: new devices on hardware revision B: the IMU is mounted rotated
  90 degrees on the new board, with a larger accelerometer offset, a gyro bias
  and twice the noise. Same gestures, same labels; uploaded unlabelled.
- concept-drift: the baseline devices, same sensors, but on part of the fleet
  the app now maps motions to other labels (a wave now means "circle", ...).
  That part is the 40% of devices worn turned round (strap reversed: the
  board's x and y axes point the other way). Every fleet has them; the drift is visible in the
  signal on purpose, so one model without a device input can learn both
  mappings after retraining. Their OLD windows' labels are stale too: the
  meaning changed, not the data.
- data-drift with a kind (gain, offset, stuck, clip, noise, rate, swap, prior;
  components/simulator_kinds.py): the baseline's own devices later, with one
  named change on all of them or on the first N. Uploaded labelled.

Ground truth is written under simulator/truth/NNNN-<name>.csv, later files
overriding earlier ones: a concept-drift simulation also writes the new truth
of the old windows it makes stale. This is the demo's labelling oracle, which
exists only for the demo and the tests.
"""

from __future__ import annotations

import copy
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from components import layout
from components.config import DataConfig
from components.label_studio import LABEL_CONTROL, SERIES_OBJECT
from components.store import Store
from components.window_key import WindowKey

if TYPE_CHECKING:
    from components.simulator_kinds import DataDrift

SCENARIOS = ("baseline", "data-drift", "concept-drift")
GESTURES = ("idle", "wave", "punch", "circle", "lift")
IMU_CHANNELS = ("ax", "ay", "az", "gx", "gy", "gz")
# On concept-drifted devices the motion on the left is now labelled as on the right.
CONCEPT_REMAP = {"wave": "circle", "circle": "punch", "punch": "lift", "lift": "wave"}
CONCEPT_DRIFT_FRACTION = 0.4
WINDOWS_PER_FILE = 25


class SimulatorError(ValueError):
    pass


@dataclass(frozen=True)
class Device:
    device_id: str
    wear: np.ndarray  # 3x3 rotation: how the device sits on the wrist
    mount: np.ndarray  # 3x3 rotation: how the IMU sits on the board (hardware revision)
    accel_gain: np.ndarray  # [3]
    accel_offset: np.ndarray  # [3] g
    gyro_gain: np.ndarray  # [3]
    gyro_bias: np.ndarray  # [3] deg/s
    accel_noise: float  # g, standard deviation
    gyro_noise: float  # deg/s
    tempo: float  # >1 = faster gestures
    vigour: float  # >1 = larger gestures
    turned_round: bool = False  # worn turned round: x and y axes reversed
    concept_drifted: bool = False


@dataclass(frozen=True)
class Upload:
    key: str
    data: bytes


def rotation(roll, pitch, yaw) -> np.ndarray:
    """Rotation matrices from angles in radians (x, then y, then z); broadcasts over arrays."""
    roll, pitch, yaw = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (roll, pitch, yaw)))
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    one, zero = np.ones_like(roll), np.zeros_like(roll)
    rx = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, cr, -sr], -1), np.stack([zero, sr, cr], -1)], -2)
    ry = np.stack([np.stack([cp, zero, sp], -1), np.stack([zero, one, zero], -1), np.stack([-sp, zero, cp], -1)], -2)
    rz = np.stack([np.stack([cy, -sy, zero], -1), np.stack([sy, cy, zero], -1), np.stack([zero, zero, one], -1)], -2)
    return rz @ ry @ rx


def _turned_round(i: int) -> bool:
    """2 devices in every 5 (CONCEPT_DRIFT_FRACTION), spread over the fleet so every device split has some."""
    return i % 5 in (1, 3)


def make_fleet(scenario: str, devices: int, rng: np.random.Generator) -> list[Device]:
    revision_b = scenario == "data-drift"
    fleet = []
    for i in range(devices):
        tilt = np.deg2rad(rng.normal(0, 10, size=3))
        turned_round = _turned_round(i)
        if turned_round:  # 180 degrees about the vertical (z) axis: gravity stays on +z
            tilt[2] += np.pi
        noise = rng.uniform(0.008, 0.02)
        fleet.append(Device(
            device_id=f"dev-{'b' if revision_b else 'a'}{i:03d}",
            wear=rotation(*tilt),
            mount=rotation(0, 0, np.pi / 2) if revision_b else np.eye(3),
            accel_gain=rng.normal(1.0, 0.02, 3),
            accel_offset=rng.normal(0.0, 0.02, 3) + (0.12 if revision_b else 0.0),
            gyro_gain=rng.normal(1.0, 0.02, 3),
            gyro_bias=rng.normal(0.0, 1.5, 3) + (np.array([8.0, -6.0, 5.0]) if revision_b else 0.0),
            accel_noise=noise * (2 if revision_b else 1),
            gyro_noise=noise * 50 * (2 if revision_b else 1),
            tempo=rng.uniform(0.85, 1.15),
            vigour=rng.uniform(0.8, 1.2),
            turned_round=turned_round,
            concept_drifted=scenario == "concept-drift" and turned_round,
        ))
    return fleet


def _motion(gesture: str, t: np.ndarray, device: Device, rng: np.random.Generator):
    """World-frame linear acceleration [T,3] (g) and angular rate [T,3] (deg/s)."""
    n = len(t)
    acc, gyro = np.zeros((n, 3)), np.zeros((n, 3))
    duration = rng.uniform(0.5, 0.9) / device.tempo
    start = rng.uniform(0.0, max(t[-1] - duration, 0.0))
    tau = np.clip((t - start) / duration, 0.0, 1.0)  # 0..1 over the gesture
    active = (t >= start) & (t <= start + duration)
    envelope = np.sin(np.pi * tau) ** 2 * active
    v = device.vigour * rng.uniform(0.6, 1.3)
    if gesture == "idle":
        drift = rng.normal(0, 1, (3,)) * np.sin(2 * np.pi * rng.uniform(0.2, 0.8) * t)[:, None]
        acc += 0.01 * drift
        gyro += 2.0 * drift
    elif gesture == "wave":  # side to side, ~2 cycles, wrist swinging about z
        phase = 2 * np.pi * 2.0 * tau
        acc[:, 0] = 1.6 * v * np.sin(phase) * envelope
        gyro[:, 2] = 160 * v * np.cos(phase) * envelope
    elif gesture == "punch":  # forward jab: accelerate, then brake harder
        acc[:, 1] = v * (2.4 * np.exp(-((tau - 0.3) / 0.1) ** 2) - 1.8 * np.exp(-((tau - 0.6) / 0.12) ** 2)) * active
        gyro[:, 0] = 40 * v * np.sin(2 * np.pi * tau) * active
    elif gesture == "circle":  # one loop in the vertical x-z plane
        phase = 2 * np.pi * tau
        acc[:, 0] = -1.2 * v * np.cos(phase) * envelope
        acc[:, 2] = -1.2 * v * np.sin(phase) * envelope
        gyro[:, 1] = 220 * v * envelope
    elif gesture == "lift":  # raise and lower the forearm, pitching the wrist
        acc[:, 2] = v * (1.5 * np.exp(-((tau - 0.25) / 0.12) ** 2) - 1.5 * np.exp(-((tau - 0.75) / 0.12) ** 2)) * active
        gyro[:, 0] = 180 * v * np.sin(2 * np.pi * tau) * envelope
    else:
        raise SimulatorError(f"unknown gesture {gesture!r}; the simulator knows {GESTURES}")
    return acc, gyro


def _sense(acc_world, gyro_world, device: Device, pose: np.ndarray, rng: np.random.Generator,
           time_scale: float = 1.0) -> np.ndarray:
    """What the device's IMU reports, [T, 6]: ax, ay, az (g), gx, gy, gz (deg/s).
    `time_scale`: real time between samples over the stamped time (the rate kind's lying time base)."""
    dt = time_scale / 50.0
    angles = np.deg2rad(np.cumsum(gyro_world, axis=0) * dt)  # small-angle orientation change
    frame = device.mount.T @ device.wear.T @ pose.T  # world -> sensor, before the gesture turns it
    turned = frame @ rotation(angles[:, 0], angles[:, 1], angles[:, 2]).transpose(0, 2, 1)  # [T,3,3]
    gravity = np.array([0.0, 0.0, -1.0])
    specific_force = np.einsum("tij,tj->ti", turned, acc_world - gravity)
    rate = gyro_world @ frame.T
    n = len(acc_world)
    accel = device.accel_gain * specific_force + device.accel_offset + rng.normal(0, device.accel_noise, (n, 3))
    gyro = device.gyro_gain * rate + device.gyro_bias + rng.normal(0, device.gyro_noise, (n, 3))
    return np.concatenate([accel, gyro], axis=1)


@dataclass(frozen=True)
class _SimulatedWindow:
    device_id: str
    index: int  # the window's number on its device
    start_ms: int
    values: np.ndarray  # [T, C], configured channels, clipped to their ranges
    label: str  # ground truth (the label as this device's app now assigns it)


def _simulated_windows(scenario: str, config: DataConfig, devices: int, windows_per_device: int, seed: int,
                       drift: DataDrift | None = None):
    """Every simulated window, device by device; the one source of `simulate` and `simulate_arrays`."""
    if scenario not in SCENARIOS:
        raise SimulatorError(f"unknown scenario {scenario!r}: expected one of {SCENARIOS}")
    unknown = [c for c in config.channel_names if c not in IMU_CHANNELS]
    classes = [c for c in config.class_names if c not in GESTURES]
    if unknown or classes:
        raise SimulatorError(f"the simulator makes channels {IMU_CHANNELS} and classes {GESTURES}; "
                             f"the configuration asks for channels {unknown} / classes {classes}")
    columns = [IMU_CHANNELS.index(c) for c in config.channel_names]
    ranges = np.array([[c.min, c.max] for c in config.channels])
    rng = np.random.default_rng([seed, SCENARIOS.index(scenario)])
    # The fleet's traits depend on the seed only, so concept-drift and the kinds show the baseline's devices.
    fleet = drift.fleet(seed) if drift is not None else make_fleet(scenario, devices, np.random.default_rng(seed))
    t = np.arange(config.window_length) / config.sample_rate_hz
    for i, device in enumerate(fleet):
        mix, time_scale = None, 1.0
        if drift is not None:
            # A stream per device, whatever the kind: the undrifted devices' windows stay as they were, and a
            # drifted device's windows differ from its undrifted ones by the change alone (prior: in the mix).
            rng = np.random.default_rng([seed, SCENARIOS.index(scenario), i])
            mix = drift.class_mix(device.device_id, config.class_names)
            time_scale = drift.time_scale(device.device_id, config.sample_rate_hz)
        for k in range(windows_per_device):
            if mix is None:
                gesture = config.class_names[rng.integers(len(config.class_names))]
            else:
                gesture = config.class_names[rng.choice(len(config.class_names), p=mix)]
            acc, gyro = _motion(gesture, t * time_scale, device, rng)
            pose = rotation(*np.deg2rad(rng.normal(0, 12, size=3)))  # how the arm is held this time
            readings = _sense(acc, gyro, device, pose, rng, time_scale)
            if drift is not None:
                readings = drift.readings(device.device_id, readings)
            values = np.clip(readings[:, columns], ranges[:, 0], ranges[:, 1])
            label = CONCEPT_REMAP.get(gesture, gesture) if device.concept_drifted else gesture
            if label not in config.class_names:
                label = gesture
            start_ms = 10_000 + k * 1500 + int(rng.integers(0, 200))
            yield _SimulatedWindow(device.device_id, k, start_ms, values, label)


def _data_drift(scenario: str, config: DataConfig, devices: int, kind: str | None, kind_devices: int | None,
                kind_size: float | None, kind_target: str | Sequence[str] | None) -> DataDrift | None:
    """The data-drift kind asked for, resolved (components/simulator_kinds.py); None without a kind."""
    if kind is None:
        if (kind_devices, kind_size, kind_target) != (None, None, None):
            raise SimulatorError("kind_devices, kind_size and kind_target need a kind")
        return None
    if scenario != "data-drift":
        raise SimulatorError(f"a kind changes the data-drift scenario, not {scenario!r}")
    from components.simulator_kinds import data_drift  # here, not at the top: simulator_kinds builds on this module

    return data_drift(config, devices, kind, kind_devices=kind_devices, kind_size=kind_size, kind_target=kind_target)


def simulation_name(scenario: str, config: DataConfig, *, devices: int = 12, seed: int = 0, kind: str | None = None,
                    kind_devices: int | None = None, kind_size: float | None = None,
                    kind_target: str | Sequence[str] | None = None) -> str:
    """What names a simulation in its upload keys, window ids and truth file: "data-drift-gain-n3-s0"."""
    return _name(scenario, seed, _data_drift(scenario, config, devices, kind, kind_devices, kind_size, kind_target))


def _name(scenario: str, seed: int, drift: DataDrift | None) -> str:
    return f"{scenario}-{drift.name}-s{seed}" if drift is not None else f"{scenario}-s{seed}"


def simulate(scenario: str, config: DataConfig, *, devices: int = 12, windows_per_device: int = 100,
             seed: int = 0, kind: str | None = None, kind_devices: int | None = None, kind_size: float | None = None,
             kind_target: str | Sequence[str] | None = None) -> tuple[list[Upload], list[tuple[str, str, str]]]:
    """Uploads for a fleet, and the ground truth (device_id, window_id, label) of every window.

    `kind` (data-drift only; see components/simulator_kinds.py) changes the baseline's own devices instead of
    bringing revision-B ones, on the first `kind_devices` (all when None), by `kind_size` (None: the kind's
    default), on `kind_target`. Revision-B uploads come unlabelled, as a new fleet's would, for the labelling
    queue; a kind's come labelled like the baseline's: the same devices and app, only the data changed, and
    per-class comparisons with the baseline (is it the sensor or the class mix that moved?) need the labels.
    """
    drift = _data_drift(scenario, config, devices, kind, kind_devices, kind_size, kind_target)
    name = _name(scenario, seed, drift)
    step_ms = 1000.0 / config.sample_rate_hz
    labelled = scenario != "data-drift" or drift is not None
    by_device: dict[str, list] = {}
    truth = []
    for w in _simulated_windows(scenario, config, devices, windows_per_device, seed, drift):
        window_id = f"{name}-{w.index:05d}"
        truth.append((w.device_id, window_id, w.label))
        by_device.setdefault(w.device_id, []).append((window_id, w.start_ms, w.values, w.label if labelled else ""))
    uploads = []
    for device_id, records in by_device.items():
        for part in range(0, len(records), WINDOWS_PER_FILE):
            body = _to_csv(device_id, records[part:part + WINDOWS_PER_FILE], step_ms, config)
            key = layout.upload(device_id, f"{name}-{part // WINDOWS_PER_FILE:03d}.csv")
            uploads.append(Upload(key, body))
    return uploads, truth


def _to_csv(device_id: str, records, step_ms: float, config: DataConfig) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["device_id", "window_id", "t_ms", *config.channel_names, "label"])
    for window_id, start_ms, values, label in records:
        for i, row in enumerate(values):
            writer.writerow([device_id, window_id, int(round(start_ms + i * step_ms)),
                             *(f"{v:.4f}" for v in row), label])
    return out.getvalue().encode()


def _truth_files(store: Store) -> list[str]:
    """Truth files oldest first: by their NNNN- prefix; a file without one (older stores) counts as oldest."""
    def order(key: str) -> tuple[int, str]:
        prefix = key[len(layout.TRUTH):].split("-", 1)[0]
        return (int(prefix) if prefix.isdigit() else -1, key)

    return sorted((k for k in store.list(layout.TRUTH) if k.endswith(".csv")), key=order)


def read_truth(store: Store, *, original: bool = False) -> dict[WindowKey, str]:
    """The oracle's current truth: {(device_id, window_id): label}, later truth files overriding earlier ones.
    With `original`, the truth before any concept drift (concept-drift files left out)."""
    truth: dict[WindowKey, str] = {}
    for key in _truth_files(store):
        if original and "concept-drift" in key:
            continue
        rows = csv.DictReader(io.StringIO(store.get_bytes(key).decode("utf-8")))
        missing = {"device_id", "window_id", "label"} - set(rows.fieldnames or [])
        if missing:
            raise SimulatorError(f"{key}: truth file is missing column(s) {sorted(missing)}; "
                                 f"expected device_id,window_id,label")
        for row in rows:
            truth[WindowKey(row["device_id"], row["window_id"])] = row["label"]
    return truth


def stale_truth(store: Store, scenario: str, devices: int, seed: int) -> list[tuple[str, str, str]]:
    """After a concept drift, the new truth of OLD windows on the drifted devices: their labels are stale."""
    if scenario != "concept-drift":
        return []
    drifted = {d.device_id for d in make_fleet(scenario, devices, np.random.default_rng(seed)) if d.concept_drifted}
    # From the original meaning: a second concept-drift simulation must not remap the remapped labels again.
    return [(device, window, CONCEPT_REMAP.get(label, label))
            for (device, window), label in read_truth(store, original=True).items()
            if device in drifted and not window.startswith(scenario) and CONCEPT_REMAP.get(label, label) != label]


def write_simulation(store: Store, uploads: list[Upload], truth: list[tuple[str, str, str]],
                     name: str) -> int:
    """Put the uploads in the landing zone (new keys only) and the oracle's truth beside them."""
    written = 0
    for upload in uploads:
        if not store.exists(upload.key):
            store.put_bytes(upload.key, upload.data)
            written += 1
    existing = [k for k in store.list(layout.TRUTH) if k.endswith(".csv")]
    if not any(k.endswith(f"-{name}.csv") for k in existing):  # the same simulation twice adds nothing
        truth_csv = "device_id,window_id,label\n" + "".join(f"{d},{w},{lab}\n" for d, w, lab in truth)
        store.put_bytes(layout.truth_file(len(existing), name), truth_csv.encode())
    return written


def simulate_arrays(scenario: str, config: DataConfig, *, devices: int = 12, windows_per_device: int = 100,
                    seed: int = 0, truth: bool = False, kind: str | None = None, kind_devices: int | None = None,
                    kind_size: float | None = None,
                    kind_target: str | Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The windows `simulate` would upload, as arrays, without writing or parsing CSV.

    Returns (x float32 [N, T, C], labels str [N], device_ids str [N]) in upload order, equal to the uploads
    parsed through the contract (values rounded to the CSV's 4 decimals). Labels are as uploaded ("" for the
    unlabelled data-drift scenario; a kind's are labelled) unless `truth`, which gives the oracle's labels. The
    kind options are `simulate`'s. The same arguments give the same windows as `simulate`: both come from
    `_simulated_windows`.
    """
    drift = _data_drift(scenario, config, devices, kind, kind_devices, kind_size, kind_target)
    labelled = scenario != "data-drift" or drift is not None
    xs, labels, device_ids = [], [], []
    for w in _simulated_windows(scenario, config, devices, windows_per_device, seed, drift):
        # Through the CSV's text form, so the values equal an upload parsed through the contract.
        xs.append(np.array([[float(f"{v:.4f}") for v in row] for row in w.values], dtype=np.float32))
        labels.append(w.label if (labelled or truth) else "")
        device_ids.append(w.device_id)
    x = np.stack(xs) if xs else np.zeros((0, config.window_length, len(config.channels)), dtype=np.float32)
    return x, np.array(labels, dtype=str), np.array(device_ids, dtype=str)


def oracle_answer(store: Store, tasks: list[dict]) -> list[dict]:
    """SYNTHETIC annotator for the demo and the tests only: the tasks, answered from the simulator's truth.

    Returns a Label Studio-style export: each task (copied; given an id when it has none) with one
    annotation whose choice is the simulator's current truth for its window (read_truth). A window
    without truth gets no annotation, so importing the answer quarantines it: the oracle never invents.
    """
    truth = read_truth(store)
    answered = []
    for index, task in enumerate(tasks):
        task = copy.deepcopy(task)
        task.setdefault("id", index + 1)
        data = task.get("data") or {}
        label = truth.get(WindowKey(str(data.get("device_id")), str(data.get("window_id"))))
        task["annotations"] = [] if label is None else [{
            "id": index + 1, "completed_by": "simulator-oracle", "was_cancelled": False, "ground_truth": True,
            "result": [{"from_name": LABEL_CONTROL, "to_name": SERIES_OBJECT, "type": "choices",
                        "value": {"choices": [label]}}],
        }]
        answered.append(task)
    return answered
