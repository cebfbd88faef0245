"""Ingest: new uploads from the landing zone become one immutable dataset version.

`ingest_batch` is the pure core (uploads and the index of known windows in,
accepted windows and quarantined rows out). `run_ingest` (step.py) adds the
store: which uploads are new, the known windows, and writing the version.

Every row read is accepted or quarantined (rows_read = rows_accepted +
rows_quarantined). Exact duplicates of a known window, and a window_id reused
with other content, are quarantined too, with the version or file that already
has it, so ingesting the same data twice adds nothing and loses nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from components.config import Config
from components.contract import QuarantinedRow
from components.dataset_features import window_drift_features
from components.datasets import WindowSet
from components.upload_parser import ParsedUpload, parse_upload
from components.window_index import WindowIndex, content_digests, key_digests


@dataclass(frozen=True)
class KnownWindows:
    """The windows stored versions hold, newest version first: a key's content is the newest version's."""

    indexes: list[tuple[str, WindowIndex]]  # (where: "dataset <version>", its index)

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """(content digest, where) of each key, b"" and "" where no version holds it."""
        contents, where = np.full(len(keys), b"", dtype="S16"), [""] * len(keys)
        open_ = np.ones(len(keys), dtype=bool)
        for name, index in self.indexes:
            if not open_.any():
                break
            at = np.full(len(keys), -1)
            at[open_] = index.lookup(keys[open_])
            for i in np.flatnonzero(at >= 0):
                contents[i], where[i] = index.contents[at[i]], name
            open_ &= at < 0
        return contents, where


@dataclass(frozen=True)
class ReadUpload:
    """One upload, parsed, with its accepted windows' drift features; its bytes are not kept."""

    key: str
    size: int
    sha256: str
    parsed: ParsedUpload
    features: np.ndarray  # float32 [N, K]: dataset_features.window_drift_features of parsed.x
    peaks: np.ndarray  # float32 [N, C]


def read_upload(key: str, data: bytes, config: Config) -> ReadUpload:
    parsed = parse_upload(key, data, config.data)
    return ReadUpload(key, len(data), hashlib.sha256(data).hexdigest(), parsed,
                      *window_drift_features(parsed.x, config.data))


@dataclass
class IngestBatch:
    windows: WindowSet
    drift_features: tuple[np.ndarray, np.ndarray]  # (features, peaks) of `windows`, row for row
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    uploads: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def ingest_batch(uploads: Iterable[ReadUpload], known: KnownWindows, config: Config) -> IngestBatch:
    """Drop the windows of `uploads` that `known` windows (or earlier uploads) hold already, count everything."""
    counts = dict.fromkeys(("files_read", "files_rejected", "rows_read", "rows_accepted",
                            "rows_quarantined", "windows_accepted", "windows_quarantined",
                            "windows_duplicate"), 0)
    batch_seen: dict[bytes, tuple[bytes, str]] = {}  # key -> (content, source) of windows accepted in this batch
    quarantined, records, parts, features, peaks = [], [], [], [], []
    for upload in uploads:
        parsed, source = upload.parsed, upload.key
        keys, contents = key_digests(parsed.device_ids, parsed.window_ids), content_digests(parsed.hashes)
        stored, where = known.find(keys)
        accepted = np.zeros(len(parsed), dtype=bool)
        rejected = list(parsed.quarantined)
        for i in range(len(parsed)):
            seen = (stored[i], where[i]) if where[i] else batch_seen.get(keys[i])
            if seen is None:
                batch_seen[keys[i]] = (contents[i], source)
                accepted[i] = True
                continue
            if seen[0] == contents[i]:
                reason, counts["windows_duplicate"] = "exact duplicate", counts["windows_duplicate"] + 1
            else:
                reason = "window_id already used with different content"
            counts["windows_quarantined"] += 1
            rejected.extend(_reject_window(parsed, i, f"{reason} of the window in {seen[1]}"))
        accepted_rows = int(accepted.sum()) * config.data.window_length
        assert accepted_rows + len(rejected) == parsed.rows_read, source  # every row has one fate
        counts["files_read"] += 1
        counts["files_rejected"] += bool(parsed.file_error)
        counts["rows_read"] += parsed.rows_read
        counts["rows_accepted"] += accepted_rows
        counts["rows_quarantined"] += len(rejected)
        counts["windows_accepted"] += int(accepted.sum())
        counts["windows_quarantined"] += parsed.windows_rejected
        parts.append(_window_set(parsed, accepted))
        features.append(upload.features[accepted])
        peaks.append(upload.peaks[accepted])
        quarantined.extend(rejected)
        records.append({
            "key": source, "sha256": upload.sha256, "bytes": upload.size,
            "rows_read": parsed.rows_read, "rows_accepted": accepted_rows,
            "rows_quarantined": len(rejected), "windows_accepted": int(accepted.sum()),
            "file_error": parsed.file_error,
        })
    data = config.data
    empty = WindowSet.empty(data.window_length, len(data.channels))
    no_features = window_drift_features(empty.x, data)
    return IngestBatch(WindowSet.concat([empty, *parts]),
                       (np.concatenate([no_features[0], *features]), np.concatenate([no_features[1], *peaks])),
                       quarantined, records, counts)


def _window_set(parsed: ParsedUpload, keep: np.ndarray) -> WindowSet:
    def kept(column: np.ndarray) -> np.ndarray:
        return column if keep.all() else column[keep]  # no copy when every window is new

    return WindowSet(x=kept(parsed.x), t_ms=kept(parsed.t_ms), labels=kept(parsed.labels),
                     device_ids=kept(parsed.device_ids), window_ids=kept(parsed.window_ids),
                     sources=np.full(int(keep.sum()), parsed.source, dtype=str),
                     pred_labels=kept(parsed.pred_labels), pred_scores=kept(parsed.pred_scores).astype(np.float32),
                     hashes=kept(parsed.hashes))


def _reject_window(parsed: ParsedUpload, i: int, reason: str) -> list[QuarantinedRow]:
    device_id, window_id = str(parsed.device_ids[i]), str(parsed.window_ids[i])
    name = f"window {device_id}/{window_id}"
    return [QuarantinedRow(parsed.source, line, "window", f"{parsed.source}:{line}: window: {name}: {reason}",
                           raw, device_id, window_id) for line, raw in parsed.window_rows(i)]


@dataclass
class IngestResult:
    version: str | None  # None when there was nothing new to ingest
    parent: str | None
    windows: WindowSet
    counts: dict[str, int]
    quarantined: list[QuarantinedRow]


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
