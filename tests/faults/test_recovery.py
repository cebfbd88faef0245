"""A monitor killed mid-run (SIGKILL: a pod evicted, a laptop closed) leaves no process behind, and the next
`tinymlops monitor` recovers on its own: one new run that completes, the registry whole and consistent.

A small simulated fleet, no model yet (so the monitor's first alert trains one); monitors are killed during
tasks of continuous-training; then the next monitor runs to the end. A fast configuration (few epochs, no
Cortex-M4 check, every model blessed) keeps it to a few minutes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from components import layout, registry
from components.datasets import list_versions, read_manifest
from components.store import LocalStore, get_json

TINYMLOPS = str(Path(sys.executable).with_name("tinymlops"))
FAST = {"train": {"epochs": 3, "early_stopping_patience": 2},
        "quantize": {"qat_epochs": 1, "representative_windows": 50},
        "evaluate": {"accuracy_floor": 0.0, "max_regression": 1.0, "target_windows": 0},
        # four runs in a row here, the second failure's backoff a second
        "monitor": {"heartbeat_s": 1, "stale_after_s": 60, "max_attempts": 5, "retry_backoff_s": 1}}


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent, process group), or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state, parent, group = f.read().rsplit(")", 1)[1].split()[:3]
        return state, int(parent), int(group)
    except (OSError, ValueError):
        return None


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def _live_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and (_proc_stat(int(p)) or ("Z",))[0] != "Z"]


def _of_this_run(marker: str) -> list[int]:
    """Live processes that belong to the run: their command line names its pipeline root."""
    return [pid for pid in _live_pids() if pid != os.getpid() and any(marker in a for a in _cmdline(pid))]


def _running_task(marker: str, task: str) -> bool:
    for pid in _of_this_run(marker):
        args = _cmdline(pid)
        if "--function_to_execute" in args and args[args.index("--function_to_execute") + 1] == task:
            return True
    return False


def _monitor(store: Path, root: Path, config: Path, log: Path | None = None) -> subprocess.Popen:
    """A monitor; with `log`, its output goes to that file (nobody reads a pipe of a monitor we kill)."""
    out = open(log, "w") if log else subprocess.PIPE  # noqa: SIM115 - the child holds it
    return subprocess.Popen([TINYMLOPS, "monitor", "--store", str(store), "--pipeline-root", str(root),
                             "--config", str(config), "--json"], stdout=out, stderr=subprocess.STDOUT if log
                            else subprocess.PIPE, text=True)


def _kill_when(monitor: subprocess.Popen, ready, timeout_s: float = 400, poll_s: float = 0.005) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert monitor.poll() is None, "the monitor ended before the kill point (its log is in tmp_path)"
        assert time.monotonic() < deadline, "the kill point never came"
        time.sleep(poll_s)
    monitor.send_signal(signal.SIGKILL)
    monitor.wait()


def _no_process_left(root: Path) -> None:
    """Every process of the killed run ends (the supervisor's grace period is 10 s)."""
    deadline = time.monotonic() + 20
    while _of_this_run(str(root)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _of_this_run(str(root)), [" ".join(_cmdline(p))[:200] for p in _of_this_run(str(root))]


def _registry_is_consistent(store: LocalStore, copy_may_lag: bool = False) -> None:
    """Every listed version whole; a half-written one never listed; production is the newest promotion, and
    production.json its copy (which a kill between the two leaves behind until the next monitor)."""
    models = registry.list_models(store)
    for version in models:
        record = registry.read_model(store, version)
        assert all(store.exists(f"models/{version}/{name}") for name in record["files"]), version
    assert set(registry.incomplete_versions(store)).isdisjoint(models)
    log = registry.promotions(store)
    assert [p["previous"] for p in log[1:]] == [p["version"] for p in log[:-1]]
    assert registry.production(store) == (log[-1]["version"] if log else None)
    copy = get_json(store, layout.PRODUCTION_POINTER) if store.exists(layout.PRODUCTION_POINTER) else None
    assert copy == (log[-1] if log else None) or (copy_may_lag and copy in [None, *log[:-1]]), copy


@pytest.mark.slow
def test_monitors_killed_during_train_evaluate_and_promote_leave_nothing_behind_and_the_next_one_recovers(
        tmp_path):
    """Kill the monitor during train; the next monitor retries, and is killed during evaluate; the next,
    during promote (as the new version's files are written); the fourth runs to the end. One chain
    instead of three separate stories: the same kills, a third of the time."""
    store_path, root = tmp_path / "store", tmp_path / "kfp-root"
    config_path = tmp_path / "fast.yaml"
    config_path.write_text(yaml.safe_dump(FAST))
    store = LocalStore(store_path)
    subprocess.run([TINYMLOPS, "simulate", "--store", str(store_path), "--devices", "5", "--windows-per-device",
                    "30", "--seed", "3"], check=True, capture_output=True)
    uploads = store.list("incoming/")

    for task in ("train", "evaluate", "promote"):
        killed = _monitor(store_path, root, config_path, log=tmp_path / f"killed-during-{task}.log")
        if task == "promote":  # the new version's first file is written: the rest are being written
            _kill_when(killed, lambda: any((store_path / "models").glob("*/model.tflite")))
        else:  # train and evaluate run for many seconds: a look every 50 ms finds them (each look reads all of /proc)
            _kill_when(killed, lambda task=task: _running_task(str(root), task), poll_s=0.05)
        _no_process_left(root)
        _registry_is_consistent(store, copy_may_lag=True)
        if task != "promote":
            assert registry.production(store) is None, f"killed during {task}, yet a model is in production"
    # The kill during promote lands while the version is written (then it is left half-written, and never
    # listed), after it was registered, or after its promotion record (then the copy may lag).
    pointer = layout.PRODUCTION_POINTER
    print(f"after the kill during promote: incomplete {registry.incomplete_versions(store)}, "
          f"production {registry.production(store)}, production.json "
          f"{get_json(store, pointer)['version'] if store.exists(pointer) else None}")

    promoted = registry.production(store)  # set when the kill came after the promotion record

    again = _monitor(store_path, root, config_path)
    out, err = again.communicate(timeout=900)
    assert again.returncode == 0, out[-3000:] + err[-3000:]
    trigger = json.loads(out)["trigger"]
    if promoted is None:  # killed before the promotion: the dead run is retried, and this attempt succeeds
        assert trigger["started"] and trigger["previous"]["state"] == "dead" and trigger["attempt"] == 4, trigger
        assert not trigger["run"]["failed"] and trigger["run"]["production"] == trigger["run"]["model_version"]
        promoted = trigger["run"]["model_version"]
    else:  # on a loaded machine the kill can land after it: the model trained on all the data is in production,
        # so there is nothing to retrain, and the next monitor only brings production.json up to date
        assert not trigger["started"] and "nothing to do" in trigger["reason"], trigger

    # One run per monitor: three dead claims and, if it had to run, this one, in order, nothing else.
    claims = sorted(k for k in store.list("alerts/") if k.endswith("/claim.json"))
    outcomes = [get_json(store, k.replace("claim.json", "outcome.json"))["state"] for k in claims]
    # Each killed run recorded itself as interrupted on its way out (the kernel's parent-death signal).
    assert outcomes == ["interrupted"] * 3 + ["succeeded"] * trigger["started"], outcomes
    # Exactly one production model, every version whole, the promotions log consistent.
    _registry_is_consistent(store)
    assert registry.production(store) == promoted
    assert [p["version"] for p in registry.promotions(store)][-1] == promoted
    # Datasets: each upload in exactly one version.
    uploads_seen = [u["key"] for v in list_versions(store) for u in read_manifest(store, v)["uploads"]]
    assert len(uploads_seen) == len(set(uploads_seen)) == len(uploads)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_local_run_ends_its_tasks_and_says_so(tmp_path, signum):
    """Ctrl-C (SIGINT) or SIGTERM to `tinymlops run`: the signal reaches every task, the command says it
    was interrupted (exit 130), and nothing of the run is left."""
    store_path, root = tmp_path / "store", tmp_path / "kfp-root"
    subprocess.run([TINYMLOPS, "simulate", "--store", str(store_path), "--devices", "3", "--windows-per-device",
                    "10"], check=True, capture_output=True)
    run = subprocess.Popen([TINYMLOPS, "run", "drift-monitor", "--store", str(store_path), "--pipeline-root",
                            str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not _running_task(str(root), "ingest"):
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.01)
    run.send_signal(signum)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 130 and "interrupted" in err, (run.returncode, err[-2000:])
    _no_process_left(root)


def test_the_supervisor_finds_the_members_of_a_process_group():
    """What the orphan reaper waits on (pipelines/supervise.py): this process is in its own group."""
    from pipelines.supervise import _members

    assert os.getpid() in _members(os.getpgrp())
    assert os.getpid() not in _members(os.getpgrp() + 100_000)
