"""Shared fixtures: configuration, stores (a local folder and a real S3 server), simulated uploads."""

import os
import socket
import warnings

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from components.config import Config, StoreConfig  # noqa: E402
from components.simulator import simulate  # noqa: E402
from components.store import LocalStore, MinioStore  # noqa: E402

S3_USER, S3_SECRET = "testing-access", "testing-secret"
# Tests of the store's behaviour, not of its patience: a failing call gives up after a moment.
FAST_FAIL = StoreConfig(retry_budget_s=0.1, first_delay_s=0.01, connect_timeout_s=2, read_timeout_s=5,
                        request_deadline_s=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def config() -> Config:
    return Config()


@pytest.fixture
def local_store(tmp_path) -> LocalStore:
    return LocalStore(tmp_path / "store")


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server: a real HTTP endpoint on 127.0.0.1 standing in for MinIO."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def minio_env(s3_endpoint, monkeypatch, request):
    """Credentials in the environment and a fresh bucket name per test."""
    monkeypatch.setenv("MINIO_ACCESS_KEY", S3_USER)
    monkeypatch.setenv("MINIO_SECRET_KEY", S3_SECRET)
    monkeypatch.setenv("MINIO_SECURE", "0")
    bucket = "t-" + "".join(c for c in request.node.name.lower() if c.isalnum())[:40]
    return f"minio://{s3_endpoint}/{bucket}"


@pytest.fixture
def minio_store(minio_env, s3_endpoint) -> MinioStore:
    bucket = minio_env.rsplit("/", 1)[1]
    return MinioStore(s3_endpoint, bucket, "fleet", access_key=S3_USER, secret_key=S3_SECRET,
                      patience=FAST_FAIL)


@pytest.fixture(params=["local", "minio"])
def store(request, tmp_path):
    """Each store test runs on both backends."""
    return request.getfixturevalue("local_store" if request.param == "local" else "minio_store")


@pytest.fixture(scope="session")
def small_baseline():
    """A small simulated fleet: 4 devices x 10 windows, as uploads and ground truth."""
    return simulate("baseline", Config().data, devices=4, windows_per_device=10, seed=1)


@pytest.fixture(scope="session")
def small_int8_model(tmp_path_factory):
    """A small real int8 model (few epochs on a small simulated fleet) and windows to run it on.

    Returns (tflite bytes, config, minimal arena bytes, raw windows [N, T, C]). Trained once per test run,
    also when the run is spread over several pytest-xdist workers (once_per_run).
    """
    config = Config.from_dict({"train": {"epochs": 3}, "quantize": {"qat_epochs": 1, "representative_windows": 20}})

    def produce():
        from components.datasets import WindowSet
        from components.int8_model import Int8Model
        from components.model_inputs import input_groups
        from components.upload_parser import parse_upload
        uploads, _ = simulate("baseline", config.data, devices=5, windows_per_device=12, seed=21)
        parsed = [w for u in uploads for w in parse_upload(u.key, u.data, config.data).windows]
        windows = WindowSet.from_windows(parsed, config.data.window_length, len(config.data.channels))
        tflite = train_small_int8(windows, config)
        arena = Int8Model(tflite, input_groups(config.data)).minimal_arena(windows.x[:1])
        return tflite, config, arena, windows.x

    return once_per_run(tmp_path_factory, "small_int8_model", produce)


def once_per_run(tmp_path_factory, name: str, produce):
    """produce()'s value, computed once per test run: under pytest-xdist the first worker to ask computes it
    (the others wait on a lock) and leaves it, pickled, in the run's shared temporary folder for the others.
    A session fixture alone would compute it once in every worker."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return produce()
    import fcntl
    import pickle

    shared = tmp_path_factory.getbasetemp().parent  # this run's folder, above each worker's own (popen-gwN)
    path = shared / f"{name}.pickle"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if path.exists():
            return pickle.loads(path.read_bytes())
        value = produce()
        path.with_suffix(".partial").write_bytes(pickle.dumps(value))
        path.with_suffix(".partial").replace(path)
        return value


def train_small_int8(windows, config: Config) -> bytes:
    """Train and quantize on a few dozen windows: the int8 .tflite."""
    import tensorflow as tf

    from components.quantize.core import quantize
    from components.train.core import train

    # Eager: tracing the training step costs more than fitting a few dozen windows; the weights are the same.
    eager = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Even though the `tf.config.experimental_run_functions_eagerly`")
            trained = train(windows, config)
            return quantize(trained.model, trained.data, config).tflite
    finally:
        tf.config.run_functions_eagerly(eager)


# ------------------------------------------------------------------ parallel runs (make test: pytest -n auto)
#
# make test spreads the suite over the machine's cores with pytest-xdist. Two things decide how well that
# goes, and neither changes a result:
#   * Where a test runs. The tests of one module run in one worker, so that a module's fixtures (a trained
#     model, a simulated fleet, rendered manifests) are made once, not once per worker; the modules in SPLIT
#     hold independent tests that share nothing costly, and go test by test (pytest_xdist_make_scheduler).
#     (xdist's own `--dist loadgroup` cannot do this here: it renames item._nodeid, which pytest 9 no longer
#     reads, so its xdist_group marks have no effect.)
#   * When it starts. The longest units start first (HEAVY), so that no long test starts late and runs on
#     alone at the end (pytest_collection_modifyitems).
# Nothing needs keeping apart: every server listens on a port the system picks (the S3 server, one per
# worker; the fault proxy; the KFP stand-in), buckets and folders are named per test, local runs lead
# their own process group (pipelines/supervise.py) and the tests that look for a run's processes find them
# by the run's own temporary folder. The one folder shared between runs, TFLM's build cache
# (~/.cache/tinymlops/tflm), is written only while TFLM is built: make test builds it first (tflm-libs),
# and pytest_sessionstart below builds it before the workers start, so that they only read it.

SPLIT = {"test_faults.py", "test_labels.py", "test_alerts.py", "test_cli_json.py"}
# Seconds on a 2-core machine, roughly (pytest --durations), for the order only: units not named here come
# after, in the usual order. A test named here runs on its own, not with its module.
HEAVY = {
    "tests/faults/test_recovery.py::test_monitors_killed_during_train_evaluate_and_promote_leave_nothing_behind_and_the_next_one_recovers": 400,  # noqa: E501
    "tests/pipelines/test_pipelines.py::test_end_to_end_make_run_path": 300,  # the slow end-to-end run (marked slow)
    "tests/components/test_qemu_target.py": 90,
    "tests/components/test_model.py": 80,
    "tests/components/detect_drift/test_step.py": 40,
    "tests/manifests/test_manifests.py": 35,
    "tests/components/detect_drift/test_detect_drift.py": 35,
    "tests/faults/test_recovery.py": 30,
    "tests/pipelines/test_cli_json.py::test_every_command_prints_one_json_document": 25,
    "tests/pipelines/test_pipelines.py": 25,
    "tests/manifests/test_scanners.py": 15,
    "tests/firmware/test_firmware.py": 15,
    "tests/pipelines/test_kfp_api.py": 12,
    "tests/components/test_alerts.py::test_twenty_monitors_at_once_start_exactly_one_run_ten_times_over": 12,
    "tests/faults/test_faults.py::test_a_run_whose_store_goes_away_says_which_operation_failed": 12,
    "tests/components/validate_schema/test_validate_schema.py": 12,
    "tests/faults/test_fault_proxy.py": 10,
    "tests/components/detect_drift/test_data_drift.py": 10,
}


LONG = 200  # the end-to-end runs: a worker running one gets no heavy unit queued behind it


def _unit(nodeid: str) -> str:
    """What runs in one worker: a module, or a single test (of a module in SPLIT, or named in HEAVY)."""
    module, _, name = nodeid.partition("::")
    alone = module.rsplit("/", 1)[-1] in SPLIT or f"{module}::{name.split('[', 1)[0]}" in HEAVY
    return nodeid if alone else module


def _weight(nodeid: str) -> float:
    module, _, name = nodeid.partition("::")
    return HEAVY.get(f"{module}::{name.split('[', 1)[0]}", HEAVY.get(module, 0))


def pytest_collection_modifyitems(config, items):
    if config.pluginmanager.hasplugin("xdist"):
        # stable: a module's tests stay together and in their order; an unlisted slow test still goes first
        items.sort(key=lambda item: -(10_000 if item.get_closest_marker("slow") and not _weight(item.nodeid)
                                      else _weight(item.nodeid)))


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: without it installed, never called
def pytest_xdist_make_scheduler(config, log):
    """pytest -n N (xdist's default distribution, "load"): units as _unit says, in the collection's order."""
    if config.getvalue("dist") != "load":
        return None  # a distribution asked for by name (--dist loadfile, worksteal, ...) is xdist's own
    from xdist.scheduler import LoadScopeScheduling

    class ByUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid)

        def _assign_work_unit(self, node) -> None:
            """As xdist's, but a worker busy with one of the end-to-end runs gets the last unit of the queue
            (a small one) next, not the next heavy one: a worker holds the test after the one it runs (as
            pytest's nextitem), and a heavy unit would wait there for minutes while other workers are free."""
            assert self.workqueue
            pending = self.assigned_work.get(node, {})
            busy = any(_weight(nodeid) >= LONG for unit in pending.values() for nodeid, done in unit.items()
                       if not done)
            scope, work_unit = self.workqueue.popitem(last=busy)
            self.assigned_work.setdefault(node, {})[scope] = work_unit
            collection = self.registered_collections[node]
            node.send_runtest_some([collection.index(nodeid) for nodeid, done in work_unit.items() if not done])

    config.option.loadscopereorder = False  # keep the order given above, not "most tests first"
    return ByUnit(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """-n auto: one worker more than cores. Many tests spend much of their time waiting (on a run's task
    subprocesses, a fault's timeout, a QEMU boot), so a worker more keeps both cores busy: on 2 cores the suite
    took 10:40 with 3 workers against 12:24 with 2. PYTEST_XDIST_AUTO_NUM_WORKERS still decides when set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own reading of it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores + 1


def pytest_sessionstart(session):
    """With pytest-xdist workers: build (or find up to date) TFLM for the Cortex-M4F before they start, so
    that tests running on the target in two workers at once never build the same cache at once."""
    config = session.config
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    import subprocess

    from components.qemu_target import FIRMWARE_DIR, KERNEL_SETS, SOURCE_TREES, missing, source_dir

    if missing():
        return  # those tests skip and say why
    env = {**os.environ, **{v: str(source_dir(v)) for v in SOURCE_TREES}}
    for kernels in KERNEL_SETS:
        subprocess.run(["make", "--no-print-directory", "-j2", "-C", str(FIRMWARE_DIR), "tflm-lib",
                        f"KERNELS={kernels}"], env=env, capture_output=True, stdin=subprocess.DEVNULL, check=False)
