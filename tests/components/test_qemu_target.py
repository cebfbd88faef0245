"""The board's int8 path on the board's own ISA: real TFLM on a Cortex-M4F under QEMU.

The check program (firmware/test/tflm/tflm_check.cc) links the product's
src/board/tflm_inference.cc unchanged, the exported model files and TFLM
compiled from source for the Cortex-M4F, with TFLM's reference kernels or
CMSIS-NN. It needs arm-none-eabi-g++, qemu-system-arm and libgemmlowp-dev
(make firmware-toolchain installs them) and the TFLM, flatbuffers and CMSIS-NN
trees (TFLM_DIR, FLATBUFFERS_DIR, CMSIS_NN_DIR; by default the snapshots in
../shared/third_party). Without them these tests skip and say which to set.
The first run compiles TFLM per kernel set (minutes, `make tflm-libs`); the
objects are cached in ~/.cache/tinymlops/tflm and later runs link in seconds.
"""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

from components.boards import check_latency
from components.c_sources import export_c_array
from components.config import Config, load_config
from components.int8_model import Int8Model
from components.model_inputs import input_groups
from components.qemu_target import FIRMWARE_DIR, KERNEL_SETS, check_on_target, missing, run_on_target

LACKING = missing()
needs_target = pytest.mark.skipif(bool(LACKING), reason="Cortex-M4 check cannot run: " + "; ".join(LACKING))


def _exported(tflite: bytes, config: Config, x: np.ndarray) -> SimpleNamespace:
    model = Int8Model(tflite, input_groups(config.data))
    arena = model.minimal_arena(x[:1])
    return SimpleNamespace(tflite=tflite, config=config, model=model, host_arena=arena,
                           files=export_c_array(tflite, config, arena), inputs=model.quantize(x),
                           host_scores=model.run_tflm(x, arena))


@pytest.fixture(scope="module")
def demo_model(small_int8_model):
    """A model of the demo's data contract (the one `make run` trains), on 60 windows of 5 devices."""
    tflite, config, _, x = small_int8_model
    return _exported(tflite, config, x)


@pytest.fixture(scope="module")
def user_model(tmp_path_factory):
    """A model trained on a user's configuration: 3 accelerometer channels in m/s^2, 40 samples at 20 Hz,
    3 classes (tests/components/test_user_dataset.py's recording), read through the config file alone."""
    from components.datasets import WindowSet
    from components.upload_parser import parse_upload
    from tests.components.test_user_dataset import CONFIG, har_csv
    from tests.conftest import train_small_int8

    path = tmp_path_factory.mktemp("user") / "har.yaml"
    path.write_text(CONFIG + "train: {epochs: 3}\nquantize: {qat_epochs: 1, representative_windows: 20}\n")
    config = load_config(path)
    rng = np.random.default_rng(3)
    parsed = [w for d in range(5) for w in
              parse_upload(f"incoming/subject-{d}/rec.csv", har_csv(f"subject-{d}", 9, rng), config.data).windows]
    windows = WindowSet.from_windows(parsed, config.data.window_length, len(config.data.channels))
    return _exported(train_small_int8(windows, config), config, windows.x)


# Each run on the target compiles the check program for the files it is given (about 15 s on 2 cores): the
# check of each model runs once, and the tests below that need a run of demo_model's files read this one.
@pytest.fixture(scope="module")
def demo_model_check(demo_model):
    return check_on_target(demo_model.files, demo_model.inputs, demo_model.host_scores)


@pytest.fixture(scope="module")
def user_model_check(user_model):
    return check_on_target(user_model.files, user_model.inputs, user_model.host_scores)


