"""Inputs by unit, labels, the device split; board budgets; the blessing's rules."""

import numpy as np

from components.boards import check_budgets
from components.config import Board, Config, EvaluateConfig, TrainConfig
from components.evaluate.blessing import bless, classification_metrics
from components.model_inputs import input_groups, label_indices, model_inputs, split_devices


def test_one_input_per_unit_in_channel_order():
    groups = input_groups(Config().data)
    assert [(g.name, g.unit, g.channels) for g in groups] == [("in_g", "g", (0, 1, 2)),
                                                             ("in_deg_s", "deg/s", (3, 4, 5))]
    x = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6)
    accel, gyro = model_inputs(x, groups)
    assert accel.shape == (2, 4, 1, 3) and np.array_equal(gyro[:, :, 0, :], x[:, :, 3:])


def test_labels_and_unlabelled():
    assert list(label_indices(np.array(["wave", "", "idle"]), ("idle", "wave"))) == [1, -1, 0]


def test_split_is_stable_as_the_fleet_grows():
    config = TrainConfig()
    small = split_devices(np.array([f"dev-{i:03d}" for i in range(30)]), config)
    grown = split_devices(np.array([f"dev-{i:03d}" for i in range(60)]), config)
    assert set(small.holdout) <= set(grown.holdout) and set(small.train) <= set(grown.train)
    tiny = split_devices(np.array(["a", "b", "c"]), config)
    assert all((tiny.train, tiny.validation, tiny.holdout))


def test_budgets_add_the_allowances():
    config = EvaluateConfig(flash_allowance_bytes=1000, ram_allowance_bytes=100,
                            boards=(Board("tiny", flash_bytes=2000, ram_bytes=150),))
    (fits,), (too_big,) = check_budgets(1000, 50, config), check_budgets(1001, 50, config)
    assert fits.fits and not too_big.fits and "flash 2,001 of 2,000 B" in too_big.describe()


def test_blessing_rules():
    config = EvaluateConfig(accuracy_floor=0.9, max_regression=0.01)
    budgets = check_budgets(10_000, 5_000, config)
    assert bless(0.95, None, None, budgets, 0, config).blessed  # first model: nothing in production
    assert bless(0.945, 0.95, "m-1", budgets, 0, config).blessed  # within the margin
    worse = bless(0.93, 0.95, "m-1", budgets, 0, config)
    assert not worse.blessed and "production m-1 95.00%" in worse.reasons[0]
    assert not bless(0.95, None, None, budgets, 3, config).blessed  # TFLM parity broken
    assert not bless(0.95, None, None, check_budgets(2_000_000, 5_000, config), 0, config).blessed


def test_classification_metrics():
    m = classification_metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), ("a", "b"))
    assert m["accuracy"] == 0.75 and m["confusion"] == [[1, 1], [0, 2]]
    assert m["per_class"]["b"] == {"precision": 2 / 3, "recall": 1.0, "support": 2}
