"""The ingest step: the uploads under incoming/ that no dataset version has read yet, read from the store and
written back as the next version (its windows, index, drift features, quarantine and, last, its manifest).
The counting and the duplicate checks are core.py's."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

from components import layout
from components.config import Config
from components.cores import available_cores, in_order
from components.dataset_features import write_drift_features
from components.datasets import WindowSet, list_versions, new_version_id, read_index, read_manifest, write_version
from components.ingest.core import IngestResult, KnownWindows, ReadUpload, ingest_batch, read_upload
from components.store import Store


def run_ingest(store: Store, config: Config, now: datetime | None = None) -> IngestResult:
    """Ingest every upload under incoming/ that no earlier version recorded.

    Reads the versions' manifests (which uploads they read) and indexes (which windows they hold), never
    their windows, and fetches the new uploads `store.max_concurrent_requests` at a time while they are
    parsed on as many threads as there are cores. Writes the version's windows, index, drift features,
    quarantine and, last, its manifest."""
    versions = list_versions(store)
    fetch_pool = ThreadPoolExecutor(max_workers=config.store.max_concurrent_requests)
    # Parsing holds the GIL for part of its time: more parsing threads than cores slow it down.
    parse_pool = ThreadPoolExecutor(max_workers=available_cores())
    try:
        manifests = list(fetch_pool.map(lambda v: read_manifest(store, v), versions))
        processed = {u["key"] for m in manifests for u in m["uploads"]}
        new_keys = [k for k in store.list(layout.UPLOADS)
                    if k not in processed and not k.rsplit("/", 1)[-1].startswith(".")]
        data_config = config.data
        empty = WindowSet.empty(data_config.window_length, len(data_config.channels))
        parent = versions[-1] if versions else None
        if not new_keys:
            return IngestResult(None, parent, empty, {"files_read": 0, "rows_read": 0,
                                "rows_accepted": 0, "rows_quarantined": 0, "windows_accepted": 0}, [])
        newest_first = versions[::-1]
        indexes = fetch_pool.map(lambda v: read_index(store, v), newest_first)
        known = KnownWindows([(f"dataset {v}", index) for v, index in zip(newest_first, indexes, strict=True)])
        batch = ingest_batch(_read_uploads(store, new_keys, config, fetch_pool, parse_pool), known, config)
    finally:  # on an error or Ctrl-C, the uploads not started yet are dropped rather than read to the end
        fetch_pool.shutdown(wait=True, cancel_futures=True)
        parse_pool.shutdown(wait=True, cancel_futures=True)
    version = new_version_id(now)
    # The monitor reads these instead of the raw windows (components/dataset_features.py); the manifest, written
    # last by write_version, makes the version visible with its features already there.
    write_drift_features(store, version, batch.windows, config.data, batch.drift_features)
    write_version(store, version, batch.windows, batch.quarantined, {
        "version": version, "parent": parent,
        "created_at": (now or datetime.now(UTC)).isoformat(),
        "config_fingerprint": config.fingerprint(), "data_config": config.to_dict()["data"],
        "counts": batch.counts, "uploads": batch.uploads,
    })
    return IngestResult(version, parent, batch.windows, batch.counts, batch.quarantined)


def _read_uploads(store: Store, keys: list[str], config: Config, fetch_pool: ThreadPoolExecutor,
                  parse_pool: ThreadPoolExecutor) -> Iterator[ReadUpload]:
    """The uploads at `keys`, read and parsed, in key order; at most twice `store.max_concurrent_requests` of
    them in flight at once, so a backfill's bytes are not all held in memory before they are parsed."""
    def start(key: str) -> Future[ReadUpload]:
        fetched = fetch_pool.submit(store.get_bytes, key)
        return parse_pool.submit(lambda: read_upload(key, fetched.result(), config))

    return in_order((start(key) for key in keys), 2 * config.store.max_concurrent_requests)
