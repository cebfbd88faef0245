"""The data-drift test on the fleet's structure: same devices later, new devices, class mix, too little data.

Simulated fleets (components/simulator_kinds.py): "the same devices later" is the data-drift scenario with a
kind, whose devices are the baseline's for the same seed; kind_devices=0 changes nothing (the control).
"""

import json

import numpy as np
import pytest

from components.config import Config, DriftConfig
from components.detect_drift import INSUFFICIENT, decide, detect_data_drift
from components.drift_decision import drift_kinds
from components.simulator import simulate_arrays

DATA = Config().data
FAST = DriftConfig(permutations=1000)


def later(devices: int, windows: int, seed: int, kind: str = "gain", **options):
    """(before, after) of the same devices: baseline windows, then the kind's (nothing changed by default)."""
    before = simulate_arrays("baseline", DATA, devices=devices, windows_per_device=windows, seed=seed)
    options = options or {"kind_devices": 0}
    after = simulate_arrays("data-drift", DATA, devices=devices, windows_per_device=windows, seed=seed, kind=kind,
                            **options)
    return before, after


def run_test(before, after, config=FAST):
    (rx, rl, rd), (nx, nl, nd) = before, after
    return detect_data_drift(rx, rd, nx, nd, config, DATA, ref_classes=rl, new_classes=nl)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_same_devices_later_are_not_drift(seed):
    result = run_test(*later(4, 20, seed))
    assert result.status == "tested" and not result.drifted, result.drifted_features
    assert result.paired_devices == ["dev-a000", "dev-a001", "dev-a002", "dev-a003"] and result.new_only_devices == 0
    assert {f["name"] for f in result.families} == {"paired, per device", "paired, fleet", "saturation, per device"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_ten_percent_gain_on_four_devices_is_found_and_named(seed):
    """The issue's case: the same few boards, the accelerometer's gain up 10%."""
    result = run_test(*later(4, 20, seed, "gain", kind_size=1.10))
    assert result.drifted and "g_norm_mean" in result.drifted_features[:3]
    gain = [k for k in result.kinds if k["kind"] == "gain"]
    assert gain and gain[0]["sensor"] == "g" and gain[0]["scope"] == "fleet" and len(gain[0]["devices"]) == 4


def test_a_stuck_axis_on_one_device_of_eight_names_the_device_and_the_axis():
    result = run_test(*later(8, 40, 3, "stuck", kind_devices=1, kind_target="ay"))
    assert result.drifted and list(result.drifted_devices) == ["dev-a000"]
    assert any(f.startswith("ay_") for f in result.drifted_devices["dev-a000"])
    assert {"kind": "stuck", "channels": ["ay"], "devices": ["dev-a000"], "scope": "device"}.items() <= \
        result.kinds[0].items()


@pytest.mark.parametrize("seed", [16, 24, 29, 30])
def test_a_stuck_axis_on_one_device_of_eight_with_ten_windows_a_side_is_found(seed):
    """Ten windows a side over five classes: for these seeds the device's classes allow 10^2.1 to 10^2.6
    relabellings within them, too few for the family's share of alpha (1/600); across them, 10^3.2 to 10^3.9."""
    result = run_test(*later(8, 10, seed, "stuck", kind_devices=1, kind_target="ay"), DriftConfig())
    assert result.drifted and list(result.drifted_devices) == ["dev-a000"], result.drifted_devices
    assert "stuck" in {k["kind"] for k in result.kinds}, result.kinds


def first(arrays, windows: int):
    """Each device's first `windows` windows."""
    keep = np.concatenate([np.flatnonzero(arrays[2] == d)[:windows] for d in sorted(set(arrays[2]))])
    return tuple(a[keep] for a in arrays)


def quantized_board(arrays, bits: int = 10, full_scale=(2.0, 2.0, 2.0, 2000.0, 2000.0, 2000.0)):
    """The windows as a board with a coarse ADC and a +-2 g accelerometer reads them: its readings in whole
    counts, and its vigorous motions saturated at full scale. Ties at a window's peak are then common."""
    x, labels, devices = arrays
    full = np.array(full_scale)
    lsb = 2 * full / 2 ** bits
    return np.clip(np.round(x / lsb) * lsb, -full, full - lsb), labels, devices


@pytest.mark.parametrize("seed", [21, 22])
@pytest.mark.parametrize("change", [{"kind": "gain", "kind_devices": 0}, {"kind": "prior", "kind_size": 4.0}])
def test_quantized_boards_saturating_at_full_scale_do_not_alarm(seed, change):
    """Same boards later, and a class-mix change alone: readings tie at the window's peak in every class and
    pile up at the board's own full scale on both sides, so the peak share moves with the class, not the
    sensor. Ten windows a side (the devices relabelled across their classes) and forty (within them)."""
    (before, after) = later(8, 40, seed, **change)
    before, after = quantized_board(before), quantized_board(after)
    x = np.abs(before[0])
    assert ((x == x.max(1, keepdims=True)).sum(1) >= 2).mean() > 0.2  # the ties are there to be misread
    for windows in (10, 40):
        result = run_test(first(before, windows), first(after, windows), DriftConfig())
        assert result.status == "tested" and not result.drifted, (windows, result.drifted_devices)


def test_clipping_on_one_device_of_eight_is_found_and_named():
    """An accelerometer set to +-2 g on one board: only its strongest motions reach the bound, so a sparse
    change; the saturation family sees the readings pile up at the bound."""
    result = run_test(*later(8, 40, 0, "clip", kind_devices=1))
    assert result.drifted and list(result.drifted_devices) == ["dev-a000"], result.drifted_devices
    clip = [k for k in result.kinds if k["kind"] == "clip"]
    assert clip and clip[0]["devices"] == ["dev-a000"] and clip[0]["sensor"] == "g", result.kinds


@pytest.mark.parametrize("kind", ["gain", "offset", "noise", "swap", "stuck"])
def test_each_kind_on_every_device_is_found_and_named(kind):
    result = run_test(*later(8, 40, 20, kind, kind_devices=None))
    assert result.drifted and kind in {k["kind"] for k in result.kinds}, result.kinds


def test_a_class_mix_change_is_reported_apart_and_is_not_sensor_drift():
    result = run_test(*later(8, 40, 4, "prior", kind_size=4.0))
    assert not result.drifted, result.drifted_features
    assert result.class_mix["tested"] and result.class_mix["shifted"] and result.class_mix["largest_change"] == "wave"


def test_concept_drift_on_the_same_devices_is_not_data_drift():
    """Labels changed, the signal did not: without classes (or with the model's), nothing moved."""
    (rx, _, rd) = simulate_arrays("baseline", DATA, devices=10, windows_per_device=20, seed=7)
    (nx, _, nd) = simulate_arrays("concept-drift", DATA, devices=10, windows_per_device=20, seed=7)
    assert not detect_data_drift(rx, rd, nx, nd, FAST, DATA).drifted


def test_silence_says_what_it_could_have_missed():
    small = run_test(*later(4, 10, 5))
    large = run_test(*later(8, 40, 5))
    for result in (small, large):
        assert "would go unnoticed at 95% power" in result.sensitivity["statement"]
        assert 0 < result.sensitivity["gain"]["g"] < 1
    assert large.sensitivity["gain"]["g"] < small.sensitivity["gain"]["g"]  # more data, smaller changes seen
    json.dumps(large.to_dict())


def test_the_sensitivity_is_calibrated_a_gain_at_it_is_found():
    """At the reported smallest gain the test should find it most of the time (95% nominal); at a third of it,
    seldom. Four seeds each: a coarse check of the approximation, the bench measures it properly."""
    before, control = later(8, 20, 11)
    mde = run_test(before, control).sensitivity["gain"]["g"]
    found = [run_test(*later(8, 20, 11 + s, "gain", kind_size=1 + f * mde)).drifted
             for f in (1.0, 0.33) for s in range(4)]
    assert sum(found[:4]) >= 3 and sum(found[4:]) <= 1, (mde, found)


def test_too_little_data_is_insufficient_data_with_the_numbers():
    (rx, rl, rd), (nx, nl, nd) = later(1, 3, 1)
    result = detect_data_drift(rx, rd, nx, nd, FAST, DATA)
    assert result.status == INSUFFICIENT and not result.drifted
    assert "dev-a000 3+3" in result.note and "relabellings" in result.note
    kind, evidence = decide(result, None)
    assert kind == INSUFFICIENT and not drift_kinds(kind) and evidence["data_drift"]["note"] == result.note
    # two new devices against two: 6 ways to split them, never below alpha
    two = detect_data_drift(rx[:2], np.array(["r1", "r2"]), nx[:2], np.array(["n1", "n2"]), FAST, DATA)
    assert two.status == INSUFFICIENT and "only 6 ways to split them" in two.note


def test_constant_channels_are_named_and_a_dead_sensor_is_insufficient():
    (rx, _, rd), (nx, _, nd) = later(4, 20, 2)
    rx, nx = rx.copy(), nx.copy()
    rx[:, :, 5], nx[:, :, 5] = 0.0, 0.0  # gz reads nothing, before and after
    result = detect_data_drift(rx, rd, nx, nd, FAST, DATA)
    assert result.status == "tested" and "gz_std" in result.untestable_features and not result.drifted
    dead = detect_data_drift(np.zeros_like(rx), rd, np.zeros_like(nx), nd, FAST, DATA)
    assert dead.status == INSUFFICIENT and "constant" in dead.note


def test_new_devices_of_the_same_hardware_beside_devices_seen_before():
    """Both kinds of device in one comparison: four families, one family-wise alpha."""
    (rx, rl, rd), (nx, nl, nd) = later(6, 20, 8)
    ox, ol, od = simulate_arrays("baseline", DATA, devices=6, windows_per_device=20, seed=9)
    result = detect_data_drift(rx, rd, np.concatenate([nx, ox]), np.concatenate([nd, np.char.add("new-", od)]),
                               FAST, DATA, ref_classes=rl, new_classes=np.concatenate([nl, ol]))
    assert len(result.families) == 4 and not result.drifted
    assert all(f["alpha"] == pytest.approx(FAST.alpha_data / 4) for f in result.families)


def test_a_device_seen_before_with_one_window_beside_new_devices():
    """The paired families cannot run (one window), the between-device one can: tested, and it says why the
    others did not."""
    (rx, rl, rd) = simulate_arrays("baseline", DATA, devices=8, windows_per_device=20, seed=1)
    (ox, ol, od) = simulate_arrays("baseline", DATA, devices=8, windows_per_device=20, seed=2)
    one = np.flatnonzero(rd == "dev-a000")[:1]
    new_devices = np.concatenate([rd[one], np.char.add("new-", od)])
    result = detect_data_drift(rx, rd, np.concatenate([rx[one], ox]), new_devices, FAST, DATA, ref_classes=rl,
                               new_classes=np.concatenate([rl[one], ol]))
    assert result.status == "tested" and [f["name"] for f in result.families] == ["between devices"]
    assert "too few windows to compare a device with itself" in result.note and not result.drifted
