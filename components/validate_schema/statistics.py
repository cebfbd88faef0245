"""TFDV statistics of a WindowSet: in this process on Arrow record batches, or by a Beam pipeline.

One example per sample, as in the upload contract: a `label` column and one float column per channel. Both
paths feed TFDV the same record batches, built from the WindowSet's arrays with no Python loop over samples,
so they give the same statistics (counts, moments, min/max, label histogram; TFDV's quantile sketches agree
within their error). Up to `validation.in_memory_max_samples` the in-memory path runs: no pipeline and no
worker processes to start (tests/bench_validate.py measures both). Beyond it Beam runs with
`validation.beam_options`, which on a cluster name a distributed runner (Flink, Spark, Dataflow).
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import uuid
from collections.abc import Iterator

import numpy as np

from components.config import Config, ConfigError
from components.datasets import WindowSet

# Samples per record batch: the in-memory path's extra memory is one batch (a 2 MB float64 column per
# channel). Measured once on 2 busy cores over 1M samples: 2^16 0.69M samples/s, 2^18 0.86M, 2^20 0.79M.
BATCH_SAMPLES = 1 << 18


def record_batch(x: np.ndarray, labels: np.ndarray, channel_names: tuple[str, ...]):
    """Windows x [n, T, C] and labels [n] as TFDV's canonical record batch: one row per sample.

    Every column is a large_list of one value (what tfx_bsl's CanonicalizeRecordBatch makes of a pandas
    frame): channels as float64, labels as large_binary, an unlabelled window's samples null (absent, not an
    empty class). Built directly: the canonicalizer would cast and copy every column once more.
    """
    import pyarrow as pa

    n, t, c = x.shape
    if c != len(channel_names):
        raise ValueError(f"windows have {c} channels, the configuration names {len(channel_names)}: {channel_names}")
    rows = n * t
    offsets = pa.array(np.arange(rows + 1, dtype=np.int64))  # one value per row, shared by every channel
    flat = x.reshape(rows, c)
    columns = [pa.LargeListArray.from_arrays(offsets, pa.array(flat[:, i].astype(np.float64))) for i in range(c)]
    labelled = labels != ""
    present = np.repeat(labelled, t)
    label_offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(present, out=label_offsets[1:])
    absent = np.append(~present, False)  # a null offset makes that row's list null
    # Each labelled window's label once, repeated by Arrow's take (C++), not as one Python string per sample.
    values = pa.array(labels[labelled]).cast(pa.large_binary())
    values = values.take(pa.array(np.repeat(np.arange(len(values), dtype=np.int64), t)))
    label = pa.LargeListArray.from_arrays(pa.array(label_offsets, mask=absent), values)
    return pa.RecordBatch.from_arrays([label, *columns], ["label", *channel_names])


def window_chunks(windows: WindowSet) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(x, labels) of consecutive whole windows, about BATCH_SAMPLES samples each (views, not copies)."""
    step = max(1, BATCH_SAMPLES // max(windows.x.shape[1], 1))
    for start in range(0, len(windows), step):
        yield windows.x[start:start + step], windows.labels[start:start + step]


def statistics_in_memory(windows: WindowSet, channel_names: tuple[str, ...]):
    """TFDV's in-memory generators over the record batches, one accumulator each, as Beam would combine them."""
    from tensorflow_data_validation.statistics import stats_impl, stats_options

    # generate_statistics_in_memory takes one record batch; over batches, the same calls keep an accumulator.
    generators = stats_impl.get_generators(stats_options.StatsOptions(), in_memory=True)
    accumulators = [g.create_accumulator() for g in generators]
    for x, labels in window_chunks(windows):
        batch = record_batch(x, labels, channel_names)
        accumulators = [g.add_input(a, batch) for g, a in zip(generators, accumulators, strict=True)]
    return stats_impl.extract_statistics_output(accumulators, generators)


def pipeline_options(beam_options: tuple[str, ...]):
    """Beam's PipelineOptions from `validation.beam_options` ("name=value", or "name" for a switch).

    Beam's own parser is the judge: an unknown name or a value it rejects is a ConfigError naming the field.
    (config.py checks only the items' shape: Beam's option registry costs seconds to import, and TFDV has
    already imported it by the time validate-schema asks.)
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions([f"--{item}" for item in beam_options])
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):  # argparse reports a bad value on stderr, then exits
            known = options.get_all_options()
            given = options.get_all_options(retain_unknown_options=True)
    except SystemExit:
        message = (stderr.getvalue().strip().splitlines() or ["rejected by Beam"])[-1]
        raise ConfigError(f"validation.beam_options: {message}") from None
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConfigError(f"validation.beam_options: unknown Beam option(s) {unknown} in {list(beam_options)}")
    return options


def statistics_beam(windows: WindowSet, channel_names: tuple[str, ...], beam_options: tuple[str, ...]):
    """The same statistics by a Beam pipeline: chunks of windows -> record batches -> tfdv.GenerateStatistics.

    The pipeline writes its one result to a file and this process reads it back: under `temp_location` when
    the options name one (a remote runner's workers cannot write into this pod), else a local directory.
    """
    import apache_beam as beam
    import tensorflow_data_validation as tfdv
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import GoogleCloudOptions
    from tensorflow_metadata.proto.v0 import statistics_pb2

    options = pipeline_options(beam_options)
    shared = options.view_as(GoogleCloudOptions).temp_location
    folder = FileSystems.join(shared, f"tinymlops-stats-{uuid.uuid4().hex}") if shared else tempfile.mkdtemp()
    output = FileSystems.join(folder, "stats.pb")
    try:
        with beam.Pipeline(options=options) as pipeline:
            _ = (pipeline
                 | "Windows" >> beam.Create(list(window_chunks(windows)))
                 | "RecordBatches" >> beam.Map(lambda chunk, names: record_batch(*chunk, names), tuple(channel_names))
                 | "Statistics" >> tfdv.GenerateStatistics(tfdv.StatsOptions())
                 | "Write" >> tfdv.WriteStatisticsToBinaryFile(output))
        with FileSystems.open(output) as f:
            return statistics_pb2.DatasetFeatureStatisticsList.FromString(f.read())
    finally:
        if not shared:
            shutil.rmtree(folder, ignore_errors=True)
        elif FileSystems.exists(output):  # an object store has no folder to remove, only the file
            FileSystems.delete([output])


def statistics(windows: WindowSet, config: Config):
    """In memory up to `validation.in_memory_max_samples` samples, else Beam (options checked either way)."""
    pipeline_options(config.validation.beam_options)  # a bad option fails every run, not only a large one
    if len(windows) * windows.x.shape[1] <= config.validation.in_memory_max_samples:
        return statistics_in_memory(windows, config.data.channel_names)
    return statistics_beam(windows, config.data.channel_names, config.validation.beam_options)
