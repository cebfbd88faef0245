"""One typed configuration for every stage.

The defaults describe the built-in gesture model (6-axis IMU, 5 classes). A
user's own dataset (other channels, window length, sample rate or classes) is
described by a YAML or JSON file passed as `--config PATH`; no code changes.
Loading has no side effects: nothing is read until `load_config` is called.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from components.runtime import FIRMWARE_BUILDER_IMAGE, RUNTIME_IMAGE


class ConfigError(ValueError):
    """A configuration file or value that does not fit the schema."""


@dataclass(frozen=True)
class Channel:
    """One sensor channel: its CSV column name, unit and the sensor's range."""

    name: str
    unit: str
    min: float
    max: float


def _imu_channels() -> tuple[Channel, ...]:
    # LSM9DS1 (Nano 33 BLE) / MPU-6050 style full-scale ranges: +-4 g, +-2000 deg/s.
    accel = tuple(Channel(n, "g", -4.0, 4.0) for n in ("ax", "ay", "az"))
    gyro = tuple(Channel(n, "deg/s", -2000.0, 2000.0) for n in ("gx", "gy", "gz"))
    return accel + gyro


# An upload's columns besides the channels (components/contract.py checks them): no channel may take these names.
KEY_COLUMNS = ("device_id", "window_id", "t_ms")
OPTIONAL_COLUMNS = ("label", "pred_label", "pred_score")


@dataclass(frozen=True)
class DataConfig:
    """The device-upload contract: which columns, how long a window, which labels."""

    channels: tuple[Channel, ...] = field(default_factory=_imu_channels)
    window_length: int = 50
    sample_rate_hz: float = 50.0
    class_names: tuple[str, ...] = ("idle", "wave", "punch", "circle", "lift")
    # A window's median sample interval may differ from 1/sample_rate by this
    # fraction; devices jitter, but a window at half the rate is another contract.
    sample_period_tolerance: float = 0.5

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.channels)


@dataclass(frozen=True)
class ValidationConfig:
    """Which TFDV anomaly kinds stop a run (all others are only recorded), and where the statistics run."""

    blocking_anomalies: tuple[str, ...] = (
        "SCHEMA_MISSING_COLUMN",
        "SCHEMA_NEW_COLUMN",
        "UNEXPECTED_DATA_TYPE",
        "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
        "FLOAT_TYPE_BIG_FLOAT",
        "FLOAT_TYPE_SMALL_FLOAT",
    )
    # Samples (windows x window_length) up to which TFDV's statistics run in the task's own process, batch
    # by batch (components/validate_schema/statistics.py); beyond, a Beam pipeline with beam_options does.
    # 20M samples of 6 channels are ~0.7 GB of windows: about what a 2Gi task holds with room to work.
    in_memory_max_samples: int = 20_000_000
    # Beam's pipeline options as "name=value" (its command-line flags without "--"; "name" for a switch).
    # Locally: the DirectRunner in 2 worker processes (2 cores; 0 would take every core of the node).
    # On a cluster: a Flink, Spark or Dataflow runner, see the README.
    beam_options: tuple[str, ...] = ("direct_num_workers=2", "direct_running_mode=multi_processing")


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 7
    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 0.003
    early_stopping_patience: int = 6
    validation_fraction: float = 0.2  # of devices, not of windows
    holdout_fraction: float = 0.2  # of devices, kept out of training entirely


@dataclass(frozen=True)
class QuantizeConfig:
    qat_epochs: int = 4
    representative_windows: int = 200


@dataclass(frozen=True)
class Board:
    name: str
    flash_bytes: int
    ram_bytes: int
    core: str = ""  # "cortex-m4f": evaluate's QEMU measurement of instructions applies to it
    clock_hz: int = 0


def _boards() -> tuple[Board, ...]:
    # From the cores' boards.txt (see shared/design.md).
    return (
        Board("nano33ble", flash_bytes=983_040, ram_bytes=262_144, core="cortex-m4f", clock_hz=64_000_000),
        Board("esp32", flash_bytes=1_310_720, ram_bytes=327_680, core="xtensa-lx6", clock_hz=240_000_000),
    )


@dataclass(frozen=True)
class EvaluateConfig:
    accuracy_floor: float = 0.90
    # A challenger may be at most this much less accurate than production.
    max_regression: float = 0.01
    # Flash and RAM that TFLM and the application take besides the model/arena.
    flash_allowance_bytes: int = 300_000
    ram_allowance_bytes: int = 96_000
    boards: tuple[Board, ...] = field(default_factory=_boards)
    # The Cortex-M4 check (components/qemu_target.py): holdout windows run on real TFLM under QEMU,
    # with TFLM's reference kernels and CMSIS-NN; 0 turns it off. Without the toolchain or the
    # TFLM sources it is skipped and says why, unless required.
    target_windows: int = 64
    require_target_check: bool = False
    # Inference may take at most this fraction of a window's duration on each Cortex-M4F board,
    # estimated as instructions (QEMU -icount) x cycles per instruction / clock.
    latency_budget_fraction: float = 0.10
    cycles_per_instruction: float = 1.0