@needs_target
@pytest.mark.parametrize("which", ["demo_model", "user_model"])
def test_the_board_computes_the_hosts_int8_scores_on_every_window(which, request):
    exported = request.getfixturevalue(which)
    check = request.getfixturevalue(f"{which}_check")
    n = len(exported.host_scores)
    for kernels in KERNEL_SETS:
        run = check.runs[kernels]
        assert run.begin_error is None, run.begin_error
        assert run.scores.shape == exported.host_scores.shape
        differ = np.flatnonzero(np.any(run.scores != exported.host_scores, axis=1))
        assert differ.size == 0, (f"{kernels}: {differ.size} of {n} windows differ from the host's TFLM, "
                                  f"first {differ[:5].tolist()}")
    assert check.verified
    assert check.statement() == f"verified on Cortex-M4 (QEMU): {n}/{n} windows bit-exact, reference and CMSIS-NN"


@needs_target
def test_the_export_declares_the_arena_the_target_needs(demo_model, demo_model_check):
    """AllocateTensors succeeds in exactly the measured arena and fails one byte below it, for both kernel sets."""
    no_margin = Config.from_dict({**demo_model.config.to_dict(), "firmware": {"arena_margin_bytes": 0}})
    one_window = [a[:1] for a in demo_model.inputs]
    for kernels in KERNEL_SETS:
        # Measured by the run of the same files (the check program finds it before it runs any window).
        need = demo_model_check.runs[kernels].arena_min_bytes
        # 32-bit pointers: less than the 64-bit host's runtime needs.
        assert 0 < need < demo_model.host_arena, (need, demo_model.host_arena)
        exact = run_on_target(export_c_array(demo_model.tflite, no_margin, need, "test"), one_window, kernels)
        assert exact.begin_error is None and exact.arena_bytes == need
        assert exact.scores.tolist() == demo_model.host_scores[:1].tolist()
        below = run_on_target(export_c_array(demo_model.tflite, no_margin, need - 1, "test"), one_window, kernels)
        assert below.begin_error == "AllocateTensors failed: kTensorArenaSize is too small on this target"
        assert below.scores.size == 0


@needs_target
def test_cost_on_the_target_is_measured(demo_model, demo_model_check):
    runs = demo_model_check.runs  # each kernel set's run of demo_model's files: its cost per window, its sizes
    assert set(runs) == set(KERNEL_SETS)
    for run in runs.values():
        assert run.instructions_per_inference > 10_000
        assert run.sizes["tflm_flash_bytes"] > 20_000 and run.sizes["model_flash_bytes"] >= len(demo_model.tflite)
        assert run.sizes["tflm_static_ram_bytes"] > 0 and run.sizes["stack_peak_bytes"] > 0
        assert run.sizes["arena_bytes"] == run.arena_bytes
    # The optimized kernels are what the Arduino library runs on Cortex-M; they must be the cheaper ones.
    assert runs["cmsis_nn"].instructions_per_inference < runs["reference"].instructions_per_inference
    check = SimpleNamespace(ran=True, runs=runs)
    data = demo_model.config.data
    [nano] = check_latency(check, data, demo_model.config.evaluate)
    assert nano.board == "nano33ble" and nano.kernels == "cmsis_nn"
    assert nano.instructions == runs["cmsis_nn"].instructions_per_inference
    assert nano.budget_ms == pytest.approx(0.10 * data.window_length / data.sample_rate_hz * 1000)
    assert nano.estimated_ms == pytest.approx(nano.instructions / 64e6 * 1000)


def test_without_the_sources_the_check_says_which_variable_to_set(tmp_path, monkeypatch):
    monkeypatch.setenv("TFLM_DIR", str(tmp_path / "no-tflm"))
    assert any("set TFLM_DIR" in reason for reason in missing())
    check = check_on_target({}, [], np.zeros((0, 0)))
    assert not check.ran and "set TFLM_DIR" in check.statement()
    assert check.statement().startswith("not verified on Cortex-M4: ")
    done = subprocess.run(["make", "--no-print-directory", "-C", str(FIRMWARE_DIR), "tflm-lib",
                           f"TFLM_DIR={tmp_path / 'no-tflm'}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "set TFLM_DIR=" in done.stdout, done.stdout + done.stderr
