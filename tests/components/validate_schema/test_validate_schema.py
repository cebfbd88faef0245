"""validate-schema: real TFDV statistics against an inferred, editable, versioned schema."""

import dataclasses

import numpy as np
import pytest

from components.config import ValidationConfig
from components.datasets import WindowSet
from components.validate_schema.core import BlockingAnomalies, raise_if_blocking
from components.validate_schema.step import load_schema, push_schema, schema_versions, validate_new_windows


@pytest.fixture(scope="module")
def windows(small_baseline):
    from components.config import Config
    from components.upload_parser import parse_upload

    uploads, _ = small_baseline
    parsed = [w for u in uploads for w in parse_upload(u.key, u.data, Config().data).windows]
    return WindowSet.from_windows(parsed, 50, 6)


def test_first_use_infers_and_stores_the_schema(local_store, config, windows):
    report = validate_new_windows(local_store, config, "ds-1", windows)
    assert report.schema_inferred_now and report.schema_version == "0001" and not report.anomalies
    schema = load_schema(local_store, "0001")
    label = next(f for f in schema.feature if f.name == "label")
    assert list(label.string_domain.value) == list(config.data.class_names)
    assert label.presence.min_fraction == 0.0  # unlabelled uploads are valid
    gx = next(f for f in schema.feature if f.name == "gx")
    assert (gx.float_domain.min, gx.float_domain.max) == (-2000.0, 2000.0)
    assert local_store.exists("validation/ds-1/schema-0001.md")
    assert local_store.exists("validation/ds-1/schema-0001.stats.pb")


def test_an_edited_schema_blocks_data_it_forbids(local_store, config, windows):
    validate_new_windows(local_store, config, "ds-1", windows)
    text = local_store.get_bytes("schemas/0001/schema.pbtxt").decode()
    edited = text.replace('    value: "lift"\n', "", 1)  # a person decides "lift" is retired
    assert push_schema(local_store, edited, "retire lift") == "0002"
    report = validate_new_windows(local_store, config, "ds-2", windows)
    assert report.schema_version == "0002"
    kinds = {(a.feature, a.kind) for a in report.blocking}
    assert ("label", "ENUM_TYPE_UNEXPECTED_STRING_VALUES") in kinds
    with pytest.raises(BlockingAnomalies, match="ds-2 breaks schema 0002.*ENUM_TYPE_UNEXPECTED_STRING_VALUES"):
        raise_if_blocking(report)
    assert "lift" in local_store.get_bytes("validation/ds-2/schema-0002.md").decode()


def test_non_blocking_kinds_are_recorded_only(local_store, config, windows):
    validate_new_windows(local_store, config, "ds-1", windows)
    text = local_store.get_bytes("schemas/0001/schema.pbtxt").decode()
    push_schema(local_store, text.replace("max: 2000.0", "max: 50.0"), "tight gyro range")
    relaxed = dataclasses.replace(config, validation=ValidationConfig(blocking_anomalies=()))
    report = validate_new_windows(local_store, relaxed, "ds-2", windows)
    assert any(a.kind == "FLOAT_TYPE_BIG_FLOAT" for a in report.anomalies) and not report.blocking
    raise_if_blocking(report)  # does not raise


def test_no_new_windows_means_nothing_to_validate(local_store, config):
    report = validate_new_windows(local_store, config, "ds-0", WindowSet.empty(50, 6))
    assert report.windows == 0 and not report.anomalies and schema_versions(local_store) == []


def test_a_broken_schema_is_refused_naming_the_file(local_store):
    with pytest.raises(ValueError, match="edited.pbtxt: not a valid schema.pbtxt"):
        push_schema(local_store, "feature { nme: 'x' }", "oops", "edited.pbtxt")


