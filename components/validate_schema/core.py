"""Validate-schema: TFDV statistics of new windows checked against a versioned schema.

The schema is inferred from the reference dataset version on first use, then
tightened by the configuration (label domain = the class names, channel ranges
= the sensor ranges, labels optional) and kept in the store (step.py) as an
editable schema.pbtxt under schemas/NNNN/. Editing means pushing a new version
(`tinymlops schema push FILE`); validation always uses the newest.

Anomaly kinds listed in `validation.blocking_anomalies` stop the run after
the report is written; the rest are recorded. The statistics (statistics.py)
run in this process on Arrow record batches, or in a Beam pipeline beyond
`validation.in_memory_max_samples`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from components import layout
from components.config import Config


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


def raise_if_blocking(report: ValidationReport) -> None:
    if report.blocking:
        kinds = ", ".join(sorted({f"{a.feature}: {a.kind}" for a in report.blocking}))
        folder = layout.validation_folder(report.dataset_version)
        raise BlockingAnomalies(f"dataset {report.dataset_version} breaks schema {report.schema_version} "
                                f"with blocking anomalies ({kinds}); see {folder}")
