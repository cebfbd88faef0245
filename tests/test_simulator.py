"""The simulator: deterministic, physically plausible, and calibrated to tell the product's story."""

import numpy as np
import pytest

from components.config import Config, DataConfig, load_config
from components.contract import parse_upload
from components.datasets import WindowSet
from components.simulator import SimulatorError, simulate


def windows_of(uploads, config: DataConfig) -> WindowSet:
    parsed = [parse_upload(u.key, u.data, config) for u in uploads]
    assert not any(p.quarantined for p in parsed), "the simulator must write valid uploads"
    return WindowSet.from_windows([w for p in parsed for w in p.windows], config.window_length,
                                  len(config.channels))


def test_same_seed_same_bytes_other_seed_other_bytes(config):
    a, _ = simulate("baseline", config.data, devices=2, windows_per_device=3, seed=5)
    b, _ = simulate("baseline", config.data, devices=2, windows_per_device=3, seed=5)
    c, _ = simulate("baseline", config.data, devices=2, windows_per_device=3, seed=6)
    assert [u.data for u in a] == [u.data for u in b] != [u.data for u in c]


def test_signals_are_physically_plausible(config):
    uploads, truth = simulate("baseline", config.data, devices=4, windows_per_device=40, seed=2)
    ws = windows_of(uploads, config.data)
    idle = ws.labels == "idle"
    accel_norm = np.linalg.norm(ws.x[idle][:, :, :3], axis=2)
    assert abs(np.median(accel_norm) - 1.0) < 0.05  # a device at rest feels 1 g of gravity
    assert np.abs(ws.x[idle][:, :, 3:]).mean() < 10  # and barely turns (deg/s)
    moving = ~idle
    assert np.abs(ws.x[moving][:, :, 3:]).max(axis=(1, 2)).mean() > 40  # gestures turn the wrist
    assert {lab for _, _, lab in truth} == set(config.data.class_names)


def test_scenarios_differ_as_documented(config):
    base, _ = simulate("baseline", config.data, devices=5, windows_per_device=20, seed=0)
    drift, drift_truth = simulate("data-drift", config.data, devices=5, windows_per_device=20, seed=0)
    concept, concept_truth = simulate("concept-drift", config.data, devices=5, windows_per_device=20, seed=0)
    b, d, c = (windows_of(u, config.data) for u in (base, drift, concept))
    assert all(dev.startswith("dev-b") for dev in d.device_ids) and set(d.labels) == {""}
    assert len(drift_truth) == 100  # the demo oracle knows the labels the uploads lack
    assert set(c.device_ids) == set(b.device_ids)  # concept drift: the same fleet
    # Rev B's IMU is mounted rotated: idle gravity moves off the baseline's axes.
    assert np.abs(d.x[:, :, :3].mean(axis=(0, 1)) - b.x[:, :, :3].mean(axis=(0, 1))).max() > 0.1
    assert len(concept_truth) == len(c)


def test_other_channel_subset_and_window_shape(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("data:\n  window_length: 32\n  sample_rate_hz: 25\n  class_names: [idle, wave, lift]\n"
                    "  channels:\n    - {name: az, unit: g, min: -8, max: 8}\n"
                    "    - {name: gz, unit: deg/s, min: -1000, max: 1000}\n")
    config = load_config(path)
    uploads, _ = simulate("baseline", config.data, devices=2, windows_per_device=5)
    ws = windows_of(uploads, config.data)
    assert ws.x.shape == (10, 32, 2) and set(ws.labels) <= {"idle", "wave", "lift"}


def test_channels_it_cannot_make_are_refused():
    config = Config.from_dict({"data": {"channels": [{"name": "temp", "unit": "C", "min": -40, "max": 85}]}})
    with pytest.raises(SimulatorError, match="temp"):
        simulate("baseline", config.data)


def _features(x):
    return np.concatenate([x.mean(1), x.std(1), x.min(1), x.max(1), np.abs(np.diff(x, axis=1)).mean(1)], 1)


def _softmax_regression(x, y, classes, steps=400, lr=0.2):
    mu, sd = x.mean(0), x.std(0) + 1e-6
    w, b = np.zeros((x.shape[1], classes)), np.zeros(classes)
    xn = (x - mu) / sd
    for _ in range(steps):
        z = xn @ w + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(len(y)), y] -= 1
        w -= lr * (xn.T @ p / len(y) + 1e-4 * w)
        b -= lr * p.mean(0)
    return lambda q: np.argmax(((q - mu) / sd) @ w + b, 1)


def test_calibration_small_model_is_accurate_on_baseline_and_loses_20_points_on_concept_drift(config):
    """A small model (softmax regression on window features) tells the product's story."""
    names = list(config.data.class_names)
    base_up, base_truth = simulate("baseline", config.data, devices=10, windows_per_device=40, seed=11)
    base = windows_of(base_up, config.data)
    y = np.array([names.index(lab) for lab in base.labels])
    holdout = np.isin(base.device_ids, sorted(set(base.device_ids))[-3:])  # unseen devices
    model = _softmax_regression(_features(base.x[~holdout]), y[~holdout], len(names))
    baseline_accuracy = (model(_features(base.x[holdout])) == y[holdout]).mean()
    concept_up, _ = simulate("concept-drift", config.data, devices=10, windows_per_device=40, seed=11)
    concept = windows_of(concept_up, config.data)
    y_concept = np.array([names.index(lab) for lab in concept.labels])
    concept_accuracy = (model(_features(concept.x)) == y_concept).mean()
    assert baseline_accuracy >= 0.90
    assert baseline_accuracy - concept_accuracy >= 0.20
