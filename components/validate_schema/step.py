"""The validate-schema step: the schema versions in the store (schemas/NNNN/schema.pbtxt and meta.json), the
first one inferred on first use, and each validation's statistics and report under validation/<dataset version>/.
Inferring, checking and the report's words are core.py's."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from components import layout
from components.config import Config
from components.datasets import WindowSet
from components.store import Store, put_json
from components.validate_schema.core import ValidationReport, infer_schema, report_markdown, validate
from components.validate_schema.statistics import statistics


def schema_versions(store: Store) -> list[str]:
    return sorted({k.split("/")[1] for k in store.list(layout.SCHEMAS) if k.endswith("/schema.pbtxt")})


def load_schema(store: Store, version: str):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    return text_format.Parse(store.get_bytes(layout.schema_file(version)).decode(), schema_pb2.Schema())


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
    store.put_bytes(layout.schema_file(version), text_format.MessageToString(schema).encode())
    put_json(store, layout.schema_file(version, "meta.json"),
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
        key = layout.validation_report(dataset_version, schema_version)
        if not store.exists(f"{key}.json"):  # a rerun over the same inputs finds the same report
            store.put_bytes(f"{key}.stats.pb", stats.SerializeToString())
            store.put_bytes(f"{key}.md", report_markdown(report).encode())
            store.put_bytes(f"{key}.json", json.dumps(report.to_dict(), indent=2).encode())
    return report
