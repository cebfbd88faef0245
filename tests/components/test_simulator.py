"""The simulator: deterministic, physically plausible, and calibrated to tell the product's story."""

import dataclasses

import numpy as np
import pytest

from components.config import Config, DataConfig, load_config
from components.datasets import WindowSet
from components.simulator import SimulatorError, make_fleet, read_truth, simulate, simulate_arrays
from components.simulator_kinds import KINDS, data_drift, drifted_devices
from components.store import LocalStore
from components.upload_parser import parse_upload
from pipelines.cli import main


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


# Data-drift kinds: the baseline's own devices later, one change on the first KIND_DEVICES of them.
DATA = Config().data
FLEET, WINDOWS, SEED, KIND_DEVICES = 4, 30, 7, 2
DRIFTED = ["dev-a000", "dev-a001"]  # the first 2 device ids in sorted order


def _kind(kind: str, kind_devices: int = KIND_DEVICES, **options):
    return simulate_arrays("data-drift", DATA, devices=FLEET, windows_per_device=WINDOWS, seed=SEED, kind=kind,
                           kind_devices=kind_devices, **options)


@pytest.fixture(scope="module")
def control():
    """The same devices later with nothing changed: any kind on 0 devices."""
    x, labels, devices = _kind("gain", kind_devices=0)
    return x, labels, devices, np.isin(devices, DRIFTED)


def _changed_fields(a, b) -> set[str]:
    return {f.name for f in dataclasses.fields(a) if not np.array_equal(getattr(a, f.name), getattr(b, f.name))}


def test_the_first_n_sorted_device_ids_drift():
    assert drifted_devices(FLEET, KIND_DEVICES) == DRIFTED
    assert drifted_devices(3) == ["dev-a000", "dev-a001", "dev-a002"]  # all by default
    with pytest.raises(SimulatorError, match="between 0"):
        drifted_devices(3, 4)


@pytest.mark.parametrize("kind", KINDS)
def test_a_kind_senses_with_the_baseline_devices_and_changes_only_the_chosen_ones(kind, control):
    baseline = make_fleet("baseline", FLEET, np.random.default_rng(SEED))
    drift = data_drift(DATA, FLEET, kind, kind_devices=KIND_DEVICES)
    fleet = drift.fleet(SEED)
    assert [d.device_id for d in fleet] == [d.device_id for d in baseline] and list(drift.devices) == DRIFTED
    changed = {"gain": {"accel_gain"}, "offset": {"accel_offset"}, "noise": {"accel_noise", "gyro_noise"}}
    for before, after in zip(baseline, fleet, strict=True):
        expected = changed.get(kind, set()) if after.device_id in DRIFTED else set()
        assert _changed_fields(before, after) == expected, after.device_id  # same tilt, gains, offsets otherwise
    x, labels, devices = _kind(kind)
    cx, clabels, cdevices, drifted = control
    base_devices = simulate_arrays("baseline", DATA, devices=FLEET, windows_per_device=2, seed=SEED)[2]
    assert list(devices) == list(cdevices) and set(devices) == set(base_devices)
    assert set(labels) <= set(DATA.class_names)  # uploaded labelled, for per-class comparisons
    # The other devices' windows are exactly the control's; the chosen ones' are not.
    assert np.array_equal(x[~drifted], cx[~drifted]) and list(labels[~drifted]) == list(clabels[~drifted])
    assert not np.array_equal(x[drifted], cx[drifted])


def _rms(x) -> float:
    return float(np.sqrt((x.astype(float) ** 2).mean()))


def test_gain_scales_the_accelerometer(control):
    x, _, devices = _kind("gain")
    cx = control[0]
    for device in DRIFTED:
        on = devices == device
        assert _rms(x[on][..., :3]) / _rms(cx[on][..., :3]) == pytest.approx(1.10, abs=0.01)
        assert np.array_equal(x[on][..., 3:], cx[on][..., 3:])  # the gyro as it was


def test_offset_adds_a_bias_to_one_sensor(control):
    x, _, _ = _kind("offset", kind_target="gyro", kind_size=-4.0)
    cx, drifted = control[0], control[3]
    assert (x[drifted] - cx[drifted]).mean(axis=(0, 1))[3:] == pytest.approx([-4.0] * 3, abs=0.01)
    assert np.array_equal(x[drifted][..., :3], cx[drifted][..., :3])


def test_stuck_axis_reads_a_constant(control):
    x, _, _ = _kind("stuck", kind_target="az", kind_size=0.5)
    cx, drifted = control[0], control[3]
    assert np.all(x[drifted][..., 2] == 0.5) and cx[drifted][..., 2].var() > 0.01
    others = [0, 1, 3, 4, 5]
    assert np.array_equal(x[drifted][..., others], cx[drifted][..., others])


def test_clip_saturates_at_the_lower_range(control):
    x, _, _ = _kind("clip")  # +-2 g instead of +-4 g
    cx, drifted = control[0], control[3]
    assert np.abs(x[drifted][..., :3]).max() <= 2.0 < np.abs(cx[drifted][..., :3]).max()
    assert np.array_equal(x[drifted][..., :3], np.clip(cx[drifted][..., :3], -2.0, 2.0))


