"""The object store: one interface, a local-folder backend and a MinIO backend.

Both backends hold the same layout of keys (see README, "Store layout").
Objects appear whole or not at all: the local backend writes a temporary file
and links it into place; a single S3 PUT is atomic. Versioned objects are
written with `overwrite=False` and are refused if they exist; only pointers
(such as the production model) are written with `overwrite=True`.

`put_bytes(key, data, overwrite=False)` is an atomic conditional create on both
backends (os.link locally, a PUT with `If-None-Match: *` on S3): when writers
race on one key exactly one succeeds and the rest get ObjectExists, so it can
serve as a lock (two monitors racing on one alert start exactly one run).
Writers racing for such a lock should make their bytes unique (e.g. name the
writer): see MinioStore.put_bytes on retries.
"""

from __future__ import annotations

import json
import os
import random
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import urlparse

from components.config import StoreConfig

STORE_ENV = "TINYMLOPS_STORE"
DEFAULT_STORE = ".tinymlops/store"

T = TypeVar("T")


class StoreError(RuntimeError):
    """A store operation failed for a reason the caller should show a person."""


class ObjectExists(StoreError):
    """An immutable object would have been overwritten."""


class ObjectMissing(StoreError, KeyError):
    """No object under that key."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Store(Protocol):
    url: str

    def put_bytes(self, key: str, data: bytes, *, overwrite: bool = False) -> None: ...
    def get_bytes(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str = "") -> list[str]: ...
    def link(self, key: str) -> str: ...


def check_key(key: str) -> str:
    """Keys are relative, '/'-separated, with no empty, '.' or '..' parts."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StoreError(f"invalid store key {key!r}: expected a relative path like 'a/b.csv'")
    return key


