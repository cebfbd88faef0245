"""The one configuration object: defaults, files, and errors that name the field."""

import pytest

from components.config import Config, ConfigError, load_config


def test_defaults_describe_the_builtin_gesture_model():
    config = load_config(None)
    assert config.data.channel_names == ("ax", "ay", "az", "gx", "gy", "gz")
    assert config.data.class_names == ("idle", "wave", "punch", "circle", "lift")
    assert Config.from_json(config.to_json()) == config


def test_a_file_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("data:\n  window_length: 128\n  sample_rate_hz: 25\n  class_names: [rest, walk, run]\n"
                    "  channels:\n    - {name: acc_x, unit: m/s^2, min: -20, max: 20}\n"
                    "evaluate:\n  accuracy_floor: 0.8\n")
    config = load_config(path)
    assert config.data.window_length == 128 and config.data.channel_names == ("acc_x",)
    assert config.evaluate.accuracy_floor == 0.8 and config.train == Config().train
    assert config.fingerprint() != Config().fingerprint()


@pytest.mark.parametrize("text, phrase", [
    ("data:\n  windowlength: 3\n", "unknown field(s) ['windowlength']"),
    ("data:\n  window_length: many\n", "config.yaml.data.window_length: expected int"),
    ("data:\n  channels: [{name: t_ms, unit: ms, min: 0, max: 1}]\n", "reserved column name"),
    ("data:\n  class_names: [a]\n", "at least 2 unique names"),
    ("data:\n  channels: [{name: x, unit: g, min: 1, max: -1}]\n", "min 1.0 must be below max -1.0"),
    ("- a list\n", "expected a mapping"),
])
def test_bad_files_fail_naming_the_field(tmp_path, text, phrase):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert phrase in str(error.value) and "config.yaml" in str(error.value)
