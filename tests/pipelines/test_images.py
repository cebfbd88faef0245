"""The images, as the cluster runs them: both pipelines with every task in its component's image.

`make images-test` runs these (marker `containers`; `make test` leaves them out): it builds what is missing
with `make images`, and the Docker Engine API comes from Docker or from podman's socket (manifests/engine.sh).
The MinIO case uses moto's S3 server on 127.0.0.1, which the tasks reach over the host's network.
"""

from __future__ import annotations

import os
import re
import subprocess
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from components import registry
from components.config import Config
from components.simulator import simulate, write_simulation
from components.store import LocalStore
from pipelines.local import COMPILED_DIR, run_pipeline
from tests import REPO

pytestmark = pytest.mark.containers

ROOT = REPO
THIRD_PARTY = Path(os.environ.get("THIRD_PARTY", ROOT.parent / "shared" / "third_party"))
# A small fleet and few epochs keep the runs short; the product's 90% bar is asserted by the end-to-end test.
FLEET = {"devices": 8, "windows_per_device": 40, "seed": 3}
SMALL = {"train": {"epochs": 12}, "quantize": {"qat_epochs": 1, "representative_windows": 50},
         "evaluate": {"accuracy_floor": 0.6}}
DRIFT_MONITOR_TASKS = {"ingest", "validate_schema", "detect_drift"}
TRAINING_TASKS = DRIFT_MONITOR_TASKS | {"relabel_queue", "train", "quantize", "evaluate", "export_c_array",
                                        "firmware_build", "promote"}


@pytest.fixture(scope="module")
def engine():
    from pipelines.containers import engine_client

    client = engine_client()
    yield client
    client.close()


@pytest.fixture(scope="module")
def images(engine):
    cluster = Config().cluster
    return SimpleNamespace(runtime=cluster.runtime_image, builder=cluster.firmware_builder_image)


@pytest.fixture(scope="module")
def config() -> Config:
    return Config.from_dict(SMALL)


def _upload_fleet(store) -> None:
    uploads, truth = simulate("baseline", Config().data, **FLEET)
    write_simulation(store, uploads, truth, f"baseline-s{FLEET['seed']}")


@pytest.fixture(scope="module")
def subprocess_counts(config, tmp_path_factory) -> dict:
    """What the subprocess runner's ingest makes of the same uploads."""
    root = tmp_path_factory.mktemp("subprocess")
    store = LocalStore(root / "store")
    _upload_fleet(store)
    summary = run_pipeline("drift-monitor", store, config, root / "kfp")
    assert not summary["failed"], summary["text"]
    return summary["counts"]


def _in_image(engine, image: str, command: list[str], volumes: dict | None = None) -> str:
    """Run a command in a fresh container of `image`; its output (stdout and stderr)."""
    container = engine.containers.run(image, command, detach=True, volumes=volumes or {}, network_mode="host")
    try:
        exit_code = container.wait(timeout=900)["StatusCode"]
        out = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    assert exit_code == 0, f"{command} in {image} exited {exit_code}:\n{out[-4000:]}"
    return out


def _check_containers(engine, images, summary: dict, expected_tasks: set[str]) -> None:
    """The engine's own records: each task ran in a container of its component's image, as a non-root user,
    with no secret in its environment."""
    tasks = summary["tasks"]
    assert {t["task"] for t in tasks} == expected_tasks
    for task in tasks:
        record = engine.api.inspect_container(task["container_id"])
        wanted = images.builder if task["task"] == "firmware_build" else images.runtime
        assert record["Config"]["Image"] in (wanted, f"{wanted}:latest"), (task, record["Config"]["Image"])
        assert record["Config"]["Labels"]["io.tinymlops.task"] == task["task"]
        assert record["State"]["ExitCode"] == 0, task
        assert record["Config"]["User"] not in ("", "0", "root", "0:0"), record["Config"]["User"]
        env = "\n".join(record["Config"]["Env"] or [])
        assert "MINIO_SECRET_KEY=" not in env and "testing-secret" not in env


