"""The production model's scores on the windows a drift decision needs, in one pass over their raw samples.

The monitor reads every window's features (components/window_table.py) but the samples only of the rows the
model scores: the data-drift sample (its class strata), the labelled new windows (concept drift) and the
prediction sample. `score_rows` reads those once, a few thousand windows at a time, and keeps what the
decision needs of them: the int8 scores (a few bytes a window), the data-drift sample's saturation counts
and the samples of the evidence rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from components.cores import available_cores, in_order
from components.detect_drift.kinds import SaturationCount
from components.window_table import WindowTable

T = TypeVar("T")


class Int8Scorer:
    """`Int8Model(tflite, groups).run_reference(x)`, the same int8 scores, with one interpreter per core.

    TFLite releases the GIL while a model runs and windows are scored one at a time and independently, so
    contiguous slices scored in threads and concatenated give exactly the single-interpreter result. The
    interpreters are built once and reused call after call.
    """

    def __init__(self, tflite: bytes, groups, workers: int | None = None):
        from components.int8_model import Int8Model

        self.workers = workers or available_cores(4)
        self._models = [Int8Model(tflite, groups) for _ in range(self.workers)]
        self.dequantize = self._models[0].dequantize

    def __call__(self, x: np.ndarray, min_per_thread: int = 1000) -> np.ndarray:
        workers = max(1, min(self.workers, len(x) // max(min_per_thread, 1)))
        if workers == 1:
            return self._models[0].run_reference(x)
        bounds = np.linspace(0, len(x), workers + 1).astype(int)
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(lambda i: self._models[i].run_reference(x[bounds[i]:bounds[i + 1]]),
                                  range(workers)))
        return np.concatenate(parts)


class ProductionModel:
    """The production model's int8 scores as the monitor computes them: Int8Model.run_reference's, bit for bit.

    int8_batch runs the model on a batch of windows at once with the reference kernels' integer arithmetic
    (the softmax included); a model it cannot run is scored by the interpreter, one window at a time.
    """

    def __init__(self, tflite: bytes, groups):
        from components.int8_batch import Int8Batch, Unsupported

        self.tflite, self.groups, self._scorer = tflite, groups, None
        try:
            self.batch, self.note = Int8Batch(tflite, groups), "int8_batch"
        except Unsupported as e:
            self.batch, self.note = None, f"interpreter, window by window (int8_batch: {e})"

    @property
    def scorer(self) -> Int8Scorer:
        if self._scorer is None:
            self._scorer = Int8Scorer(self.tflite, self.groups)
        return self._scorer

    def scores(self, x: np.ndarray, min_per_thread: int = 512) -> np.ndarray:
        """int8 [N, K]: Int8Model.run_reference(x), int8_batch's slices on the machine's cores (numpy lets go
        of the GIL as it computes)."""
        if self.batch is None:
            return self.scorer(x)
        workers = max(1, min(available_cores(4), len(x) // min_per_thread))
        bounds = np.linspace(0, len(x), workers + 1).astype(int)
        with _one_blas_thread(), ThreadPoolExecutor(workers) as pool:
            return np.concatenate(list(pool.map(lambda i: self.batch.scores(x[bounds[i]:bounds[i + 1]]),
                                                range(workers))))

    def scores_in(self, pool: ThreadPoolExecutor, x: np.ndarray, tag: T) -> Future[tuple[T, np.ndarray]]:
        """(tag, scores(x)) as a task of `pool`, one thread to it: the pool's others score other pieces."""
        if self.batch is None:  # the interpreters are one per core already and not to be shared: here, now
            done = Future()
            done.set_result((tag, self.scorer(x)))
            return done
        return pool.submit(lambda: (tag, self.batch.scores(x)))

    def dequantize(self, scores: np.ndarray) -> np.ndarray:
        """Int8Model.dequantize: the scores in [0, 1]."""
        if self.batch is None:
            return self.scorer.dequantize(scores)
        out = self.batch.tensors[self.batch.ops[-1][2][0]]
        return (scores.astype(np.float32) - out.zero_point) * float(out.scale[0])


