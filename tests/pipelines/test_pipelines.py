"""Pipelines: compiled YAML is current and valid, components run under kfp.local, one end-to-end run."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipelines.local import COMPILED_DIR, compile_all
from tests import REPO


def test_compiled_yaml_is_checked_in_and_current(tmp_path):
    fresh = compile_all(tmp_path)
    assert fresh, "no pipelines compiled"
    for path in fresh:
        checked_in = COMPILED_DIR / path.name
        assert checked_in.exists(), f"{checked_in} missing: run `make compile`"
        assert checked_in.read_text() == path.read_text(), f"{checked_in} is stale: run `make compile`"


def test_compiled_yaml_parses_as_a_pipeline_spec():
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    for path in sorted(COMPILED_DIR.glob("*.yaml")):
        pipeline_doc, platform_doc = yaml.safe_load_all(path.read_text())
        spec = json_format.ParseDict(pipeline_doc, pipeline_spec_pb2.PipelineSpec())
        assert spec.pipeline_info.name == path.stem.replace("_", "-")
        assert "kubernetes" in platform_doc["platforms"]  # store credentials come from a secret


def test_compiled_yaml_holds_no_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIO_ACCESS_KEY", "AKIA-not-for-yaml")
    monkeypatch.setenv("MINIO_SECRET_KEY", "s3cr3t-not-for-yaml")
    for path in compile_all(tmp_path):
        text = path.read_text()
        assert "s3cr3t-not-for-yaml" not in text and "AKIA-not-for-yaml" not in text
        assert "tinymlops-minio" in text  # the Kubernetes secret's name, not its content


MOVING_DATA_TASKS = {"ingest", "validate-schema", "evaluate", "promote"}  # never served from cache


def test_cluster_settings_of_every_task():
    for path in sorted(COMPILED_DIR.glob("*.yaml")):
        pipeline_doc = next(yaml.safe_load_all(path.read_text()))
        for name, task in pipeline_doc["root"]["dag"]["tasks"].items():
            cached = task.get("cachingOptions", {}).get("enableCache") is True
            assert not (cached and name in MOVING_DATA_TASKS), f"{path.name}: {name} must not be cached"
            assert task["retryPolicy"]["maxRetryCount"] >= 1, name
        for name, executor in pipeline_doc["deploymentSpec"]["executors"].items():
            resources = executor["container"]["resources"]
            assert resources["cpuRequest"] and resources["memoryLimit"], name
            assert executor["container"]["image"].startswith("ghcr.io/tinymlops/"), name


@pytest.fixture
def kfp_local(tmp_path):
    import kfp.local

    kfp.local.init(runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"),
                   raise_on_error=True)
    return tmp_path / "kfp"


def test_ingest_component_under_kfp_local(kfp_local, store, config, small_baseline):
    """On both backends: the MinIO one reaches moto's server from the task's subprocess."""
    from components.datasets import read_manifest
    from components.ingest.component import ingest

    uploads, _ = small_baseline
    for upload in uploads:
        store.put_bytes(upload.key, upload.data)
    task = ingest(store_url=str(getattr(store, "root", store.url)), config_json=config.to_json())
    version = task.outputs["new_version"]
    assert task.outputs["dataset_version"] == version
    assert version and read_manifest(store, version)["counts"]["windows_accepted"] == 40
    assert task.outputs["metrics"].metadata["rows_read"] == 2000
    assert "Ingest into dataset" in Path(task.outputs["report"].path).read_text()
    assert task.outputs["dataset"].metadata["version"] == version


@pytest.mark.slow
def test_end_to_end_make_run_path(tmp_path, capsys):
    """make run's story on the default fleet: the monitor trains the first model; concept drift arrives; the
    monitor detects it, and the run it starts queues stale labels, the oracle answers, and the retrained model
    is promoted; the before/after report; then a blocking anomaly stopping a run."""
    from components.datasets import list_versions
    from components.store import LocalStore
    from pipelines.cli import main

    store, root = str(tmp_path / "store"), str(tmp_path / "kfp")
    common = ["--store", store, "--json"]
    assert main(["simulate", *common]) == 0
    capsys.readouterr()
    assert main(["monitor", "--pipeline-root", root, *common]) == 0
    first = _last_json(capsys)
    assert first["counts"]["windows_accepted"] == 1200 and first["counts"]["rows_quarantined"] == 0
    assert first["validation"]["anomalies"] == 0 and first["validation"]["schema_version"] == "0001"
    assert first["drift"]["decision"] == "none" and first["trigger"]["started"]
    trained = first["trigger"]["run"]
    assert trained["blessed"] and trained["production"] == trained["model_version"]
    assert trained["int8_accuracy"] >= 0.90
    assert trained["float_accuracy"] - trained["int8_accuracy"] <= 0.01
    assert trained["arena_bytes"] <= 24 * 1024 and trained["tflite_bytes"] <= 32 * 1024
    production = LocalStore(store).get_bytes(f"models/{trained['production']}/model.tflite")
    independent = _tflm_accuracy_on_fresh_windows(production)
    assert abs(independent - trained["int8_accuracy"]) <= 0.02
    _check_cortex_m4_record(LocalStore(store), trained["production"])

    assert main(["simulate", "--scenario", "concept-drift", *common]) == 0
    capsys.readouterr()
    assert main(["monitor", "--pipeline-root", root, *common]) == 0
    second = _last_json(capsys)
    assert second["drift"]["decision"] == "concept" and second["trigger"]["reason"] == "concept drift"
    retrained = second["trigger"]["run"]
    assert retrained["production"] == retrained["model_version"] != trained["model_version"]
    # Nothing new since: decision "none", no run (the cooldown and racing monitors: tests/components/test_alerts.py).
    assert main(["monitor", "--pipeline-root", root, *common]) == 0
    again = _last_json(capsys)
    assert again["drift"]["decision"] == "none" and not again["trigger"]["started"]

    assert main(["report", *common]) == 0
    report = _last_json(capsys)
    rows = {row["set"]: row for row in report["table"]}
    post, baseline = rows["newest holdout"], rows["baseline holdout, current labels"]
    claimed = rows["baseline holdout, labels as the old model was trained"]["before"]
    assert post["before"] < 0.8 and post["after"] >= 0.90  # the target, on holdout devices
    assert baseline["after"] >= claimed - 0.02  # at most 2 points lost on the baseline holdout
    oracle = report["queue"]["oracle_import"]
    assert oracle["labels_changed"] >= 0.8 * oracle["labels_imported"]

    # A person retires the "lift" class in the schema; new uploads still carry it: the run stops.
    text = LocalStore(store).get_bytes("schemas/0001/schema.pbtxt").decode()
    edited = tmp_path / "schema.pbtxt"
    edited.write_text(text.replace('    value: "lift"\n', "", 1))
    assert main(["schema", "push", str(edited), "--note", "retire lift", *common]) == 0
    assert main(["simulate", "--scenario", "baseline", "--seed", "5", "--devices", "3", "--windows-per-device", "8",
                 *common]) == 0
    capsys.readouterr()
    before = set(list_versions(LocalStore(store)))
    assert main(["run", "drift-monitor", "--pipeline-root", root, *common]) == 1
    failed = _last_json(capsys)
    assert failed["failed"] is True and failed["latest_dataset_version"] not in before  # ingested, then stopped
    assert "ENUM_TYPE_UNEXPECTED_STRING_VALUES" in failed["validation"]["kinds"]
    assert failed["validation"]["blocking"] >= 1


def _check_cortex_m4_record(store, version: str) -> None:
    """Where the Cortex-M4 check can run: evaluate measured the arena on the target, the exported settings
    declare it plus the margin, and firmware-build found the shipped sources bit-exact with both kernel sets."""
    from components import registry
    from components.config import Config
    from components.qemu_target import missing

    metrics = json.loads(store.get_bytes(f"models/{version}/metrics.json"))
    if missing():  # the rest of the story goes on; the record says why
        assert metrics["arena_measured_on"] == "host (64-bit)" and not metrics["cortex_m4"]["ran"]
        assert registry.read_model(store, version)["cortex_m4"].startswith("not verified on Cortex-M4: ")
        return
    assert metrics["arena_measured_on"] == "Cortex-M4F (QEMU)" and metrics["cortex_m4"]["verified"]
    assert metrics["arena_bytes"] == metrics["cortex_m4"]["arena_needed_bytes"] < metrics["host_arena_bytes"]
    assert all(check["fits"] for check in metrics["latency"]) and metrics["latency"]
    settings = store.get_bytes(f"models/{version}/c/model_settings.h").decode()
    declared = metrics["arena_bytes"] + Config().firmware.arena_margin_bytes
    assert f"kTensorArenaSize = {declared};" in settings
    windows = metrics["cortex_m4"]["windows"]
    assert registry.read_model(store, version)["cortex_m4"] == (
        f"verified on Cortex-M4 (QEMU): {windows}/{windows} windows bit-exact, reference and CMSIS-NN")
    card = store.get_bytes(f"models/{version}/model_card.md").decode()
    assert "## On the board's ISA" in card and "| cmsis_nn |" in card


def _tflm_accuracy_on_fresh_windows(model: bytes) -> float:
    """Run the model in tflite-micro directly, as a board would, on windows it never saw."""
    import tensorflow as tf
    from tflite_micro import runtime

    from components.config import Config
    from components.simulator import simulate
    from components.upload_parser import parse_upload

    data = Config().data
    uploads, _ = simulate("baseline", data, devices=6, windows_per_device=50, seed=99)
    windows = [w for u in uploads for w in parse_upload(u.key, u.data, data).windows]
    details = tf.lite.Interpreter(model_content=model).get_input_details()
    channels = {"in_g": [0, 1, 2], "in_deg_s": [3, 4, 5]}
    micro = runtime.Interpreter.from_bytes(model, arena_size=24 * 1024)
    correct = 0
    for window in windows:
        for index, detail in enumerate(details):
            group = next(name for name in channels if detail["name"].split(":")[0].endswith(name))
            scale, zero_point = detail["quantization"]
            raw = window.x[:, channels[group]].reshape(1, data.window_length, 1, 3)
            micro.set_input(np.clip(np.round(raw / scale) + zero_point, -128, 127).astype(np.int8), index)
        micro.invoke()
        correct += data.class_names[int(np.argmax(micro.get_output(0)))] == window.label
    return correct / len(windows)


def _last_json(capsys):
    """The CLI's --json summary: stdout is exactly one JSON document (kfp.local's logs go to a file)."""
    return json.loads(capsys.readouterr().out)


def test_ci_workflow_compiles_checks_and_submits_with_secrets_only():
    workflow_path = REPO / ".github" / "workflows" / "retrain.yml"
    workflow = yaml.safe_load(workflow_path.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert "workflow_dispatch" in triggers and "push" in triggers
    steps = " ".join(step.get("run", "") for step in workflow["jobs"]["compile-and-submit"]["steps"])
    assert "make compile" in steps and "git diff --exit-code pipelines/compiled" in steps
    assert "tinymlops kfp run continuous-training" in steps
    env = workflow["jobs"]["compile-and-submit"]["steps"][-1]["env"]
    assert env["KF_PIPELINES_ENDPOINT"] == "${{ secrets.KF_PIPELINES_ENDPOINT }}"


def test_images_and_defaults_come_from_the_configuration_at_compile_time(tmp_path):
    from components.config import load_config

    path = tmp_path / "cluster.yaml"
    path.write_text("cluster:\n  runtime_image: registry.example/tinymlops/runtime:1.2.3\n"
                    "  firmware_builder_image: registry.example/tinymlops/builder:4.5.6\n"
                    "  store_url: minio://minio.store:9000/fleet-a\n")
    (training,) = [p for p in compile_all(tmp_path / "out", load_config(path)) if p.stem == "continuous_training"]
    spec = next(yaml.safe_load_all(training.read_text()))
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {"registry.example/tinymlops/runtime:1.2.3", "registry.example/tinymlops/builder:4.5.6"}
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert inputs["store_url"]["defaultValue"] == "minio://minio.store:9000/fleet-a"
    assert json.loads(inputs["config_json"]["defaultValue"])["cluster"]["store_url"] == "minio://minio.store:9000/fleet-a"
    assert all("defaultValue" in p for p in inputs.values())  # a rerun from the KFP UI needs no typing
