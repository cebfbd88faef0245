"""validate-schema: real TFDV statistics against an inferred, editable, versioned schema."""

import dataclasses

import numpy as np
import pytest

from components.config import ValidationConfig
from components.datasets import WindowSet
from components.validate_schema.core import (
    BlockingAnomalies,
    load_schema,
    push_schema,
    raise_if_blocking,
    schema_versions,
    validate_new_windows,
)


@pytest.fixture(scope="module")
def windows(small_baseline):
    from components.config import Config
    from components.contract import parse_upload

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
