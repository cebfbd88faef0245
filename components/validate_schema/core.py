"""Validate-schema: TFDV statistics of new windows checked against a versioned schema.

The schema is inferred from the reference dataset version on first use, then
tightened by the configuration (label domain = the class names, channel ranges
= the sensor ranges, labels optional) and kept in the store as an editable
schema.pbtxt under schemas/NNNN/. Editing means pushing a new version
(`tinymlops schema push FILE`); validation always uses the newest.

Anomaly kinds listed in `validation.blocking_anomalies` stop the run after
the report is written; the rest are recorded. The statistics (statistics.py)
run in this process on Arrow record batches, or in a Beam pipeline beyond
`validation.in_memory_max_samples`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from components.config import Config
from components.datasets import WindowSet
from components.store import Store, put_json
from components.validate_schema.statistics import statistics

SCHEMAS = "schemas/"


class BlockingAnomalies(RuntimeError):
    """New data broke the schema in a way the configuration says must stop the run."""


@dataclass(frozen=True)
class Anomaly:
    feature: str
    kind: str  # TFDV AnomalyInfo.Type name, e.g. ENUM_TYPE_UNEXPECTED_STRING_VALUES
    description: str
    blocking: bool


@dataclass
class ValidationReport:
    dataset_version: str
    schema_version: str
    schema_inferred_now: bool
    windows: int
    samples: int
    anomalies: list[Anomaly] = field(default_factory=list)

    @property
    def blocking(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.blocking]

    def to_dict(self) -> dict:
        return {**asdict(self), "blocking": [asdict(a) for a in self.blocking]}


def infer_schema(stats, config: Config):
    """TFDV's inferred schema, tightened by the data contract in the configuration."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema = tfdv.infer_schema(stats, infer_feature_shape=False)
    present = {f.name for f in schema.feature}
    if "label" not in present:  # an unlabelled reference still fixes the label domain
        schema.feature.add(name="label", type=schema_pb2.BYTES)
    label = tfdv.get_feature(schema, "label")
    label.ClearField("domain")
    # infer_schema keeps the labels it saw as a global domain; the contract's classes replace it.
    kept = [d for d in schema.string_domain if d.name != "label"]
    del schema.string_domain[:]
    schema.string_domain.extend(kept)
    label.presence.min_fraction = 0.0  # uploads may be unlabelled (data drift needs labels)
    label.presence.min_count = 0
    tfdv.set_domain(schema, "label", schema_pb2.StringDomain(name="label", value=list(config.data.class_names)))
    for channel in config.data.channels:
        if channel.name in present:
            tfdv.set_domain(schema, channel.name, schema_pb2.FloatDomain(min=channel.min, max=channel.max))
    return schema


def validate(stats, schema, config: Config) -> list[Anomaly]:
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    result = tfdv.validate_statistics(stats, schema)
    blocking = set(config.validation.blocking_anomalies)
    found = []
    infos = list(result.anomaly_info.items())
    if result.HasField("dataset_anomaly_info"):
        infos.append(("(dataset)", result.dataset_anomaly_info))
    for feature, info in infos:
        for reason in info.reason:
            kind = anomalies_pb2.AnomalyInfo.Type.Name(reason.type)
            found.append(Anomaly(feature, kind, reason.description or info.description, kind in blocking))
    return sorted(found, key=lambda a: (a.feature, a.kind))


def report_markdown(report: ValidationReport) -> str:
    lines = [f"# Schema validation of dataset {report.dataset_version}", "",
             f"Schema version {report.schema_version}"
             + (" (inferred from this version on first use)" if report.schema_inferred_now else "")
             + f"; {report.windows} new windows, {report.samples} samples.", ""]
    if not report.anomalies:
        lines.append("No anomalies." if report.windows else "No new windows: nothing to validate.")
        return "\n".join(lines) + "\n"
    lines += [f"**{len(report.anomalies)} anomalies, {len(report.blocking)} blocking.**", "",
              "| feature | kind | blocking | description |", "|---|---|---|---|"]
    for a in report.anomalies:
        lines.append(f"| {a.feature} | {a.kind} | {'yes' if a.blocking else 'no'} | "
                     f"{a.description.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def schema_versions(store: Store) -> list[str]:
    return sorted({k.split("/")[1] for k in store.list(SCHEMAS) if k.endswith("/schema.pbtxt")})


def load_schema(store: Store, version: str):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    return text_format.Parse(store.get_bytes(f"{SCHEMAS}{version}/schema.pbtxt").decode(), schema_pb2.Schema())


def push_schema(store: Store, text: str, note: str, source: str = "schema") -> str:
    """Store an (edited) schema as the next version; it must parse as a TFMD Schema."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    try:
        schema = text_format.Parse(text, schema_pb2.Schema())
    except text_format.ParseError as exc:
        raise ValueError(f"{source}: not a valid schema.pbtxt: {exc}") from exc
    existing = schema_versions(store)
    version = f"{int(existing[-1]) + 1 if existing else 1:04d}"
    store.put_bytes(f"{SCHEMAS}{version}/schema.pbtxt", text_format.MessageToString(schema).encode())
    put_json(store, f"{SCHEMAS}{version}/meta.json",
             {"version": version, "note": note, "created_at": datetime.now(UTC).isoformat()})
    return version


def validate_new_windows(store: Store, config: Config, dataset_version: str,
                         windows: WindowSet) -> ValidationReport:
    """Validate one ingest's windows, inferring the schema on first use; write the report."""
    from google.protobuf import text_format

    versions = schema_versions(store)
    stats = statistics(windows, config) if len(windows) else None
    inferred_now = not versions and stats is not None
    if inferred_now:
        schema_text = text_format.MessageToString(infer_schema(stats, config))
        schema_version = push_schema(store, schema_text, f"inferred from dataset {dataset_version}")
    else:
        schema_version = versions[-1] if versions else "none"
    report = ValidationReport(dataset_version, schema_version, inferred_now, len(windows),
                              len(windows) * windows.x.shape[1])
    if stats is not None:
        report.anomalies = validate(stats, load_schema(store, schema_version), config)
        key = f"validation/{dataset_version}/schema-{schema_version}"
        if not store.exists(f"{key}.json"):  # a rerun over the same inputs finds the same report
            store.put_bytes(f"{key}.stats.pb", stats.SerializeToString())
            store.put_bytes(f"{key}.md", report_markdown(report).encode())
            store.put_bytes(f"{key}.json", json.dumps(report.to_dict(), indent=2).encode())
    return report


def raise_if_blocking(report: ValidationReport) -> None:
    if report.blocking:
        kinds = ", ".join(sorted({f"{a.feature}: {a.kind}" for a in report.blocking}))
        raise BlockingAnomalies(f"dataset {report.dataset_version} breaks schema {report.schema_version} "
                                f"with blocking anomalies ({kinds}); see validation/{report.dataset_version}/")