def test_noise_is_multiplied(control):
    x, labels, _ = _kind("noise")
    cx, drifted = control[0], control[3]
    at_rest = drifted & (labels == "idle")  # sample-to-sample change at rest is the sensor's noise
    for sensor in (slice(0, 3), slice(3, 6)):
        ratio = np.diff(x[at_rest][..., sensor], axis=1).std() / np.diff(cx[at_rest][..., sensor], axis=1).std()
        assert ratio == pytest.approx(3.0, abs=0.15)


def _gesture_samples(x) -> np.ndarray:
    """Per window, how many samples the wrist turns faster than 30% of the window's peak rate."""
    rate = np.linalg.norm(x[..., 3:], axis=2)
    return (rate > 0.3 * rate.max(axis=1, keepdims=True)).sum(axis=1)


def test_rate_stretches_time_but_the_uploads_keep_the_contract(control, config):
    x, labels, _ = _kind("rate", kind_size=30.0)  # samples at 30 Hz, stamped 50 Hz
    cx, drifted = control[0], control[3]
    moving = drifted & (labels != "idle")
    assert _gesture_samples(x[moving]).mean() / _gesture_samples(cx[moving]).mean() == pytest.approx(0.6, abs=0.05)
    uploads, _ = simulate("data-drift", config.data, devices=2, windows_per_device=3, kind="rate", kind_size=30.0)
    assert len(windows_of(uploads, config.data)) == 6  # the stamps still say 50 Hz: ingest accepts them


def test_swap_exchanges_two_axes(control):
    x, _, _ = _kind("swap", kind_target="gx,gz")
    cx, drifted = control[0], control[3]
    assert np.array_equal(x[drifted][..., [0, 1, 2, 5, 4, 3]], cx[drifted])


def test_prior_changes_the_class_mix_not_the_sensors():
    many = {"devices": FLEET, "windows_per_device": 100, "seed": SEED, "kind": "prior", "kind_target": "circle"}
    x, labels, _ = simulate_arrays("data-drift", DATA, kind_devices=KIND_DEVICES, **many)
    cx, clabels, _ = simulate_arrays("data-drift", DATA, kind_devices=0, **many)
    on = np.arange(len(labels)) < KIND_DEVICES * 100  # the drifted devices' windows come first
    assert (labels[on] == "circle").mean() == pytest.approx(3 / 7, abs=0.06)  # 3x as frequent as each other class
    assert (clabels[on] == "circle").mean() == pytest.approx(1 / 5, abs=0.06)
    assert list(labels[~on]) == list(clabels[~on])
    # The sensors as they were: at rest, the same 1 g through the same gains, with the same noise.
    rest, crest = x[on & (labels == "idle")][..., :3], cx[on & (clabels == "idle")][..., :3]
    assert np.median(np.linalg.norm(rest, axis=2)) == pytest.approx(np.median(np.linalg.norm(crest, axis=2)), abs=0.01)
    assert np.diff(rest, axis=1).std() / np.diff(crest, axis=1).std() == pytest.approx(1.0, abs=0.1)


def test_kinds_are_deterministic_and_without_a_kind_data_drift_is_revision_b():
    a = simulate_arrays("data-drift", DATA, devices=2, windows_per_device=3, seed=4, kind="noise")
    b = simulate_arrays("data-drift", DATA, devices=2, windows_per_device=3, seed=4, kind="noise")
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    _, labels, devices = simulate_arrays("data-drift", DATA, devices=2, windows_per_device=3, seed=4)
    assert set(devices) == {"dev-b000", "dev-b001"} and set(labels) == {""}


@pytest.mark.parametrize("scenario, options, message", [
    ("baseline", {"kind": "gain"}, "data-drift scenario"),
    ("data-drift", {"kind": "tilt"}, "unknown kind"),
    ("data-drift", {"kind_size": 2.0}, "need a kind"),
    ("data-drift", {"kind": "swap", "kind_size": 1.0}, "no size"),
    ("data-drift", {"kind": "swap", "kind_target": "ax,gx"}, "one sensor"),
    ("data-drift", {"kind": "gain", "kind_size": 0.0}, "above 0"),
    ("data-drift", {"kind": "prior", "kind_target": "jump"}, "one class"),
])
def test_kind_options_are_checked(scenario, options, message):
    with pytest.raises(SimulatorError, match=message):
        simulate_arrays(scenario, DATA, devices=2, windows_per_device=1, **options)


def test_cli_writes_a_kind_under_its_own_name(tmp_path):
    store = tmp_path / "store"
    args = ["simulate", "--store", str(store), "--scenario", "data-drift", "--devices", "3",
            "--windows-per-device", "2", "--kind", "gain", "--kind-devices", "1"]
    assert main(args) == 0
    assert main([*args[:-3], "stuck"]) == 0  # another kind at the same seed: other keys, not skipped
    keys = LocalStore(store).list("incoming/")
    assert sorted(k.rsplit("/", 1)[1] for k in keys if k.startswith("incoming/dev-a000/")) == [
        "data-drift-gain-n1-s0-000.csv", "data-drift-stuck-s0-000.csv"]
    truth = read_truth(LocalStore(store))
    assert truth[("dev-a001", "data-drift-gain-n1-s0-00001")] in DATA.class_names
