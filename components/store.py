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
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import urlparse

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
        if not self.root.is_dir():
            return []
        keys = []
        for path in self.root.rglob("*"):
            rel = path.relative_to(self.root).as_posix()
            if path.is_file() and not path.name.startswith(".tmp-") and rel.startswith(prefix):
                keys.append(rel)
        return sorted(keys)


@dataclass(frozen=True)
class Retry:
    attempts: int = 4
    first_delay_s: float = 0.2
    max_delay_s: float = 3.0


class MinioStore:
    """A bucket (and optional prefix) on MinIO or any S3 server, via the minio SDK."""

    def __init__(self, endpoint: str, bucket: str, prefix: str = "", *, secure: bool = False,
                 access_key: str | None = None, secret_key: str | None = None,
                 retry: Retry = Retry(), region: str = "us-east-1"):
        import urllib3
        from minio import Minio

        self.endpoint, self.bucket, self.prefix, self.retry = endpoint, bucket, prefix.strip("/"), retry
        scheme = "https" if secure else "http"
        self.url = f"minio://{endpoint}/{bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self._where = f"{scheme}://{endpoint} (bucket {bucket})"
        # Our own retry loop handles backoff, so urllib3 must not retry underneath it.
        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=3, read=30), retries=False)
        # A known region spares the SDK a network lookup, so links are signed offline.
        self._client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure,
                             region=region, http_client=http)
        self._bucket_ready = False

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run fn, retrying transient failures with jittered exponential backoff."""
        from minio.error import S3Error

        delay = self.retry.first_delay_s
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return fn()
            except S3Error as exc:
                if exc.code not in ("SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout"):
                    raise
                error = f"{exc.code}: {exc.message}"
            except Exception as exc:  # connection refused, reset, DNS, timeouts (urllib3)
                if not _is_network_error(exc):
                    raise
                error = f"{type(exc).__name__}: {exc}"
            if attempt < self.retry.attempts:
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self.retry.max_delay_s)
        raise StoreError(f"cannot reach MinIO at {self._where} to {what} "
                         f"after {self.retry.attempts} attempts: {error}")

    def _ensure_bucket(self) -> None:
        if not self._bucket_ready:
            if not self._call("check the bucket", lambda: self._client.bucket_exists(self.bucket)):
                self._call("create the bucket", lambda: self._client.make_bucket(self.bucket))
            self._bucket_ready = True

    def put_bytes(self, key: str, data: bytes, *, overwrite: bool = False) -> None:
        from minio.error import S3Error

        self._ensure_bucket()
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
            self._call(f"write {name}", put)
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

        self._ensure_bucket()
        name = self._key(key)

        def read() -> bytes:
            response = self._client.get_object(self.bucket, name)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        try:
            return self._call(f"read {name}", read)
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                raise ObjectMissing(f"{self.url}: no object {key}") from None
            raise

    def exists(self, key: str) -> bool:
        from minio.error import S3Error

        self._ensure_bucket()
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
        self._ensure_bucket()
        base = f"{self.prefix}/" if self.prefix else ""
        objects = self._call(f"list {prefix or '/'}", lambda: list(self._client.list_objects(
            self.bucket, prefix=base + prefix, recursive=True)))
        return sorted(o.object_name[len(base):] for o in objects)


def _is_network_error(exc: Exception) -> bool:
    import urllib3

    return isinstance(exc, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError, OSError))


def open_store(url: str | None = None, *, retry: Retry = Retry()) -> Store:
    """The store named by `url`, else by $TINYMLOPS_STORE, else the local default folder.

    `minio://host:port/bucket[/prefix]` selects MinIO; credentials come from
    MINIO_ACCESS_KEY / MINIO_SECRET_KEY (or files named by MINIO_ACCESS_KEY_FILE /
    MINIO_SECRET_KEY_FILE, as a mounted secret) and TLS from MINIO_SECURE=1.
    Anything else is a local folder path.
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
                      retry=retry, region=os.environ.get("MINIO_REGION", "us-east-1"))


def credential(name: str) -> str | None:
    """$NAME, else the content of the file $NAME_FILE names: a secret mounted into a container stays out of
    the container's recorded environment (see pipelines/containers.py)."""
    value = os.environ.get(name)
    path = os.environ.get(f"{name}_FILE")
    if value or not path:
        return value
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        raise StoreError(f"{name}_FILE={path}: cannot read the credential: {exc}") from exc


def put_json(store: Store, key: str, value, *, overwrite: bool = False) -> None:
    store.put_bytes(key, json.dumps(value, indent=2, sort_keys=True).encode(), overwrite=overwrite)


def get_json(store: Store, key: str):
    return json.loads(store.get_bytes(key))
