"""Where everything lives in the store: every key tinymlops reads or writes is built here.

Both backends (a local folder, a MinIO bucket) hold this same tree:

    incoming/<device_id>/<upload>.csv        device uploads: the landing zone, never deleted
    datasets/<version>/<file>                one ingest's (or labels import's) windows: windows.npz, index.npz,
                                             drift_features.npz, quarantine.csv, manifest.json (written last)
    schemas/<NNNN>/schema.pbtxt, meta.json   TFDV schema versions
    validation/<dataset>/schema-<NNNN>.*     a validation report (.md, .json) and TFDV statistics (.stats.pb)
    simulator/truth/<NNNN>-<name>.csv        the demo's labelling oracle (synthetic ground truth)
    models/<version>/<file>                  a model version (components/registry.py: registered.json last)
    models/promotions/<NNNNNN>.json          the n-th move of the production pointer
    models/production.json                   a copy of the newest promotion
    drift/<dataset>/<time>/                  detect-drift's decision.json, summary.md, report.html
    labels/queues/<time>/                    a relabel queue: tasks.json, label_config.xml, manifest.json
    alerts/<data>/<NNNN>/                    one claimed training run: claim.json, run.json, heartbeat.json,
                                             outcome.json (components/alerts.py)
    performance/<time>.json                  one per monitor run
    reports/<time>/                          `tinymlops report`'s report.html and accuracy.png

Versioned keys are written once (`overwrite=False`); only `models/production.json` is rewritten. The README's
"Store layout" says what each file holds.
"""

from __future__ import annotations

from datetime import UTC, datetime

UPLOADS = "incoming/"
DATASETS = "datasets/"
SCHEMAS = "schemas/"
VALIDATION = "validation/"
TRUTH = "simulator/truth/"
MODELS = "models/"
PROMOTIONS = "models/promotions/"
PRODUCTION_POINTER = "models/production.json"
DRIFT = "drift/"
QUEUES = "labels/queues/"
ALERTS = "alerts/"
PERFORMANCE = "performance/"
REPORTS = "reports/"


def upload(device_id: str, name: str) -> str:
    return f"{UPLOADS}{device_id}/{name}"


def dataset_folder(version: str) -> str:
    return f"{DATASETS}{version}/"


def dataset_file(version: str, name: str) -> str:
    return dataset_folder(version) + name


def schema_file(version: str, name: str = "schema.pbtxt") -> str:
    return f"{SCHEMAS}{version}/{name}"


def validation_folder(dataset_version: str) -> str:
    return f"{VALIDATION}{dataset_version}/"


def validation_report(dataset_version: str, schema_version: str) -> str:
    """The stem of one report's files: add .md, .json or .stats.pb."""
    return f"{validation_folder(dataset_version)}schema-{schema_version}"


def truth_file(number: int, name: str) -> str:
    return f"{TRUTH}{number:04d}-{name}.csv"


def model_folder(version: str) -> str:
    return f"{MODELS}{version}/"


def model_file(version: str, name: str) -> str:
    return model_folder(version) + name


def promotion(number: int) -> str:
    return f"{PROMOTIONS}{number:06d}.json"


def drift_folder(dataset_version: str | None, at: datetime) -> str:
    return f"{DRIFT}{dataset_version or 'none'}/{at.astimezone(UTC):%Y%m%d-%H%M%S-%f}/"


def queue_folder(at: datetime) -> str:
    return f"{QUEUES}{at.astimezone(UTC):%Y%m%d-%H%M%S-%f}/"


def alert_folder(data_key: str) -> str:
    return f"{ALERTS}{data_key}/"


def alert_claim(data_key: str, number: int) -> str:
    return f"{alert_folder(data_key)}{number:04d}/claim.json"


def beside(key: str, name: str) -> str:
    """The file `name` in the folder of `key` (a claim's run.json, a decision's report.html)."""
    return key.rsplit("/", 1)[0] + "/" + name


def performance_record(at: datetime) -> str:
    return f"{PERFORMANCE}{_stamp(at)}.json"


def report_folder(at: datetime) -> str:
    return f"{REPORTS}{_stamp(at)}/"


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
