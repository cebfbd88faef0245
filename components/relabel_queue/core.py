"""Which windows a person should label next.

Two kinds of drift need two kinds of questions (see shared/design.md, "Labelling"):

- data drift (new devices, unlabelled): the production model is unsure on data unlike its training data,
  so ask about the windows it is least sure of, spread over the feature space so that one cluster of
  near-identical windows does not take the whole budget (`select_for_data_drift`);
- concept drift (the meaning of a motion changed): the old model is confident in the drifted region, so its
  uncertainty misses the stale labels. A model fit on the FRESH labels only disagrees with them instead;
  ranking old windows by that disagreement is confident learning (`select_for_concept_drift`).

components/label_studio.py turns a selection into Label Studio's tasks. Pure functions: arrays in, values out,
seeds as arguments.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from components.window_features import window_features

# The relabel pool for data drift: this many times the budget of the most uncertain windows, from which the
# budget is spread by diversity. Larger trades uncertainty for coverage.
POOL_FACTOR = 4
FOREST_TREES = 200

class RelabelError(ValueError):
    """Inputs that cannot make a relabel queue; the message names the argument and what was expected."""


def _check_budget(budget: int) -> None:
    if not isinstance(budget, (int, np.integer)) or budget < 0:
        raise RelabelError(f"budget: expected a whole number >= 0, got {budget!r}")


# ----------------------------------------------------------------------------------------------- data drift


def margins(scores: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability per window: 0 = the model cannot choose, 1 = certain."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise RelabelError(f"scores: expected probabilities [N, K] with K >= 2 classes, got shape {scores.shape}")
    top2 = np.sort(scores, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def select_for_data_drift(scores: np.ndarray, features: np.ndarray, budget: int, seed: int) -> np.ndarray:
    """Indices of up to `budget` windows to label: uncertain ones first, spread over the feature space.

    `scores` [N, K] are the production model's class probabilities, `features` [N, F] per-window features
    (e.g. window_features). The pool is the POOL_FACTOR * budget windows with the smallest margin (ties
    broken by a permutation from `seed`); greedy k-center on the standardized features then picks, starting
    from the most uncertain, each next window farthest from those already picked, so duplicates and
    near-duplicates are picked last. The order returned is the order picked.
    """
    _check_budget(budget)
    margin = margins(scores)
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) != len(margin):
        raise RelabelError(f"features: expected [N, F] with N = {len(margin)} (one row per score row), "
                           f"got shape {features.shape}")
    if not np.isfinite(features).all() or not np.isfinite(margin).all():
        raise RelabelError("scores and features must be finite (a NaN would make the order arbitrary)")
    n = len(margin)
    budget = min(int(budget), n)
    if budget == 0:
        return np.zeros(0, dtype=np.int64)
    shuffled = np.random.default_rng(seed).permutation(n)
    by_uncertainty = shuffled[np.argsort(margin[shuffled], kind="stable")]
    pool = by_uncertainty[:min(n, POOL_FACTOR * budget)]
    # Standardize on the pool: distances should reflect spread among the candidates, and a constant feature
    # (std 0) must not divide by zero.
    z = features[pool]
    z = (z - z.mean(axis=0)) / np.where(z.std(axis=0) > 0, z.std(axis=0), 1.0)
    picked = [0]  # the most uncertain window of the pool
    nearest = np.linalg.norm(z - z[0], axis=1)
    for _ in range(budget - 1):
        nearest[picked[-1]] = -1.0  # never pick twice
        following = int(np.argmax(nearest))  # argmax takes the first maximum: the more uncertain one
        picked.append(following)
        nearest = np.minimum(nearest, np.linalg.norm(z - z[following], axis=1))
    return pool[np.array(picked)].astype(np.int64)


# -------------------------------------------------------------------------------------------- concept drift


def _class_indices(labels, name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise RelabelError(f"{name}: expected class indices (integers, -1 = unlabelled) [N], "
                           f"got {labels.dtype} with shape {labels.shape} (see features.label_indices)")
    return labels.astype(np.int64)


def _fresh_classes(fresh_x, fresh_labels) -> np.ndarray:
    """The fresh labels as class indices, after checking they can teach a model (2 classes at least)."""
    fresh_y = _class_indices(fresh_labels, "fresh_labels")
    if np.ndim(fresh_x) != 3 or len(fresh_x) != len(fresh_y):
        raise RelabelError(f"fresh_x: expected windows [N, T, C] with one label each ({len(fresh_y)}), "
                           f"got shape {np.shape(fresh_x)}")
    present = np.unique(fresh_y[fresh_y >= 0])
    if len(present) < 2:
        raise RelabelError(f"fresh_labels: a model of the current labels needs at least 2 classes among the "
                           f"labelled fresh windows, got {len(present)} ({int((fresh_y >= 0).sum())} labelled)")
    return fresh_y


def forest_features(x, sample_rate_hz: float) -> np.ndarray:
    """window_features plus the correlation of every pair of channels.

    A gesture's meaning can hang on how the axes move together (a device worn turned round reverses x and y,
    so a wave's x acceleration leads its z rotation the other way), which per-channel statistics miss.
    """
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=1, keepdims=True)
    scale = np.sqrt((centred ** 2).sum(axis=1))  # [N, C]
    cov = np.einsum("ntc,ntd->ncd", centred, centred)
    corr = cov / np.maximum(scale[:, :, None] * scale[:, None, :], 1e-12)
    upper = np.triu_indices(x.shape[2], k=1)
    return np.concatenate([window_features(x, sample_rate_hz), corr[:, upper[0], upper[1]]], axis=1)


def _fresh_forest(fresh_x, fresh_y: np.ndarray, seed: int, sample_rate_hz: float) -> RandomForestClassifier:
    """A random forest of the current labels, fit on the labelled fresh windows only."""
    known = fresh_y >= 0
    forest = RandomForestClassifier(n_estimators=FOREST_TREES, random_state=seed, class_weight="balanced",
                                    n_jobs=1)
    return forest.fit(forest_features(np.asarray(fresh_x)[known], sample_rate_hz), fresh_y[known])


def _probabilities(forest: RandomForestClassifier, x, k: int, sample_rate_hz: float) -> np.ndarray:
    """[N, k] class probabilities; a class no fresh window has gets 0 (so a stored label of it looks stale)."""
    p = np.zeros((len(x), max(k, int(forest.classes_.max()) + 1)))
    p[:, forest.classes_] = forest.predict_proba(forest_features(x, sample_rate_hz))
    return p


def fresh_label_suggestions(x: np.ndarray, fresh_x: np.ndarray, fresh_labels: np.ndarray, seed: int,
                            sample_rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """What the fresh labels say about windows `x`: (class index, its probability) per window.

    The same forest as `select_for_concept_drift` with the same seed, so the pre-annotation of a concept-drift
    task is the current meaning the queue compared the stored label with (the production model would only
    repeat the old meaning).
    """
    forest = _fresh_forest(fresh_x, _fresh_classes(fresh_x, fresh_labels), seed, sample_rate_hz)
    p = _probabilities(forest, np.asarray(x), 0, sample_rate_hz)
    best = p.argmax(axis=1)
    return best.astype(np.int64), p[np.arange(len(p)), best]


def select_for_concept_drift(old_x: np.ndarray, old_labels: np.ndarray, fresh_x: np.ndarray,
                             fresh_labels: np.ndarray, budget: int, seed: int,
                             sample_rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Old labelled windows whose stored label is likely stale, most likely first: (indices, staleness).

    A random forest is fit on the fresh windows' features (forest_features) and labels only, so it knows
    the current meaning of each motion. An old window is a candidate when the forest's most probable class
    is not its stored label (cleanlab's "predicted_neq_given" filter); candidates are ranked by the
    normalized margin p(predicted) - p(stored), in (0, 1]: the forest confident in another class and giving
    the stored label little. At most `budget` are returned, each with that staleness score. Unlabelled old
    windows (-1) are never returned.

    Why not the per-class thresholds of the confident joint: on the simulated fleet they pass only about
    half of the truly stale windows (a forest's probabilities on windows it has not seen are spread), and
    the calibrated count of label errors undercounts them by about a quarter, while "predicted != stored"
    finds over 90% of them at over 95% precision (seeds 0-3; tests/components/relabel_queue/test_relabel_queue.py
    measures one).
    """
    _check_budget(budget)
    old_y = _class_indices(old_labels, "old_labels")
    if np.ndim(old_x) != 3 or len(old_x) != len(old_y):
        raise RelabelError(f"old_x: expected windows [N, T, C] with one label each ({len(old_y)}), "
                           f"got shape {np.shape(old_x)}")
    fresh_y = _fresh_classes(fresh_x, fresh_labels)
    labelled = np.flatnonzero(old_y >= 0)
    if budget == 0 or len(labelled) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    forest = _fresh_forest(fresh_x, fresh_y, seed, sample_rate_hz)
    p = _probabilities(forest, np.asarray(old_x)[labelled], int(old_y.max()) + 1, sample_rate_hz)
    rows = np.arange(len(labelled))
    stored = p[rows, old_y[labelled]]
    predicted = p.argmax(axis=1)
    flagged = (predicted != old_y[labelled]) & (p[rows, predicted] > stored)  # a tie is no disagreement
    candidates = labelled[flagged]
    score = (p[rows, predicted] - stored)[flagged]
    # Ties (common: forest probabilities are multiples of 1/trees) are broken by a seeded permutation.
    shuffled = np.random.default_rng(seed).permutation(len(candidates))
    order = shuffled[np.argsort(-score[shuffled], kind="stable")][:budget]
    return candidates[order].astype(np.int64), score[order]
