"""Ingest over a store: versions, counts, duplicates, the processed-uploads record."""

from components.datasets import list_versions, read_lineage, read_manifest, read_quarantine, read_windows
from components.ingest.step import run_ingest
from components.simulator import simulate, write_simulation


def put_uploads(store, uploads):
    for upload in uploads:
        store.put_bytes(upload.key, upload.data)


def test_ingest_writes_an_immutable_version_with_counts(store, config, small_baseline):
    uploads, truth = small_baseline
    put_uploads(store, uploads)
    result = run_ingest(store, config)
    assert result.counts["windows_accepted"] == len(truth) == 40
    assert result.counts["rows_read"] == result.counts["rows_accepted"] == 2000
    assert list_versions(store) == [result.version]
    manifest = read_manifest(store, result.version)
    assert {u["key"] for u in manifest["uploads"]} == {u.key for u in uploads}
    assert manifest["config_fingerprint"] == config.fingerprint()
    stored = read_windows(store, result.version)
    assert stored.x.shape == (40, 50, 6) and set(stored.labels) <= set(config.data.class_names)


def test_ingesting_again_adds_nothing_and_deletes_nothing(store, config, small_baseline):
    uploads, _ = small_baseline
    put_uploads(store, uploads)
    first = run_ingest(store, config)
    again = run_ingest(store, config)
    assert again.version is None and again.counts["rows_read"] == 0
    assert list_versions(store) == [first.version]
    assert all(store.exists(u.key) for u in uploads)  # processed uploads are kept


def test_a_copied_upload_is_all_duplicates(store, config, small_baseline):
    uploads, _ = small_baseline
    put_uploads(store, uploads)
    first = run_ingest(store, config)
    store.put_bytes("incoming/dev-a000/resent.csv", uploads[0].data)
    second = run_ingest(store, config)
    c = second.counts
    assert c["windows_accepted"] == 0 and c["windows_duplicate"] == 10 and c["rows_quarantined"] == 500
    rows = read_quarantine(store, second.version)
    assert len(rows) == 500
    assert all("exact duplicate" in r["reason"] and first.version in r["reason"] for r in rows)
    assert len(read_lineage(store, second.version)) == 40


def test_a_reused_window_id_with_other_content_is_quarantined(local_store, config, small_baseline):
    uploads, _ = small_baseline
    put_uploads(local_store, uploads[:1])
    run_ingest(local_store, config)
    header, *rows = uploads[0].data.decode().splitlines()
    shifted = [r.split(",") for r in rows]
    for r in shifted:  # same window ids, every sample 1 ms later
        r[2] = str(int(r[2]) + 1)
    changed = "\n".join([header] + [",".join(r) for r in shifted]).encode()
    local_store.put_bytes("incoming/dev-a000/relabelled.csv", changed)
    result = run_ingest(local_store, config)
    assert result.counts["windows_duplicate"] == 0 and result.counts["windows_accepted"] == 0
    assert "different content" in result.quarantined[0].reason


def test_mixed_corpus_counts_add_up_and_keeps_every_valid_window(local_store, config, small_baseline):
    uploads, _ = small_baseline
    good = uploads[0].data
    corpus = {
        "incoming/dev-a000/good.csv": good,
        "incoming/dev-x/empty.csv": b"",
        "incoming/dev-x/latin1.csv": good.replace(b"dev-a000", b"dev-\xe9", 1),
        "incoming/dev-x/no-gz.csv": good.replace(b",gz", b"", 1),
        "incoming/dev-a001/crlf-bom.csv": b"\xef\xbb\xbf" + uploads[1].data.replace(b"\n", b"\r\n"),
        "incoming/dev-a002/extra-column.csv": uploads[2].data.replace(b",", b",nan,", 1),
    }
    for key, data in corpus.items():
        local_store.put_bytes(key, data)
    result = run_ingest(local_store, config)
    c = result.counts
    assert c["rows_read"] == c["rows_accepted"] + c["rows_quarantined"]
    assert c["files_read"] == 6 and c["files_rejected"] == 4  # empty, latin1, no-gz, extra-column
    assert c["windows_accepted"] == 20  # good.csv and crlf-bom.csv, all of them
    assert len(read_quarantine(local_store, result.version)) == c["rows_quarantined"]
    local_store.put_bytes("incoming/dev-a000/good-again.csv", good)
    assert run_ingest(local_store, config).counts["windows_accepted"] == 0


