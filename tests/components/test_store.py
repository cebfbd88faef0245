"""The store: the same behaviour on the local folder and on S3 (moto's server on 127.0.0.1)."""

import re
import time

import pytest

from components.config import StoreConfig
from components.store import LocalStore, MinioStore, ObjectExists, ObjectMissing, StoreError, open_store


def test_put_get_list_roundtrip(store):
    store.put_bytes("incoming/dev-1/a.csv", b"x,y\n1,2\n")
    store.put_bytes("datasets/v1/manifest.json", b"{}")
    assert store.get_bytes("incoming/dev-1/a.csv") == b"x,y\n1,2\n"
    assert store.list("incoming/") == ["incoming/dev-1/a.csv"]
    assert store.list() == ["datasets/v1/manifest.json", "incoming/dev-1/a.csv"]
    assert store.list("incoming/dev") == store.list("incom") == ["incoming/dev-1/a.csv"]  # a prefix, not a folder
    assert store.list("datasets/v2/") == store.list("nothing/") == []
    assert store.exists("datasets/v1/manifest.json") and not store.exists("datasets/v2/manifest.json")


def test_versioned_objects_are_immutable_and_pointers_move(store):
    store.put_bytes("models/v1/model.tflite", b"first")
    with pytest.raises(ObjectExists, match="immutable"):
        store.put_bytes("models/v1/model.tflite", b"second")
    assert store.get_bytes("models/v1/model.tflite") == b"first"
    store.put_bytes("models/production.json", b"v1", overwrite=True)
    store.put_bytes("models/production.json", b"v2", overwrite=True)
    assert store.get_bytes("models/production.json") == b"v2"


def test_missing_object_names_the_key(store):
    with pytest.raises(ObjectMissing, match="no object datasets/nope"):
        store.get_bytes("datasets/nope")


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/./b", "a/../../b", ""])
def test_unsafe_keys_are_refused(store, key):
    with pytest.raises(StoreError, match="invalid store key"):
        store.put_bytes(key, b"x")


def test_local_writes_leave_no_partial_files(local_store):
    local_store.put_bytes("a/b.bin", b"1" * 1000)
    files = [p.name for p in (local_store.root / "a").iterdir()]
    assert files == ["b.bin"]  # the temporary file was linked into place and removed


def test_open_store_selects_backend_from_url_or_env(tmp_path, monkeypatch, minio_env):
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    monkeypatch.setenv("TINYMLOPS_STORE", minio_env + "/prefix")
    store = open_store()
    assert isinstance(store, MinioStore) and store.prefix == "prefix"
    monkeypatch.delenv("MINIO_SECRET_KEY")
    with pytest.raises(StoreError, match="MINIO_SECRET_KEY"):
        open_store()
    with pytest.raises(StoreError, match="expected minio://host:port/bucket"):
        open_store("minio://host:9000")


