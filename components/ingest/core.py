"""Ingest: new uploads from the landing zone become one immutable dataset version.

`ingest_batch` is the pure core (uploads and the index of known windows in,
accepted windows and quarantined rows out). `run_ingest` adds the store: which
uploads are new, the known windows, and writing the version.

Every row read is accepted or quarantined (rows_read = rows_accepted +
rows_quarantined). Exact duplicates of a known window, and a window_id reused
with other content, are quarantined too, with the version or file that already
has it, so ingesting the same data twice adds nothing and loses nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from components.config import Config
from components.contract import QuarantinedRow, Window, parse_upload
from components.datasets import WindowSet, list_versions, new_version_id, read_manifest, read_windows, write_version
from components.store import Store

INCOMING = "incoming/"


@dataclass(frozen=True)
class KnownWindow:
    content_hash: str
    where: str  # dataset version or upload that holds it


@dataclass
class IngestBatch:
    windows: list[Window] = field(default_factory=list)
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    uploads: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def ingest_batch(uploads: list[tuple[str, bytes]], known: dict[tuple[str, str], KnownWindow],
                 config: Config) -> IngestBatch:
    """Parse uploads, drop duplicates of `known` windows (and of each other), count everything."""
    batch = IngestBatch()
    known = dict(known)
    counts = dict.fromkeys(("files_read", "files_rejected", "rows_read", "rows_accepted",
                            "rows_quarantined", "windows_accepted", "windows_quarantined",
                            "windows_duplicate"), 0)
    for source, data in uploads:
        parsed = parse_upload(source, data, config.data)
        accepted = []
        for window in parsed.windows:
            key = (window.device_id, window.window_id)
            seen = known.get(key)
            if seen is None:
                known[key] = KnownWindow(window.content_hash, source)
                accepted.append(window)
                continue
            if seen.content_hash == window.content_hash:
                reason, counts["windows_duplicate"] = "exact duplicate", counts["windows_duplicate"] + 1
            else:
                reason = "window_id already used with different content"
            counts["windows_quarantined"] += 1
            parsed.quarantined.extend(_reject_window(parsed.source, window,
                                                     f"{reason} of the window in {seen.where}"))
        rejected_rows = len(parsed.quarantined)
        accepted_rows = sum(len(w.t_ms) for w in accepted)
        assert accepted_rows + rejected_rows == parsed.rows_read, source  # every row has one fate
        counts["files_read"] += 1
        counts["files_rejected"] += bool(parsed.file_error)
        counts["rows_read"] += parsed.rows_read
        counts["rows_accepted"] += accepted_rows
        counts["rows_quarantined"] += rejected_rows
        counts["windows_accepted"] += len(accepted)
        counts["windows_quarantined"] += parsed.windows_rejected
        batch.windows.extend(accepted)
        batch.quarantined.extend(parsed.quarantined)
        batch.uploads.append({
            "key": source, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
            "rows_read": parsed.rows_read, "rows_accepted": accepted_rows,
            "rows_quarantined": rejected_rows, "windows_accepted": len(accepted),
            "file_error": parsed.file_error,
        })
    batch.counts = counts
    return batch


def _reject_window(source: str, window: Window, reason: str) -> list[QuarantinedRow]:
    name = f"window {window.device_id}/{window.window_id}"
    return [QuarantinedRow(source, line, "window", f"{source}:{line}: window: {name}: {reason}",
                           raw, window.device_id, window.window_id) for line, raw in window.rows]


@dataclass
class IngestResult:
    version: str | None  # None when there was nothing new to ingest
    parent: str | None
    windows: WindowSet
    counts: dict[str, int]
    quarantined: list[QuarantinedRow]


def run_ingest(store: Store, config: Config, now: datetime | None = None) -> IngestResult:
    """Ingest every upload under incoming/ that no earlier version recorded."""
    versions = list_versions(store)
    manifests = [read_manifest(store, v) for v in versions]
    processed = {u["key"] for m in manifests for u in m["uploads"]}
    new_keys = [k for k in store.list(INCOMING)
                if k not in processed and not k.rsplit("/", 1)[-1].startswith(".")]
    data_config = config.data
    empty = WindowSet.empty(data_config.window_length, len(data_config.channels))
    parent = versions[-1] if versions else None
    if not new_keys:
        return IngestResult(None, parent, empty, {"files_read": 0, "rows_read": 0,
                            "rows_accepted": 0, "rows_quarantined": 0, "windows_accepted": 0}, [])
    known = {}
    for version in versions:
        old = read_windows(store, version)
        for device_id, window_id, content_hash in zip(old.device_ids, old.window_ids, old.hashes, strict=True):
            known[(str(device_id), str(window_id))] = KnownWindow(str(content_hash), f"dataset {version}")
    batch = ingest_batch([(k, store.get_bytes(k)) for k in new_keys], known, config)
    windows = WindowSet.from_windows(batch.windows, data_config.window_length, len(data_config.channels))
    version = new_version_id(now)
    write_version(store, version, windows, batch.quarantined, {
        "version": version, "parent": parent,
        "created_at": (now or datetime.now(UTC)).isoformat(),
        "config_fingerprint": config.fingerprint(), "data_config": config.to_dict()["data"],
        "counts": batch.counts, "uploads": batch.uploads,
    })
    return IngestResult(version, parent, windows, batch.counts, batch.quarantined)


def ingest_markdown(result: IngestResult, examples: int = 10) -> str:
    """A person's view of one ingest: counts, then the first quarantine reasons."""
    if result.version is None:
        return f"# Ingest\n\nNo new uploads; latest dataset version is {result.parent or 'none'}.\n"
    c = result.counts
    lines = [f"# Ingest into dataset {result.version}", "",
             f"Parent version: {result.parent or 'none'}", "",
             "| | accepted | quarantined | read |", "|---|---|---|---|",
             f"| rows | {c['rows_accepted']} | {c['rows_quarantined']} | {c['rows_read']} |",
             f"| windows | {c['windows_accepted']} | {c['windows_quarantined']} "
             f"(of which {c['windows_duplicate']} exact duplicates) | |",
             f"| files | | {c['files_rejected']} rejected whole | {c['files_read']} |", ""]
    if result.quarantined:
        lines += [f"Quarantined rows with reasons: datasets/{result.version}/quarantine.csv. First ones:", ""]
        lines += [f"- {row.reason}" for row in result.quarantined[:examples]]
    return "\n".join(lines) + "\n"
