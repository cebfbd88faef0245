"""A user's own dataset (other channels, window length, rate, classes) through the config file alone."""

import numpy as np

from components.config import load_config
from components.datasets import read_windows
from components.ingest.step import run_ingest
from components.validate_schema.step import validate_new_windows

CONFIG = """
data:
  window_length: 40
  sample_rate_hz: 20
  class_names: [walking, running, sitting]
  channels:
    - {name: acc_x, unit: m/s^2, min: -40, max: 40}
    - {name: acc_y, unit: m/s^2, min: -40, max: 40}
    - {name: acc_z, unit: m/s^2, min: -40, max: 40}
"""


def har_csv(device: str, windows: int, rng) -> bytes:
    """A human-activity-recognition recording converted to the contract (20 Hz, 2 s windows)."""
    lines = ["device_id,window_id,t_ms,acc_z,acc_x,acc_y,label"]
    for w in range(windows):
        label = ["walking", "running", "sitting"][w % 3]
        for i in range(40):
            x, y, z = rng.normal(0, 1 + 3 * (label != "sitting"), 3) + [0, 0, 9.81]
            lines.append(f"{device},{w},{w * 2000 + i * 50.0:.1f},{z:.3f},{x:.3f},{y:.3f},{label}")
    return ("\r\n".join(lines) + "\r\n").encode()


def test_own_dataset_ingests_and_validates_with_no_code_change(tmp_path, local_store):
    path = tmp_path / "har.yaml"
    path.write_text(CONFIG)
    config = load_config(path)
    rng = np.random.default_rng(0)
    for device in ("subject-01", "subject-02"):
        local_store.put_bytes(f"incoming/{device}/rec.csv", har_csv(device, 6, rng))
    result = run_ingest(local_store, config)
    assert result.counts["windows_accepted"] == 12 and result.counts["rows_quarantined"] == 0
    windows = read_windows(local_store, result.version)
    assert windows.x.shape == (12, 40, 3)
    assert abs(windows.x[:, :, 2].mean() - 9.81) < 0.5  # acc_z landed in its configured place
    report = validate_new_windows(local_store, config, result.version, windows)
    assert report.schema_version == "0001" and not report.anomalies
    # A window sampled at 10 Hz breaks this contract and is quarantined, naming the rate.
    lines = har_csv("subject-03", 1, rng).decode().split("\r\n")
    lines[1:41] = [",".join([*r.split(",")[:2], f"{i * 100.0:.1f}", *r.split(",")[3:]])
                   for i, r in enumerate(lines[1:41])]
    local_store.put_bytes("incoming/subject-03/rec-10hz.csv", "\r\n".join(lines).encode())
    second = run_ingest(local_store, config)
    reasons = {q.reason.split(": ", 2)[-1] for q in second.quarantined if q.source.endswith("10hz.csv")}
    assert any("median sample interval 100 ms, expected 50 ms (20 Hz)" in r for r in reasons)