def _one_blas_thread():
    """BLAS on one thread for a while: int8_batch's matrix products are small and run in threads of ours
    already; BLAS's own threads on top only contend (about 20% slower measured on 2 cores). threadpoolctl
    comes with scikit-learn (evidently's); without it, nothing is limited."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, "blas")


@dataclass
class Scored:
    """One side's pass: the model's scores of the rows asked for, and what their samples said besides."""

    rows: np.ndarray  # int64: the table rows asked for, ascending and unique
    scores: np.ndarray  # int8 [len(rows), K]: Int8Model.run_reference's scores
    scored: np.ndarray  # bool [len(rows)]: the row had stored samples (else its scores are zeros)
    saturation: dict  # kinds.saturation's entries for the data-drift sample's devices
    kept: np.ndarray  # float32 [len(keep), T, C]: the samples of the `keep` rows (zeros where none stored)
    kept_done: np.ndarray  # bool [len(keep)]

    def at(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scores, scored) of the table rows `idx` (all among `rows`)."""
        where = np.searchsorted(self.rows, idx)
        return self.scores[where], self.scored[where]

    def classes(self, idx: np.ndarray) -> np.ndarray:
        """The predicted class of the table rows `idx`, -1 where their samples are not stored."""
        scores, scored = self.at(idx)
        return np.where(scored, scores.argmax(1), -1)


def score_rows(table: WindowTable, model: ProductionModel, side: str, sample: np.ndarray,
               sample_peaks: np.ndarray, also: list[np.ndarray], keep: np.ndarray, classes: int,
               window_length: int) -> Scored:
    """One pass over the samples of a side's rows: the scores of the data-drift `sample` (ascending, with its
    windows' channel peaks: its saturation is counted too) and of the rows `also`, and the samples of the rows
    `keep` kept."""
    keep = np.asarray(keep, dtype=np.int64)
    rows = np.unique(np.concatenate([sample, *also, keep]).astype(np.int64))
    result = Scored(rows, np.zeros((len(rows), classes), np.int8), np.zeros(len(rows), bool), {}, np.zeros((0,)),
                    np.zeros(len(keep), bool))
    count = SaturationCount(table.device_ids[sample], sample_peaks, window_length)
    keep_order = np.argsort(keep, kind="stable")
    keep_sorted = keep[keep_order]
    workers = available_cores(4)

    def pieces(pool: ThreadPoolExecutor) -> Iterator[Future[tuple[np.ndarray, np.ndarray]]]:
        """Each piece's scoring task, started; meanwhile its saturation counted and its kept samples kept."""
        for positions, x in table.samples(rows):
            scoring = model.scores_in(pool, x, positions)
            at_rows = rows[positions]
            if len(sample):
                i = np.searchsorted(sample, at_rows).clip(max=len(sample) - 1)
                hit = sample[i] == at_rows
                count.add(i[hit], x[hit])
            if len(keep):
                k = np.searchsorted(keep_sorted, at_rows).clip(max=len(keep) - 1)
                hit = keep_sorted[k] == at_rows
                if hit.any():
                    if not len(result.kept):
                        result.kept = np.zeros((len(keep), *x.shape[1:]), dtype=x.dtype)
                    result.kept[keep_order[k[hit]]], result.kept_done[keep_order[k[hit]]] = x[hit], True
            yield scoring

    # Pieces are scored in threads while the next ones are read and counted here; a few at a time, so the
    # samples waiting for a thread stay a few MB.
    with _one_blas_thread(), ThreadPoolExecutor(workers) as pool:
        for positions, scores in in_order(pieces(pool), 2 * workers):
            result.scores[positions], result.scored[positions] = scores, True
    result.saturation = count.result(side)
    return result