def test_lineage_joins_versions_in_order(local_store, config):
    base, _ = simulate("baseline", config.data, devices=2, windows_per_device=4, seed=3)
    write_simulation(local_store, base, [], "b")
    v1 = run_ingest(local_store, config).version
    drift, _ = simulate("data-drift", config.data, devices=2, windows_per_device=4, seed=3)
    write_simulation(local_store, drift, [], "d")
    v2 = run_ingest(local_store, config).version
    assert read_manifest(local_store, v2)["parent"] == v1
    both = read_lineage(local_store, v2)
    assert len(both) == 16 and list(both.device_ids[:8]) == list(read_windows(local_store, v1).device_ids)


class RecordingStore:
    """A store that records every key read (ingest's reads are what makes it cost what history costs)."""

    def __init__(self, store):
        self.store, self.read = store, []

    def get_bytes(self, key):
        self.read.append(key)
        return self.store.get_bytes(key)

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_ingest_reads_the_new_uploads_and_the_indexes_never_the_stored_windows(local_store, config):
    first, _ = simulate("baseline", config.data, devices=2, windows_per_device=25, seed=1)
    put_uploads(local_store, first)
    old = run_ingest(local_store, config).version
    assert local_store.exists(f"datasets/{old}/index.npz") and local_store.exists(f"datasets/{old}/drift_features.npz")
    later, _ = simulate("baseline", config.data, devices=2, windows_per_device=25, seed=2)
    later = [type(u)(u.key.replace(".csv", "-later.csv"), u.data.replace(b"baseline-s2", b"later-s2"))
             for u in later]
    put_uploads(local_store, later)
    recording = RecordingStore(local_store)
    result = run_ingest(recording, config)
    assert result.counts["windows_accepted"] == 50
    assert sorted(k for k in recording.read if k.startswith("incoming/")) == sorted(u.key for u in later)
    assert not [k for k in recording.read if k.endswith("windows.npz")]
    assert f"datasets/{old}/index.npz" in recording.read


def test_a_version_without_an_index_still_knows_its_windows(local_store, config, small_baseline):
    """Versions written before the index existed: their windows are indexed on read, with the same answer."""
    uploads, _ = small_baseline
    put_uploads(local_store, uploads)
    first = run_ingest(local_store, config)
    (local_store.root / f"datasets/{first.version}/index.npz").unlink()  # as an older tinymlops wrote it
    local_store.put_bytes("incoming/dev-a000/resent.csv", uploads[0].data)
    second = run_ingest(local_store, config)
    assert second.counts["windows_duplicate"] == 10 and second.counts["windows_accepted"] == 0
    assert all(first.version in r["reason"] for r in read_quarantine(local_store, second.version))


def test_the_drift_features_computed_upload_by_upload_are_the_versions_windows_features(local_store, config,
                                                                                       small_baseline):
    """Ingest computes each upload's features while parsing it; the stored file must still be row for row, bit
    for bit, what the version's windows give, after duplicates and bad rows were dropped between them."""
    import io

    import numpy as np

    from components.dataset_features import features_key, version_features

    uploads, _ = small_baseline
    put_uploads(local_store, uploads[:1])
    run_ingest(local_store, config)
    put_uploads(local_store, uploads[1:])
    local_store.put_bytes("incoming/dev-a000/resent.csv", uploads[0].data)  # all duplicates
    header, *rows = uploads[1].data.decode().splitlines()
    rows[3] = rows[3].replace(rows[3].split(",")[4], "oops", 1)  # one bad row: its window is dropped
    local_store.put_bytes("incoming/dev-a001/one-bad-row.csv", "\n".join([header, *rows]).encode())
    result = run_ingest(local_store, config)
    assert result.counts["windows_duplicate"] > 0 and result.counts["rows_quarantined"] > 0
    with np.load(io.BytesIO(local_store.get_bytes(features_key(result.version)))) as stored:
        expected = version_features(read_windows(local_store, result.version), config.data)
        assert len(stored["features"]) == result.counts["windows_accepted"]
        for name in ("features", "peaks", "device_ids", "window_ids", "labels", "t0_ms"):
            assert np.array_equal(stored[name], getattr(expected, name)), name