def _monitor_in_containers(store, config, images, engine, root: Path, subprocess_counts: dict):
    from pipelines.monitor import monitor

    _upload_fleet(store)
    summary = monitor(store, config, root, runner="container")
    assert not summary["failed"], summary["text"]
    assert summary["runner"] == "container"
    assert summary["counts"] == subprocess_counts  # the same dataset as the subprocess runner's
    _check_containers(engine, images, summary, DRIFT_MONITOR_TASKS)
    trigger = summary["trigger"]
    assert trigger["started"], trigger
    run = trigger["run"]
    assert not run["failed"], run["text"]
    _check_containers(engine, images, run, TRAINING_TASKS)
    version = run["model_version"]
    assert registry.read_model(store, version)["blessed"] and registry.production(store) == version, run["text"]
    # Without PlatformIO's platforms the builder image builds no firmware and every summary says why.
    label = engine.images.get(images.builder).labels.get("io.tinymlops.platformio-platforms", "")
    if label.startswith("skipped"):
        assert not run["firmware_built"]
        assert any("PIO_PLATFORMS=skip" in reason for reason in run["firmware_missing"]), run["firmware_missing"]
        assert "PIO_PLATFORMS=skip" in run["text"]
    # The builder image compiled TFLM from the snapshots (make images passes them): firmware-build ran the
    # shipped sources on the Cortex-M4F under QEMU, though evaluate's image could not.
    if (THIRD_PARTY / "tflite-micro").is_dir():
        record = registry.read_model(store, version)
        assert record["cortex_m4"].startswith("verified on Cortex-M4 (QEMU): "), record["cortex_m4"]
        assert record["cortex_m4"].endswith("windows bit-exact, reference and CMSIS-NN")
    return run


def test_both_pipelines_in_containers_on_a_local_store(engine, images, config, subprocess_counts, tmp_path):
    """The store folder is bind-mounted into every task at the same path."""
    store = LocalStore(tmp_path / "store")
    run = _monitor_in_containers(store, config, images, engine, tmp_path / "kfp", subprocess_counts)
    assert (store.root / "models" / run["model_version"] / "model.tflite").is_file()


def test_both_pipelines_in_containers_on_minio(engine, images, config, subprocess_counts, minio_env, tmp_path):
    """moto's S3 server on 127.0.0.1; credentials reach the tasks as mounted files, not as environment."""
    from components.store import open_store

    store = open_store(minio_env)
    run = _monitor_in_containers(store, config, images, engine, tmp_path / "kfp", subprocess_counts)
    assert store.exists(f"models/{run['model_version']}/model.tflite")