@dataclass(frozen=True)
class FirmwareConfig:
    # Added to the arena that evaluate measured on the host: a 32-bit target
    # lays tensors out differently, and the application may add scratch buffers.
    arena_margin_bytes: int = 2048
    # Promotion waits for firmware that built for every board. On for the
    # cluster (its builder image has the toolchains), off for local runs.
    require_for_promotion: bool = False


@dataclass(frozen=True)
class DriftConfig:
    """Thresholds of drift detection (components/detect_drift)."""

    # Family-wise error over all features, per comparison: 0.005 leaves room under the product's 1%
    # false-alarm target (the device-level test is conservative, but 100 trials are a coarse measure).
    alpha_data: float = 0.005
    permutations: int = 2000  # device permutations for the data-drift test
    seed: int = 0
    alpha_concept: float = 0.01  # one-sided test of an accuracy drop beyond the margin
    accuracy_margin: float = 0.05  # a drop of at most this much below holdout accuracy is not drift
    alpha_breakdown: float = 0.05  # family-wise error within the per-device and per-class breakdowns
    min_devices: int = 2  # fewer new-only or reference devices: no between-device test (the reason is given)
    # A device's windows per side are averaged in at most this many blocks of consecutive windows before its
    # old and new blocks are permuted: neighbouring windows that move together count once.
    max_blocks: int = 10
    # The data-drift test reads at most this many windows per device and side, evenly over time...
    max_windows_per_device: int = 400
    # ...and at most about this many per side in all: a side with more devices than this allows at
    # max_windows_per_device gets fewer per device (never fewer than max_blocks). Every window of the sample is
    # scored by the model (its class stratum); past a few hundred devices, the devices' own differences, not
    # the windows per device, limit what the test can see.
    max_windows_data_drift: int = 200_000
    tfdv_js_threshold: float = 0.1  # Jensen-Shannon divergence of numeric features (TFDV evidence)
    tfdv_linf_threshold: float = 0.1  # L-infinity distance of categorical features (TFDV evidence)
    # Prediction drift (evidence): windows scored by the production model, sampled beyond this many.
    prediction_sample: int = 20_000
    # TFDV and evidently reports (evidence for people) on at most this many windows per side.
    evidence_sample: int = 5_000


@dataclass(frozen=True)
class LabellingConfig:
    """The relabel queue: how many windows a person (or the demo's oracle) is asked to label."""

    data_drift_budget: int = 300  # new unlabelled windows, by uncertainty and diversity
    concept_drift_budget: int = 800  # old labelled windows whose stored label is likely stale
    seed: int = 0
    # The simulator's ground truth answers the queue at once. SYNTHETIC: for the embedded
    # default's demo and the tests only; off on the cluster, where people label.
    oracle: bool = True


@dataclass(frozen=True)
class MonitorConfig:
    """When a drift alert starts a continuous-training run."""

    # A second alert for the same data within this time starts no second run. Longer than the cluster's
    # 6-hour monitor period, so an unresolved alert retries every other period, not at random.
    cooldown_hours: float = 12.0
    trigger_on: tuple[str, ...] = ("data", "concept")
    # A local run's claimant refreshes a heartbeat this often; silent for stale_after_s (or its process gone,
    # seen from the same host), the run is dead and its alert may be claimed again.
    heartbeat_s: float = 30.0
    stale_after_s: float = 300.0
    # A dead or failed run is retried at once, then after retry_backoff_s, doubling; after max_attempts
    # failures in a row, not before the cooldown has passed since the last one.
    max_attempts: int = 3
    retry_backoff_s: float = 600.0


@dataclass(frozen=True)
class StoreConfig:
    """How the MinIO store rides out an outage: every store call, in every task and in the CLI."""

    # A failing call is retried with jittered exponential backoff until this budget is spent: long enough
    # for a MinIO pod to restart or a node to drain, short enough that a dead store fails the run clearly.
    retry_budget_s: float = 60.0
    first_delay_s: float = 0.5
    max_delay_s: float = 8.0
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 20.0  # no byte for this long and the attempt has failed
    # One attempt, from connect to its last byte: a server that trickles its answer is cut off here.
    request_deadline_s: float = 120.0
    # Reads a step makes at once (ingest's uploads, manifests, indexes): S3's latency hides behind the others'.
    max_concurrent_requests: int = 8


