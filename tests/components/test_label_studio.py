"""Label Studio's task and config formats: what the relabel queue writes and the export reader reads back."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from components.config import Config
from components.datasets import WindowSet
from components.label_studio import LabelStudioError, label_studio_config, label_studio_tasks
from components.simulator import simulate
from components.upload_parser import parse_upload

DATA = Config().data


@pytest.fixture(scope="module")
def windows():
    uploads, _ = simulate("baseline", DATA, devices=2, windows_per_device=3, seed=9)
    parsed = [w for u in uploads for w in parse_upload(u.key, u.data, DATA).windows]
    return WindowSet.from_windows(parsed, DATA.window_length, len(DATA.channels))


def test_label_studio_tasks_have_the_import_format(windows):
    n = len(windows)
    predicted = ["wave"] * (n - 1) + [""]
    scores = [0.42] * (n - 2) + [float("nan"), 0.9]
    tasks = label_studio_tasks(windows, ["ds-1"] * n, predicted, scores, "m-7", ["uncertain"] * n, DATA.channel_names)
    assert json.loads(json.dumps(tasks, allow_nan=False)) == tasks
    first = tasks[0]
    assert set(first) == {"data", "predictions"}
    data = first["data"]
    assert data["device_id"] == windows.device_ids[0] and data["window_id"] == windows.window_ids[0]
    assert data["dataset_version"] == "ds-1" and data["stored_label"] == windows.labels[0]
    assert data["reason"] == "uncertain"
    assert set(data["ts"]) == {"time", *DATA.channel_names}
    assert all(len(v) == DATA.window_length for v in data["ts"].values())
    assert data["ts"]["time"][0] == 0 and data["ts"]["time"][1] == pytest.approx(1000 / DATA.sample_rate_hz)
    assert data["ts"]["ax"] == pytest.approx(windows.x[0, :, 0].tolist(), abs=1e-6)
    assert first["predictions"] == [{"model_version": "m-7", "score": 0.42, "result": [
        {"from_name": "label", "to_name": "ts", "type": "choices", "value": {"choices": ["wave"]}}]}]
    assert "score" not in tasks[n - 2]["predictions"][0]  # NaN: no score rather than invalid JSON
    assert tasks[n - 1]["predictions"] == []  # no prediction, no pre-annotation
    with pytest.raises(LabelStudioError, match="reasons"):
        label_studio_tasks(windows, ["ds-1"] * n, predicted, scores, "m-7", ["x"], DATA.channel_names)


def test_the_label_studio_config_names_every_class_and_channel(windows):
    root = ET.fromstring(label_studio_config(DATA.channel_names, DATA.class_names))
    series = root.find("TimeSeries")
    assert series.get("valueType") == "json" and series.get("value") == "$ts" and series.get("timeColumn") == "time"
    assert [c.get("column") for c in series.findall("Channel")] == list(DATA.channel_names)
    choices = root.find("Choices")
    assert choices.get("name") == "label" and choices.get("toName") == "ts" and choices.get("choice") == "single"
    assert [c.get("value") for c in choices.findall("Choice")] == list(DATA.class_names)
    # Every $field the config reads is in the tasks' data.
    task = label_studio_tasks(windows.select(np.arange(1)), ["v"], ["wave"], [0.5], "m", ["r"], DATA.channel_names)[0]
    fields = {el.get("value")[1:] for el in root.iter() if (el.get("value") or "").startswith("$")}
    assert fields and fields <= set(task["data"])
    odd = ET.fromstring(label_studio_config(["a<b", 'c"d'], ["x & y", "z"]))
    assert [c.get("column") for c in odd.iter("Channel")] == ["a<b", 'c"d']
    assert [c.get("value") for c in odd.iter("Choice")] == ["x & y", "z"]
