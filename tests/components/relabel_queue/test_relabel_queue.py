"""The relabel queue: stale labels found after a concept drift, uncertain and diverse windows after a data drift."""


import numpy as np
import pytest

from components.config import Config
from components.model_inputs import label_indices
from components.relabel_queue import (
    RelabelError,
    margins,
    select_for_concept_drift,
    select_for_data_drift,
)
from components.simulator import CONCEPT_REMAP, make_fleet, simulate_arrays
from components.window_features import window_features

DATA = Config().data
SEED = 5


@pytest.fixture(scope="module")
def concept():
    """Old windows with their stored labels, fresh windows with current labels, and which old labels are stale."""
    old_x, old_labels, old_devices = simulate_arrays("baseline", DATA, devices=12, windows_per_device=60, seed=SEED)
    fresh_x, fresh_labels, _ = simulate_arrays("concept-drift", DATA, devices=12, windows_per_device=30, seed=SEED)
    # The same fleet (same seed): the devices whose app now maps motions to other labels.
    drifted = {d.device_id for d in make_fleet("concept-drift", 12, np.random.default_rng(SEED)) if d.concept_drifted}
    now = np.array([CONCEPT_REMAP.get(label, label) if device in drifted else label
                    for device, label in zip(old_devices, old_labels, strict=True)])
    stale = now != old_labels
    return (old_x, label_indices(old_labels, DATA.class_names), fresh_x,
            label_indices(fresh_labels, DATA.class_names), stale)


def test_the_concept_drift_queue_finds_stale_labels(concept):
    old_x, old_y, fresh_x, fresh_y, stale = concept
    budget = int(stale.sum())
    assert 150 < budget < 350  # 5 of 12 devices drifted, 4 of 5 gestures remapped
    indices, staleness = select_for_concept_drift(old_x, old_y, fresh_x, fresh_y, budget, SEED, DATA.sample_rate_hz)
    assert 0 < len(indices) <= budget and len(set(indices.tolist())) == len(indices)
    precision = stale[indices].mean()
    print(f"concept-drift queue: precision {precision:.3f} ({stale[indices].sum()} of {len(indices)} returned), "
          f"recall {stale[indices].sum() / budget:.3f} of {budget} stale windows")
    assert precision >= 0.8
    assert np.all(np.diff(staleness) <= 0) and np.all((staleness > 0) & (staleness <= 1))


def test_the_concept_drift_queue_is_deterministic_and_keeps_the_budget(concept):
    old_x, old_y, fresh_x, fresh_y, _ = concept
    args = (old_x[:300], old_y[:300], fresh_x, fresh_y)
    first = select_for_concept_drift(*args, 40, SEED, DATA.sample_rate_hz)
    again = select_for_concept_drift(*args, 40, SEED, DATA.sample_rate_hz)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert len(first[0]) <= 40
    assert len(select_for_concept_drift(*args, 0, SEED, DATA.sample_rate_hz)[0]) == 0
    unlabelled = old_y[:300].copy()
    unlabelled[first[0][:10]] = -1
    picked, _ = select_for_concept_drift(old_x[:300], unlabelled, fresh_x, fresh_y, 40, SEED, DATA.sample_rate_hz)
    assert not set(picked.tolist()) & set(first[0][:10].tolist())  # no stored label, nothing stale
    with pytest.raises(RelabelError, match="budget"):
        select_for_concept_drift(*args, -1, SEED, DATA.sample_rate_hz)
    with pytest.raises(RelabelError, match="fresh_labels"):
        select_for_concept_drift(*args[:3], np.zeros(len(fresh_y), dtype=np.int64), 5, SEED, DATA.sample_rate_hz)
    with pytest.raises(RelabelError, match="old_labels"):
        select_for_concept_drift(old_x[:3], np.array(["wave"] * 3), fresh_x, fresh_y, 5, SEED, DATA.sample_rate_hz)


def _scores(rng, n, confident: bool):
    """Probabilities over 5 classes: one class near 1 (confident), or two near-equal leading classes."""
    top = rng.integers(0, 5, n)
    p = np.full((n, 5), 0.01)
    if confident:
        p[np.arange(n), top] = 0.96
    else:
        p[np.arange(n), top] = 0.40
        p[np.arange(n), (top + 1) % 5] = 0.37
        p[np.arange(n), (top + 2) % 5] = 0.21
    return p


def test_the_data_drift_queue_prefers_uncertain_windows():
    rng = np.random.default_rng(0)
    scores = np.concatenate([_scores(rng, 200, confident=True), _scores(rng, 40, confident=False)])
    features = rng.normal(size=(240, 8))
    picked = select_for_data_drift(scores, features, 10, seed=1)
    assert len(picked) == 10 and set(picked.tolist()) <= set(range(200, 240))
    assert np.array_equal(picked, select_for_data_drift(scores, features, 10, seed=1))
    assert len(select_for_data_drift(scores, features, 500, seed=1)) == 240  # the budget caps, never pads
    assert len(select_for_data_drift(scores, features, 0, seed=1)) == 0


def test_the_data_drift_queue_spreads_over_the_feature_space():
    rng = np.random.default_rng(1)
    # The same window sent 10 times, the most uncertain of all, and 30 other uncertain windows.
    scores = _scores(rng, 40, confident=False)
    scores[:10] = [0.34, 0.33, 0.31, 0.01, 0.01]
    features = np.concatenate([np.repeat(rng.normal(size=(1, 8)), 10, axis=0), rng.normal(size=(30, 8))])
    by_margin = np.argsort(margins(scores), kind="stable")[:8]
    assert len(np.unique(features[by_margin], axis=0)) == 1  # uncertainty alone asks 8 times about one window
    picked = select_for_data_drift(scores, features, 8, seed=2)
    assert picked[0] < 10  # the most uncertain window comes first ...
    assert len(np.unique(features[picked], axis=0)) == 8  # ... and once


def test_the_data_drift_queue_on_simulated_windows():
    """A real model (a forest on the baseline) scoring new hardware: the queue asks where it is unsure."""
    from sklearn.ensemble import RandomForestClassifier

    base_x, base_labels, _ = simulate_arrays("baseline", DATA, devices=8, windows_per_device=30, seed=3)
    new_x, _, _ = simulate_arrays("data-drift", DATA, devices=6, windows_per_device=30, seed=3)
    model = RandomForestClassifier(100, random_state=0).fit(window_features(base_x, DATA.sample_rate_hz), base_labels)
    features = window_features(new_x, DATA.sample_rate_hz)
    scores = model.predict_proba(features)
    picked = select_for_data_drift(scores, features, 20, seed=4)
    assert len(picked) == 20 and len(set(picked.tolist())) == 20
    assert np.median(margins(scores)[picked]) < np.median(margins(scores))