def test_unlabelled_new_data_is_valid(local_store, config, windows):
    validate_new_windows(local_store, config, "ds-1", windows)
    unlabelled = dataclasses.replace(windows, labels=np.full(len(windows), "", dtype=str))
    assert not validate_new_windows(local_store, config, "ds-2", unlabelled).anomalies


def _with_anomalies(windows: WindowSet) -> WindowSet:
    """A label outside the contract's classes, a gyroscope value beyond its +-2000 deg/s, some unlabelled."""
    labels = windows.labels.astype("<U8")
    labels[::7], labels[3::11] = "jump", ""
    x = windows.x.copy()
    x[5, 10, 3] = 2500.0  # gx
    return dataclasses.replace(windows, labels=labels, x=x)


def _summary(stats_pb: bytes) -> dict:
    """What both paths must agree on: per feature its counts, mean, std, min and max; the label histogram."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    dataset = statistics_pb2.DatasetFeatureStatisticsList.FromString(stats_pb).datasets[0]
    out = {"examples": dataset.num_examples}
    for f in dataset.features:
        if f.HasField("num_stats"):
            s = f.num_stats
            out[f.path.step[0]] = (s.common_stats.num_non_missing, s.common_stats.num_missing, s.mean, s.std_dev,
                                   s.min, s.max)
        else:
            s = f.string_stats
            out[f.path.step[0]] = (s.common_stats.num_non_missing, s.common_stats.num_missing,
                                   sorted((b.label, b.sample_count) for b in s.rank_histogram.buckets))
    return out


def test_in_memory_and_beam_give_the_same_statistics_and_anomalies(tmp_path, config, windows, monkeypatch):
    import tensorflow_data_validation as tfdv

    from components.store import LocalStore
    from components.validate_schema import statistics

    monkeypatch.setattr(statistics, "BATCH_SAMPLES", 500)  # several record batches: their accumulators merge
    new = _with_anomalies(windows)
    beam = dataclasses.replace(config, validation=dataclasses.replace(config.validation, in_memory_max_samples=0))
    stores = {"in memory": LocalStore(tmp_path / "a"), "beam": LocalStore(tmp_path / "b")}
    validate_new_windows(stores["in memory"], config, "ds-1", windows)  # infers schema 0001
    push_schema(stores["beam"], stores["in memory"].get_bytes("schemas/0001/schema.pbtxt").decode(), "same")
    reports = {"in memory": validate_new_windows(stores["in memory"], config, "ds-2", new),
               "beam": validate_new_windows(stores["beam"], beam, "ds-2", new)}
    summaries = {path: _summary(store.get_bytes("validation/ds-2/schema-0001.stats.pb"))
                 for path, store in stores.items()}
    # The pandas frame the step used before: stored schemas were inferred from statistics of this shape.
    frame = tfdv.generate_statistics_from_dataframe(new.sample_frame(config.data.channel_names))
    summaries["frame"] = _summary(frame.SerializeToString())

    kinds = {(a.feature, a.kind) for a in reports["in memory"].anomalies}
    assert {("label", "ENUM_TYPE_UNEXPECTED_STRING_VALUES"), ("gx", "FLOAT_TYPE_BIG_FLOAT")} <= kinds
    assert reports["beam"].anomalies == reports["in memory"].anomalies
    reference = summaries["in memory"]
    assert reference["examples"] == len(new) * 50 and reference["label"][1] == (new.labels == "").sum() * 50
    assert ("jump", (new.labels == "jump").sum() * 50) in reference["label"][2] and reference["gx"][5] == 2500.0
    for path in ("beam", "frame"):
        assert summaries[path].keys() == reference.keys()
        assert summaries[path]["label"] == reference["label"]
        for name in config.data.channel_names:
            assert summaries[path][name] == pytest.approx(reference[name], rel=1e-9, abs=1e-12), (path, name)


def test_the_size_picks_the_path(config, windows, monkeypatch):
    from components.validate_schema import statistics

    monkeypatch.setattr(statistics, "statistics_beam", lambda *args: "beam")
    monkeypatch.setattr(statistics, "statistics_in_memory", lambda *args: "in memory")
    samples = len(windows) * 50
    for limit, path in ((samples, "in memory"), (samples - 1, "beam"), (0, "beam")):
        limited = dataclasses.replace(config, validation=ValidationConfig(in_memory_max_samples=limit))
        assert statistics.statistics(windows, limited) == path


@pytest.mark.parametrize("options, phrase", [
    (("direct_num_wrokers=2",), "unknown Beam option(s) ['direct_num_wrokers']"),
    (("direct_running_mode=fast",), "argument --direct_running_mode: invalid choice: 'fast'"),
    (("direct_num_workers=two",), "argument --direct_num_workers: invalid int value: 'two'"),
])
def test_options_beam_rejects_are_config_errors_before_any_work(local_store, config, windows, options, phrase):
    from components.config import ConfigError

    bad = dataclasses.replace(config, validation=ValidationConfig(beam_options=options))
    with pytest.raises(ConfigError, match="validation.beam_options") as error:
        validate_new_windows(local_store, bad, "ds-1", windows)  # a small set: the in-memory path checks them too
    assert phrase in str(error.value) and schema_versions(local_store) == []


@pytest.mark.parametrize("text, phrase", [
    ("validation:\n  beam_options: [--runner=FlinkRunner]\n", "validation.beam_options items are 'name=value'"),
    ("validation:\n  beam_options: [runner=A, runner=B]\n", "validation.beam_options names ['runner'] more than once"),
    ("validation:\n  beam_options: runner=FlinkRunner\n", "config.yaml.validation.beam_options: expected a list"),
    ("validation:\n  in_memory_max_samples: -1\n", "validation.in_memory_max_samples must be >= 0"),
])
def test_validation_settings_of_the_wrong_shape_fail_naming_the_field(tmp_path, text, phrase):
    from components.config import ConfigError, load_config

    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert phrase in str(error.value) and "config.yaml" in str(error.value)


# The cluster settings the README documents (Flink's and Spark's job servers, Dataflow), as Beam parses them.
CLUSTER_OPTIONS = {
    "flink": ("runner=PortableRunner", "job_endpoint=beam-flink-jobserver.tinymlops:8099",
              "artifact_endpoint=beam-flink-jobserver.tinymlops:8098", "environment_type=EXTERNAL",
              "environment_config=localhost:50000", "parallelism=8", "temp_location=s3://tinymlops-beam/tmp",
              "s3_endpoint_url=http://minio-service.kubeflow:9000"),
    "spark": ("runner=PortableRunner", "job_endpoint=beam-spark-jobserver.tinymlops:8099",
              "artifact_endpoint=beam-spark-jobserver.tinymlops:8098", "environment_type=EXTERNAL",
              "environment_config=localhost:50000", "temp_location=s3://tinymlops-beam/tmp",
              "s3_endpoint_url=http://minio-service.kubeflow:9000"),
    "dataflow": ("runner=DataflowRunner", "project=MY_PROJECT", "region=europe-west1",
                 "temp_location=gs://MY_BUCKET/tinymlops-beam",
                 "sdk_container_image=europe-west1-docker.pkg.dev/MY_PROJECT/tinymlops/runtime:TAG"),
}


def test_the_default_and_the_documented_beam_options_parse(config):
    from components.config import Config
    from components.validate_schema.statistics import pipeline_options

    options = pipeline_options(config.validation.beam_options).get_all_options()
    assert (options["direct_num_workers"], options["direct_running_mode"]) == (2, "multi_processing")
    for items in CLUSTER_OPTIONS.values():
        Config.from_dict({"validation": {"beam_options": list(items)}})  # the loader's shape check
        parsed = pipeline_options(items).get_all_options()
        assert all(str(parsed[item.split("=", 1)[0]]) == item.split("=", 1)[1] for item in items)