def test_same_layout_is_readable_with_another_s3_client(minio_store, s3_endpoint):
    import boto3

    minio_store.put_bytes("datasets/v1/manifest.json", b'{"version": "v1"}')
    s3 = boto3.client("s3", endpoint_url=f"http://{s3_endpoint}", aws_access_key_id="x",
                      aws_secret_access_key="y", region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket=minio_store.bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["fleet/datasets/v1/manifest.json"]
    body = s3.get_object(Bucket=minio_store.bucket, Key="fleet/datasets/v1/manifest.json")["Body"].read()
    assert body == b'{"version": "v1"}'


def test_unreachable_server_fails_with_one_clear_message_naming_the_endpoint():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    patience = StoreConfig(retry_budget_s=1.5, first_delay_s=0.1, max_delay_s=0.4)
    store = MinioStore(f"127.0.0.1:{port}", "bucket", access_key="a", secret_key="b", patience=patience)
    started = time.monotonic()
    with pytest.raises(StoreError, match=rf"cannot reach MinIO at http://127.0.0.1:{port} .* to list incoming/: "
                                         r"gave up after \d+ attempt\(s\) in \d+ s \(retry budget "
                                         r"store.retry_budget_s = 1.5 s\)") as failure:
        store.list("incoming/")
    # Retried for the budget, not beyond it (one backoff pause at most past it is never taken).
    assert 0.7 < time.monotonic() - started < 1.5 + 1.0
    assert int(re.search(r"after (\d+) attempt", str(failure.value)).group(1)) >= 4


def test_transient_errors_are_retried_with_backoff(minio_store):
    from minio.error import S3Error

    calls = []

    def flaky():
        calls.append(time.monotonic())
        if len(calls) < 2:
            raise S3Error(None, "SlowDown", "reduce your request rate", "r", "id", "host")
        return "ok"

    assert minio_store._call("test", flaky) == "ok"
    assert len(calls) == 2


def test_links_open_without_credentials(store):
    """A reviewer opens a report from a link: a file URL locally, a presigned GET on S3."""
    import urllib.request

    store.put_bytes("models/m-1/model_card.md", b"# card")
    link = store.link("models/m-1/model_card.md")
    if link.startswith("file://"):
        assert link.endswith("/models/m-1/model_card.md")
    else:
        assert "X-Amz-Signature=" in link and "testing-secret" not in link
    with urllib.request.urlopen(link) as response:  # no credentials: the link carries the signature
        assert response.read() == b"# card"


def test_create_of_existing_key_is_refused_and_keeps_the_original(store):
    store.put_bytes("alerts/x/trigger-1.json", b"first", overwrite=False)
    with pytest.raises(ObjectExists, match="alerts/x/trigger-1.json exists and is immutable"):
        store.put_bytes("alerts/x/trigger-1.json", b"second", overwrite=False)
    assert store.get_bytes("alerts/x/trigger-1.json") == b"first"


def test_racing_creates_of_one_key_let_exactly_one_writer_win(store):
    """The lock two monitors rely on: of 8 simultaneous creates, exactly one succeeds."""
    import threading

    writers = 8
    barrier = threading.Barrier(writers)
    outcomes: dict[int, str] = {}

    def write(i: int) -> None:
        data = f'{{"monitor": {i}}}'.encode()
        barrier.wait()
        try:
            store.put_bytes("alerts/x/trigger-1.json", data, overwrite=False)
            outcomes[i] = "won"
        except ObjectExists:
            outcomes[i] = "exists"

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, outcome in outcomes.items() if outcome == "won"]
    assert len(outcomes) == writers and len(winners) == 1
    assert store.get_bytes("alerts/x/trigger-1.json") == f'{{"monitor": {winners[0]}}}'.encode()


def test_minio_create_is_refused_by_the_server_not_by_a_prior_stat(minio_store, monkeypatch):
    """With `exists` blinded, only the conditional PUT (If-None-Match: *) can refuse the second write."""
    minio_store.put_bytes("alerts/x/trigger-1.json", b"first")
    monkeypatch.setattr(MinioStore, "exists", lambda self, key: False)
    with pytest.raises(ObjectExists):
        minio_store.put_bytes("alerts/x/trigger-1.json", b"second")
    assert minio_store.get_bytes("alerts/x/trigger-1.json") == b"first"


@pytest.mark.parametrize("landed, expect", [(b"mine", "success"), (b"theirs", ObjectExists)], ids=["mine", "theirs"])
def test_minio_retry_after_lost_answer(minio_store, monkeypatch, landed, expect):
    """The first PUT times out after an object landed (ours, or a rival's); the retry gets 412.

    Our own bytes mean the first PUT made it: success. A rival's bytes mean we lost the race.
    """
    import urllib3

    real_put = minio_store._client._put_object
    calls = []

    def lose_the_answer(bucket, name, data, headers):
        calls.append(data)
        if len(calls) == 1:
            real_put(bucket, name, landed, headers)
            raise urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out")
        return real_put(bucket, name, data, headers)

    monkeypatch.setattr(minio_store._client, "_put_object", lose_the_answer)
    if expect == "success":
        minio_store.put_bytes("alerts/x/trigger-1.json", b"mine")
    else:
        with pytest.raises(expect):
            minio_store.put_bytes("alerts/x/trigger-1.json", b"mine")
    assert len(calls) == 2 and minio_store.get_bytes("alerts/x/trigger-1.json") == landed
