"""Label Studio's side of labelling: the tasks a relabel queue asks and the labelling config they fit.

The names here are the ones the tasks, the config and the exports share: the relabel queue writes tasks and
config (relabel_queue/step.py), label_exports.py reads the annotations back by the same names, and labels.py
turns them into a dataset version.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import quoteattr

import numpy as np

from components.datasets import WindowSet

LABEL_CONTROL = "label"  # the Choices control: an annotation's class is read from any result of this name
SERIES_OBJECT = "ts"  # the TimeSeries object the choices label
TIME_COLUMN = "time"


class LabelStudioError(ValueError):
    """Tasks that cannot be written; the message names the argument and what was expected."""


def label_studio_config(channel_names, class_names) -> str:
    """The labelling config the tasks fit: one time series of every channel, one single choice of class."""
    channels = "\n".join(f"    <Channel column={quoteattr(str(c))} legend={quoteattr(str(c))}/>"
                         for c in channel_names)
    choices = "\n".join(f"    <Choice value={quoteattr(str(c))}/>" for c in class_names)
    return (f'<View>\n'
            f'  <Header value="$header"/>\n'  # a Header shows static text or one data field, not a template
            f'  <TimeSeries name="{SERIES_OBJECT}" valueType="json" value="${SERIES_OBJECT}" '
            f'timeColumn="{TIME_COLUMN}">\n{channels}\n  </TimeSeries>\n'
            f'  <Choices name="{LABEL_CONTROL}" toName="{SERIES_OBJECT}" choice="single" required="true">\n'
            f'{choices}\n  </Choices>\n'
            f'</View>\n')


def _numbers(values: np.ndarray) -> list[float]:
    # 7 significant digits hold a float32 exactly enough and keep the JSON short (no 0.12340000271797180).
    return [float(f"{v:.7g}") for v in values.tolist()]


def _per_window(values, n: int, name: str) -> list:
    values = list(values)
    if len(values) != n:
        raise LabelStudioError(f"{name}: expected one value per window ({n}), got {len(values)}")
    return values


def label_studio_tasks(windows: WindowSet, dataset_versions, predicted_labels, scores, model_version: str,
                       reasons, channel_names) -> list[dict]:
    """One Label Studio task per window: the series inline, the model's prediction as a pre-annotation.

    `dataset_versions`, `predicted_labels` ("" = no prediction), `scores` (the model's confidence in its
    prediction, so annotators can sort by it; NaN = none) and `reasons` (why the window is asked about) give
    one value per window. Time is ms since the window's first sample, from the window's own timestamps.
    """
    n = len(windows)
    channel_names = [str(c) for c in channel_names]
    if windows.x.ndim != 3 or windows.x.shape[2] != len(channel_names):
        raise LabelStudioError(f"channel_names: expected one name per channel of the windows "
                           f"({windows.x.shape[2:]}), got {channel_names}")
    versions = _per_window(dataset_versions, n, "dataset_versions")
    predicted = _per_window(predicted_labels, n, "predicted_labels")
    confidence = _per_window(scores, n, "scores")
    why = _per_window(reasons, n, "reasons")
    tasks = []
    for i in range(n):
        series = {TIME_COLUMN: _numbers(windows.t_ms[i] - windows.t_ms[i, 0])}
        series.update({c: _numbers(windows.x[i, :, j]) for j, c in enumerate(channel_names)})
        task: dict = {"data": {
            SERIES_OBJECT: series,
            "device_id": str(windows.device_ids[i]), "window_id": str(windows.window_ids[i]),
            "dataset_version": str(versions[i]), "stored_label": str(windows.labels[i]), "reason": str(why[i]),
            "header": (f"{windows.device_ids[i]} / {windows.window_ids[i]}: stored label "
                       f"{windows.labels[i] or '(none)'}; asked because: {why[i]}"),
        }, "predictions": []}
        if str(predicted[i]):
            prediction: dict = {"model_version": str(model_version), "result": [{
                "from_name": LABEL_CONTROL, "to_name": SERIES_OBJECT, "type": "choices",
                "value": {"choices": [str(predicted[i])]}}]}
            score = float(confidence[i])
            if math.isfinite(score):  # JSON has no NaN; a missing score sorts last in Label Studio
                prediction["score"] = score
            task["predictions"].append(prediction)
        tasks.append(task)
    return tasks
