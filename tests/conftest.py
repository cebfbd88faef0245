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
def small_int8_model():
    """A small real int8 model (few epochs on a small simulated fleet) and windows to run it on.

    Returns (tflite bytes, config, minimal arena bytes, raw windows [N, T, C]).
    """
    from components.contract import parse_upload
    from components.datasets import WindowSet
    from components.features import input_groups
    from components.int8_model import Int8Model
    config = Config.from_dict({"train": {"epochs": 3}, "quantize": {"qat_epochs": 1, "representative_windows": 20}})
    uploads, _ = simulate("baseline", config.data, devices=5, windows_per_device=12, seed=21)
    parsed = [w for u in uploads for w in parse_upload(u.key, u.data, config.data).windows]
    windows = WindowSet.from_windows(parsed, config.data.window_length, len(config.data.channels))
    tflite = train_small_int8(windows, config)
    arena = Int8Model(tflite, input_groups(config.data)).minimal_arena(windows.x[:1])
    return tflite, config, arena, windows.x


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