def test_compiled_yaml_names_exactly_the_built_images(engine, images):
    named = set()
    for path in sorted(COMPILED_DIR.glob("*.yaml")):
        spec = next(yaml.safe_load_all(path.read_text()))
        named |= {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert named == {images.runtime, images.builder}
    for image in named:
        assert image in engine.images.get(image).tags, f"{image} was not built: run `make images`"


def test_runtime_image_user_contents_and_imports(engine, images):
    attrs = engine.images.get(images.runtime).attrs["Config"]
    assert attrs["User"] and attrs["User"].split(":")[0] not in ("0", "root")
    assert not [e for e in attrs.get("Env") or [] if e.startswith(("MINIO_", "AWS_"))]
    out = _in_image(engine, images.runtime, ["sh", "-c", (
        "id -u && tinymlops --help >/dev/null && "
        "python -c 'import tensorflow, tensorflow_data_validation, evidently, kfp, tflite_micro' && "
        "test ! -e /opt/tinymlops/.tinymlops && test ! -e \"$HOME/.tinymlops\" && echo IMPORTS-OK")])
    assert out.splitlines()[0] != "0" and "IMPORTS-OK" in out, out


def test_firmware_host_tests_in_the_builder_image(engine, images):
    out = _in_image(engine, images.builder, ["make", "-j2", "-C", "/opt/tinymlops/firmware", "host-test",
                                             "BUILD=/tmp/fw"])
    summary = re.search(r"^(\d+) passed, (\d+) failed$", out, re.MULTILINE)
    assert summary and int(summary[1]) >= 40 and summary[2] == "0", out[-3000:]


def test_qemu_smoke_in_the_builder_image(engine, images, small_int8_model, tmp_path):
    """The application with a real exported model on a Cortex-M4F under QEMU, with the image's toolchain."""
    from components.c_sources import export_c_array
    from tests.firmware.test_firmware import _check_protocol_lines, _smoke_inputs

    tflite, config, arena, windows = small_int8_model
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name, data in export_c_array(tflite, config, arena).items():
        (model_dir / name).write_bytes(data)
    exported = SimpleNamespace(tflite=tflite, config=config, windows=np.asarray(windows, np.float32),
                               model_dir=model_dir)
    smoke_dir, windows, expected_count = _smoke_inputs(exported, tmp_path)
    tmp_path.chmod(0o755)  # the image's user reads the mounted inputs
    inputs = "/inputs"
    out = _in_image(engine, images.builder, [
        "make", "--no-print-directory", "-C", "/opt/tinymlops/firmware", "qemu-smoke", "BUILD=/tmp/qemu",
        f"MODEL_DIR={inputs}/{model_dir.name}", f"SMOKE_DIR={inputs}/{smoke_dir.relative_to(tmp_path)}",
        f"SMOKE_MODEL_LEN={len(tflite)}", f"SMOKE_MODEL_CRC=0x{zlib.crc32(tflite):08x}"],
        volumes={str(tmp_path): {"bind": inputs, "mode": "ro"}})
    lines = out.splitlines()
    assert lines[-1] == "PASS" and not any(line.startswith("FAIL") for line in lines), out[-3000:]
    assert f"{expected_count} of {expected_count}" in next(line for line in lines if "quantization:" in line)
    _check_protocol_lines(out, exported, windows)


def test_a_task_that_fails_in_its_container_shows_its_log_tail(engine, images, config, tmp_path):
    """Training on an empty store fails inside the train task's container: the summary says which and why."""
    summary = run_pipeline("continuous-training", LocalStore(tmp_path / "store"), config, tmp_path / "kfp",
                           "container")
    assert summary["failed"]
    [failed] = summary["failed_tasks"]
    assert failed["task"] == "train" and failed["image"] == images.runtime and failed["exit_code"] != 0
    assert "no dataset versions to read" in failed["log_tail"]
    assert "task train failed in " + images.runtime in summary["text"]
    assert "no dataset versions to read" in summary["text"]


def test_a_missing_image_says_what_to_run(engine, config, tmp_path):
    from pipelines.containers import ContainerError

    missing = Config.from_dict({**SMALL, "cluster": {"runtime_image": "localhost/tinymlops/no-such-image:0"}})
    with pytest.raises(ContainerError, match=r"no-such-image:0 is not in the container engine.*make images"):
        run_pipeline("drift-monitor", LocalStore(tmp_path / "store"), missing, tmp_path / "kfp", "container")


def test_an_unreachable_store_says_so_before_any_task(engine, config, tmp_path, monkeypatch):
    import socket

    from components.store import open_store
    from pipelines.containers import ContainerError

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MINIO_ACCESS_KEY", "someone")
    monkeypatch.setenv("MINIO_SECRET_KEY", "something")
    store = open_store(f"minio://127.0.0.1:{port}/nowhere")
    with pytest.raises(ContainerError, match=rf"127.0.0.1:{port}/nowhere is not reachable from inside a container"):
        run_pipeline("drift-monitor", store, config, tmp_path / "kfp", "container")


def test_the_cli_runs_a_pipeline_in_containers(tmp_path):
    """`tinymlops run PIPELINE --runner container` as a person types it."""
    store = LocalStore(tmp_path / "store")
    _upload_fleet(store)
    done = subprocess.run([str(ROOT / ".venv/bin/tinymlops"), "run", "drift-monitor", "--runner", "container",
                           "--store", str(store.root), "--pipeline-root", str(tmp_path / "kfp")],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"windows: {FLEET['devices'] * FLEET['windows_per_device']} accepted" in done.stdout