@dataclass(frozen=True)
class ClusterConfig:
    """Where tinymlops runs on a cluster, written down once: `tinymlops compile` writes it into the pipeline
    YAML (images, store), `make images` tags the images with it, and `make manifests-check`
    (manifests/check_from_config.py) fails while manifests/ says otherwise."""

    runtime_image: str = RUNTIME_IMAGE
    firmware_builder_image: str = FIRMWARE_BUILDER_IMAGE
    # KFP's MinIO and the bucket (minio://host:port/bucket[/prefix]); the MinIO setup Job creates the bucket.
    store_url: str = "minio://minio-service.kubeflow:9000/tinymlops"
    # The drift monitor's and the KFP setup Job's namespace; KFP, its MinIO and the pipeline pods are in kubeflow.
    namespace: str = "tinymlops"
    # The Kubernetes secret with the store's keys (accesskey, secretkey): in kubeflow for the pipelines' task
    # pods, and in `namespace` for the drift monitor.
    store_secret: str = "tinymlops-minio"


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    quantize: QuantizeConfig = field(default_factory=QuantizeConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    firmware: FirmwareConfig = field(default_factory=FirmwareConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    labelling: LabellingConfig = field(default_factory=LabellingConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def fingerprint(self) -> str:
        """Short hash of the configuration, recorded with every version it made."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> Config:
        config = _build(cls, data, source)
        _check(config, source)
        return config

    @classmethod
    def from_json(cls, text: str) -> Config:
        return cls.from_dict(json.loads(text))


def load_config(path: str | Path | None) -> Config:
    """The default configuration, or the one in a YAML/JSON file (merged over defaults)."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return Config.from_dict(data, source=str(path))


def _build(cls, data, where: str):
    """Build a (nested, frozen) dataclass from plain data, naming any bad field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; expected some of {sorted(names)}")
    values = {name: _convert(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _convert(hint, value, where: str):
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if hint is bool and isinstance(value, bool):
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str) and isinstance(value, hint) and not isinstance(value, bool):
        return value
    raise ConfigError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def _check(config: Config, where: str) -> None:
    data = config.data
    names = data.channel_names
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"{where}: data.channels must be non-empty with unique names: {names}")
    clash = set(KEY_COLUMNS + OPTIONAL_COLUMNS).intersection(names)
    if clash:
        raise ConfigError(f"{where}: data.channels uses reserved column name(s) {sorted(clash)}")
    for ch in data.channels:
        if not ch.min < ch.max:
            raise ConfigError(f"{where}: channel {ch.name!r}: min {ch.min} must be below max {ch.max}")
    if data.window_length < 2 or data.sample_rate_hz <= 0:
        raise ConfigError(f"{where}: data.window_length must be >= 2 and data.sample_rate_hz > 0")
    if len(data.class_names) < 2 or len(set(data.class_names)) != len(data.class_names):
        raise ConfigError(f"{where}: data.class_names needs at least 2 unique names")
    drift = config.drift
    for name in ("alpha_data", "alpha_concept", "alpha_breakdown"):
        if not 0 < getattr(drift, name) < 1:
            raise ConfigError(f"{where}: drift.{name} must be between 0 and 1, got {getattr(drift, name)}")
    if drift.max_windows_per_device < 1 or drift.max_windows_data_drift < 1:
        raise ConfigError(f"{where}: drift.max_windows_per_device and drift.max_windows_data_drift must be at least "
                          f"1, got {drift.max_windows_per_device} and {drift.max_windows_data_drift}")
    if drift.permutations < 100:
        raise ConfigError(f"{where}: drift.permutations must be at least 100, got {drift.permutations}")
    monitor = config.monitor
    if monitor.max_attempts < 1 or not 0 < monitor.heartbeat_s < monitor.stale_after_s:
        raise ConfigError(f"{where}: monitor.max_attempts must be >= 1 and 0 < monitor.heartbeat_s < "
                          f"monitor.stale_after_s, got {monitor}")
    unknown = set(config.monitor.trigger_on) - {"data", "concept"}
    if unknown:
        raise ConfigError(f"{where}: monitor.trigger_on may hold 'data' and 'concept', got {sorted(unknown)}")
    if min(dataclasses.astuple(config.store)) <= 0:
        raise ConfigError(f"{where}: every store.* time and store.max_concurrent_requests must be > 0, "
                          f"got {config.store}")
    if config.labelling.data_drift_budget < 0 or config.labelling.concept_drift_budget < 0:
        raise ConfigError(f"{where}: labelling budgets must be >= 0")
    # validation: only the shape of beam_options here; Beam's own parser judges the names and values when
    # validate-schema starts (its option registry costs seconds to import, too much for every load).
    validation = config.validation
    if validation.in_memory_max_samples < 0:
        raise ConfigError(f"{where}: validation.in_memory_max_samples must be >= 0 (0: always Beam), "
                          f"got {validation.in_memory_max_samples}")
    bad = [item for item in validation.beam_options if not item.split("=", 1)[0].isidentifier()]
    if bad:
        raise ConfigError(f"{where}: validation.beam_options items are 'name=value' (Beam's flag without "
                          f"'--') or 'name' for a switch, got {bad}")
    names = [item.split("=", 1)[0] for item in validation.beam_options]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{where}: validation.beam_options names {repeated} more than once")