class LocalStore:
    """A folder on disk: the embedded default."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put_bytes(self, key: str, data: bytes, *, overwrite: bool = False) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if overwrite:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)  # atomic, and fails if the key exists
                except FileExistsError:
                    raise ObjectExists(f"{self.url}: {key} exists and is immutable") from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(f"{self.url}: no object {key}") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def link(self, key: str) -> str:
        """Where a person opens the object: a file URL."""
        return self._path(key).as_uri()

    def list(self, prefix: str = "") -> list[str]:
        # Only the folder the prefix names is walked: listing datasets/ must not cost a walk of incoming/.
        folder = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not folder.is_dir():
            return []
        keys = []
        for directory, _, names in os.walk(folder):
            relative = Path(directory).relative_to(self.root).as_posix()
            base = "" if relative == "." else relative + "/"
            keys += [base + name for name in names if not name.startswith(".tmp-") and (base + name).startswith(prefix)]
        return sorted(keys)


class MinioStore:
    """A bucket (and optional prefix) on MinIO or any S3 server, via the minio SDK.

    Every call rides out an outage within `patience` (components/config.py, StoreConfig): transient
    failures are retried with jittered backoff until the retry budget is spent, and each attempt has a
    deadline from connect to its last byte, so a server that stalls or trickles cannot hang a run.
    """

    def __init__(self, endpoint: str, bucket: str, prefix: str = "", *, secure: bool = False,
                 access_key: str | None = None, secret_key: str | None = None,
                 patience: StoreConfig = StoreConfig(), region: str = "us-east-1"):
        from minio import Minio

        self.endpoint, self.bucket, self.prefix, self.patience = endpoint, bucket, prefix.strip("/"), patience
        scheme = "https" if secure else "http"
        self.url = f"minio://{endpoint}/{bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self._where = f"{scheme}://{endpoint} (bucket {bucket})"
        self._deadlines = Deadlines()
        # A known region spares the SDK a network lookup, so links are signed offline.
        self._client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure,
                             region=region, http_client=self._deadlines.pool_manager(patience))
        self._bucket_ready = False

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run fn, retrying transient failures with jittered exponential backoff within the retry budget."""
        from minio.error import S3Error

        p = self.patience
        started, delay, attempts = time.monotonic(), p.first_delay_s, 0
        while True:
            attempts += 1
            try:
                with self._deadlines.watch(p.request_deadline_s) as expired:
                    result = fn()
                if expired.is_set():  # cut mid-answer: whatever came back is not to be trusted
                    raise TimeoutError("cut at the request deadline")
                return result
            except S3Error as exc:
                if exc.code not in ("SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout"):
                    raise
                error = f"{exc.code}: {exc.message}"
            except Exception as exc:  # connection refused, reset, DNS, timeouts (urllib3), or cut at the deadline
                if not (_is_network_error(exc) or expired.is_set()):
                    raise
                error = (f"no complete answer within the request deadline of {p.request_deadline_s:g} s"
                         if expired.is_set() else f"{type(exc).__name__}: {exc}")
            pause = delay * (0.5 + random.random())
            spent = time.monotonic() - started
            if spent + pause > p.retry_budget_s:
                raise StoreError(f"cannot reach MinIO at {self._where} to {what}: gave up after {attempts} "
                                 f"attempt(s) in {spent:.0f} s (retry budget store.retry_budget_s = "
                                 f"{p.retry_budget_s:g} s); last error: {error}")
            time.sleep(pause)
            delay = min(delay * 2, p.max_delay_s)

    def _ensure_bucket(self, what: str) -> None:
        if not self._bucket_ready:
            if not self._call(f"check the bucket, to {what}", lambda: self._client.bucket_exists(self.bucket)):
                self._call(f"create the bucket, to {what}", lambda: self._client.make_bucket(self.bucket))
            self._bucket_ready = True

    def put_bytes(self, key: str, data: bytes, *, overwrite: bool = False) -> None:
        from minio.error import S3Error

        self._ensure_bucket(f"write {key}")
        name = self._key(key)
        headers = {"Content-Type": "application/octet-stream"}
        if not overwrite:
            # A server too old for If-None-Match would overwrite silently: refuse what exists already...
            if self.exists(key):
                raise ObjectExists(f"{self.url}: {key} exists and is immutable")
            # ...and let the server refuse the PUT (412) if the key appeared since: an atomic create.
            headers["If-None-Match"] = "*"
        attempts = 0

        def put() -> None:
            nonlocal attempts
            attempts += 1
            # put_object would send an If-None-Match given in `metadata` as the user header
            # X-Amz-Meta-If-None-Match and takes no other headers; _put_object, the single PUT it makes
            # itself for small objects, sends ours as given. A fresh dict each time: signing adds to it.
            self._client._put_object(self.bucket, name, data, dict(headers))

        try:
            self._call(f"write {key}", put)
        except S3Error as exc:
            if exc.code != "PreconditionFailed":
                raise
            # After a transient error the first PUT may have landed before its answer was lost; the retry
            # then meets our own object. Equal bytes mean it is ours (or identical, which is why lock
            # writers make their bytes unique), so that counts as success.
            if attempts > 1 and self.get_bytes(key) == data:
                return
            raise ObjectExists(f"{self.url}: {key} exists and is immutable") from None

    def get_bytes(self, key: str) -> bytes:
        from minio.error import S3Error

        self._ensure_bucket(f"read {key}")
        name = self._key(key)

        def read() -> bytes:
            response = self._client.get_object(self.bucket, name)
            try:
                data = response.read()
                expected = response.headers.get("Content-Length")
                if expected is not None and len(data) != int(expected):  # a connection cut short
                    raise ConnectionError(f"got {len(data)} of {expected} bytes")
                return data
            finally:
                response.close()
                response.release_conn()

        try:
            return self._call(f"read {key}", read)
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                raise ObjectMissing(f"{self.url}: no object {key}") from None
            raise

    def exists(self, key: str) -> bool:
        from minio.error import S3Error

        self._ensure_bucket(f"stat {key}")
        try:
            self._call(f"stat {key}", lambda: self._client.stat_object(self.bucket, self._key(key)))
            return True
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NotFound"):
                return False
            raise

    def link(self, key: str, expires_s: int = 7 * 24 * 3600) -> str:
        """A presigned GET URL a reviewer can open without credentials, valid for `expires_s`."""
        from datetime import timedelta

        return self._client.presigned_get_object(self.bucket, self._key(key), expires=timedelta(seconds=expires_s))

    def list(self, prefix: str = "") -> list[str]:
        self._ensure_bucket(f"list {prefix or '/'}")
        base = f"{self.prefix}/" if self.prefix else ""
        objects = self._call(f"list {prefix or '/'}", lambda: list(self._client.list_objects(
            self.bucket, prefix=base + prefix, recursive=True)))
        return sorted(o.object_name[len(base):] for o in objects)


class Deadlines:
    """Cuts a store call's connections when its deadline passes.

    urllib3's timeouts bound each wait for a byte, not a whole answer: a server that sends 64 bytes every
    few seconds never trips them. So each attempt runs under `watch(seconds)`: the connections it uses
    register themselves (thread-local), and a timer shuts their sockets down at the deadline; the blocked
    read then fails like a reset and the retry loop takes over.
    """

    def __init__(self):
        self._local = threading.local()

    @contextmanager
    def watch(self, seconds: float) -> Iterator[threading.Event]:
        expired, connections = threading.Event(), []

        def cut() -> None:
            expired.set()
            for connection in list(connections):
                _shutdown(connection)

        self._local.current = (expired, connections)
        timer = threading.Timer(seconds, cut)
        timer.daemon = True
        timer.start()
        try:
            yield expired
        finally:
            timer.cancel()
            self._local.current = None

    def _using(self, connection) -> None:
        current = getattr(self._local, "current", None)
        if current is not None:
            if current[0].is_set():
                raise TimeoutError("the request deadline passed before the request was sent")
            current[1].append(connection)

    def pool_manager(self, patience: StoreConfig):
        """A urllib3 pool whose connections report to this watch; no retries underneath our own loop."""
        import urllib3
        from urllib3.connection import HTTPConnection, HTTPSConnection
        from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

        deadlines = self

        class Watched:
            def request(self, *args, **kwargs):  # every request, on a new or a kept-alive connection
                deadlines._using(self)
                return super().request(*args, **kwargs)

        http = type("WatchedHTTPConnection", (Watched, HTTPConnection), {})
        https = type("WatchedHTTPSConnection", (Watched, HTTPSConnection), {})
        manager = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(
            connect=patience.connect_timeout_s, read=patience.read_timeout_s))
        manager.pool_classes_by_scheme = {
            "http": type("WatchedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("WatchedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https})}
        return manager


def _shutdown(connection) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # closed already
            pass


def _is_network_error(exc: Exception) -> bool:
    import urllib3

    return isinstance(exc, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError, OSError))


def open_store(url: str | None = None, patience: StoreConfig = StoreConfig()) -> Store:
    """The store named by `url`, else by $TINYMLOPS_STORE, else the local default folder.

    `minio://host:port/bucket[/prefix]` selects MinIO; credentials come from
    MINIO_ACCESS_KEY / MINIO_SECRET_KEY (or files named by MINIO_ACCESS_KEY_FILE /
    MINIO_SECRET_KEY_FILE, as a mounted secret) and TLS from MINIO_SECURE=1.
    Anything else is a local folder path. `patience` (the configuration's `store`) bounds retries and waits.
    """
    url = url or os.environ.get(STORE_ENV) or DEFAULT_STORE
    if not url.startswith("minio://"):
        return LocalStore(url)
    parsed = urlparse(url)
    bucket, _, prefix = parsed.path.lstrip("/").partition("/")
    if not parsed.netloc or not bucket:
        raise StoreError(f"invalid store URL {url!r}: expected minio://host:port/bucket[/prefix]")
    access, secret = credential("MINIO_ACCESS_KEY"), credential("MINIO_SECRET_KEY")
    if not access or not secret:
        raise StoreError(f"store {url} needs MINIO_ACCESS_KEY and MINIO_SECRET_KEY in the environment "
                         f"(or MINIO_ACCESS_KEY_FILE and MINIO_SECRET_KEY_FILE naming files that hold them)")
    secure = os.environ.get("MINIO_SECURE", "0").lower() in ("1", "true", "yes")
    return MinioStore(parsed.netloc, bucket, prefix, secure=secure, access_key=access, secret_key=secret,
                      patience=patience, region=os.environ.get("MINIO_REGION", "us-east-1"))


def credential(name: str, *, optional: bool = False) -> str | None:
    """$NAME, else the content of the file $NAME_FILE names: a secret mounted into a container stays out of
    the container's recorded environment (see pipelines/containers.py). With `optional`, a missing file
    means no value (an optional Kubernetes secret mounts as an empty folder)."""
    value = os.environ.get(name)
    path = os.environ.get(f"{name}_FILE")
    if value or not path:
        return value
    if optional and not Path(path).exists():
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        raise StoreError(f"{name}_FILE={path}: cannot read the credential: {exc}") from exc


def put_json(store: Store, key: str, value, *, overwrite: bool = False) -> None:
    store.put_bytes(key, json.dumps(value, indent=2, sort_keys=True).encode(), overwrite=overwrite)


def get_json(store: Store, key: str):
    return json.loads(store.get_bytes(key))
