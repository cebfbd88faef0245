"""The fault proxy itself (tests/fault_proxy.py): each fault fires, what a client sees, and requests pass after clear().

The client is the minio SDK on a urllib3 pool with no retries and 2 s timeouts, as a store would use it, talking
to moto's S3 server through the proxy. Objects are set up and checked directly on moto, past the proxy.
"""

import io
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3
from minio import Minio
from minio.error import S3Error

from tests.conftest import S3_SECRET, S3_USER
from tests.fault_proxy import FaultProxy

READ_TIMEOUT_S = 2


def minio_client(endpoint: str) -> Minio:
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=READ_TIMEOUT_S))
    # A region spares the location GET before the first call on a bucket, which would take the next fault.
    return Minio(endpoint, access_key=S3_USER, secret_key=S3_SECRET, secure=False, region="us-east-1",
                 http_client=http)


def put(client: Minio, bucket: str, key: str, data: bytes) -> None:
    client.put_object(bucket, key, io.BytesIO(data), len(data))


def get(client: Minio, bucket: str, key: str) -> bytes:
    response = client.get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.release_conn()


def raw_get(port: int, path: str = "/") -> socket.socket:
    """A socket that has sent one GET through the proxy (moto answers "/" with the bucket list)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    return sock


def read_until_closed(sock: socket.socket) -> tuple[bytes, Exception | None]:
    """Everything the peer sent, and the error that ended it (None for a clean close)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except OSError as exc:
        return received, exc
    return received, None


def wait_for(condition, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


class KeepAliveHandler(BaseHTTPRequestHandler):
    """Keeps objects in memory by path and answers with Content-Length on HTTP/1.1: connections stay open."""

    protocol_version = "HTTP/1.1"
    timeout = 5  # an idle keep-alive connection ends after this

    def do_PUT(self):
        self.server.objects[self.path] = self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(200, b"")

    def do_GET(self):
        body = self.server.objects.get(self.path)
        self._answer(200, body) if body is not None else self._answer(404, b"")

    def _answer(self, status: int, body: bytes):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def keep_alive_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAliveHandler)
    server.daemon_threads, server.objects = True, {}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def direct(s3_endpoint) -> Minio:
    return minio_client(s3_endpoint)


@pytest.fixture
def bucket(minio_env, direct) -> str:
    name = minio_env.rsplit("/", 1)[1]
    direct.make_bucket(name)
    return name


@pytest.fixture
def proxy(s3_endpoint):
    with FaultProxy(s3_endpoint) as proxy:
        yield proxy


def test_forwards_requests_unchanged(proxy, bucket, direct):
    client, data = minio_client(proxy.endpoint), os.urandom(100_000)
    put(client, bucket, "a.bin", data)
    assert get(client, bucket, "a.bin") == data == get(direct, bucket, "a.bin")
    assert [o.object_name for o in client.list_objects(bucket)] == ["a.bin"]
    stats = proxy.stats()
    # moto's server (werkzeug) closes the connection after every answer: one connection per request.
    # Keep-alive connections, as MinIO keeps them, are tested against a small server below.
    assert stats.connections == 3
    assert stats.bytes_up > len(data) and stats.bytes_down > len(data)
    assert stats.fired == {}


def test_refuse_closes_the_port_then_reopens_it(proxy, bucket):
    opened_before = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    wait_for(lambda: proxy.stats().connections == 1)

    proxy.refuse(0.5)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
    with pytest.raises(urllib3.exceptions.NewConnectionError, match="refused"):
        minio_client(proxy.endpoint).bucket_exists(bucket)
    assert proxy.fired("refuse") == 1
    with opened_before:  # a connection made before the window is not affected
        opened_before.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_until_closed(opened_before)[0].startswith(b"HTTP/1.1 200")

    time.sleep(0.7)  # the window ends by itself, on the same port
    assert minio_client(proxy.endpoint).bucket_exists(bucket)

    proxy.refuse(30)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
    proxy.clear()  # ends the window at once
    assert minio_client(proxy.endpoint).bucket_exists(bucket)
    assert proxy.fired("refuse") == 2


def test_reset_upload_cuts_a_put_after_n_bytes(proxy, bucket, direct):
    client, data = minio_client(proxy.endpoint), os.urandom(200_000)
    assert client.bucket_exists(bucket)  # a request without a body: not a target
    proxy.reset_upload(1000)
    sent_before = proxy.stats().bytes_up

    with pytest.raises(urllib3.exceptions.ProtocolError):
        put(client, bucket, "a.bin", data)
    assert proxy.fired("reset_upload") == 1
    assert proxy.stats().bytes_up - sent_before == 1000
    with pytest.raises(S3Error, match="NoSuchKey"):
        direct.stat_object(bucket, "a.bin")  # the server never had the whole request

    proxy.clear()
    put(client, bucket, "a.bin", data)
    assert get(direct, bucket, "a.bin") == data


def test_reset_download_cuts_a_response_after_n_bytes(proxy, bucket, direct):
    client, data = minio_client(proxy.endpoint), os.urandom(100_000)
    put(direct, bucket, "a.bin", data)
    proxy.reset_download(5000, method="GET")
    received_before = proxy.stats().bytes_down

    with pytest.raises(urllib3.exceptions.ProtocolError):
        get(client, bucket, "a.bin")
    assert proxy.fired("reset_download") == 1
    assert proxy.stats().bytes_down - received_before == 5000

    proxy.clear()
    assert get(client, bucket, "a.bin") == data


def test_drop_response_loses_the_answer_of_a_put_that_landed(proxy, bucket, direct):
    client, data = minio_client(proxy.endpoint), os.urandom(10_000)
    proxy.drop_response(method="PUT")

    with pytest.raises(urllib3.exceptions.ProtocolError):
        put(client, bucket, "a.bin", data)
    assert proxy.fired("drop_response") == 1
    assert get(direct, bucket, "a.bin") == data  # yet the object is there

    proxy.clear()
    put(client, bucket, "b.bin", data)
    assert get(direct, bucket, "b.bin") == data


def test_trickle_slower_than_the_read_timeout_times_out(proxy, bucket, direct):
    client = minio_client(proxy.endpoint)
    put(direct, bucket, "a.bin", b"x" * 1000)
    proxy.trickle(64, READ_TIMEOUT_S + 1, method="GET")

    start = time.monotonic()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        get(client, bucket, "a.bin")  # 64 bytes of headers, then silence longer than the read timeout
    assert READ_TIMEOUT_S <= time.monotonic() - start < READ_TIMEOUT_S + 1
    assert proxy.fired("trickle") == 1

    proxy.clear()
    assert get(client, bucket, "a.bin") == b"x" * 1000


def test_trickle_faster_than_the_read_timeout_never_times_out(proxy, bucket, direct):
    client, data = minio_client(proxy.endpoint), os.urandom(8000)
    put(direct, bucket, "a.bin", data)
    proxy.trickle(1024, 0.3, method="GET")

    start = time.monotonic()
    assert get(client, bucket, "a.bin") == data
    # Longer than the read timeout in all, never silent that long: a per-read timeout does not catch it.
    assert time.monotonic() - start > READ_TIMEOUT_S
    assert proxy.fired("trickle") == 1


def test_delay_holds_responses(proxy, bucket, direct):
    client = minio_client(proxy.endpoint)
    put(direct, bucket, "a.bin", b"x")

    proxy.delay(READ_TIMEOUT_S + 1, method="GET")
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        get(client, bucket, "a.bin")
    assert proxy.fired("delay") == 1

    proxy.delay(0.3, times=None, duration_s=1.0)  # every response for a second
    start = time.monotonic()
    assert get(client, bucket, "a.bin") == b"x" and client.bucket_exists(bucket)
    assert time.monotonic() - start >= 0.6
    assert proxy.fired("delay") == 3
    time.sleep(max(0.0, start + 1.0 - time.monotonic()))
    start = time.monotonic()
    assert get(client, bucket, "a.bin") == b"x"
    assert time.monotonic() - start < 0.3
    assert proxy.fired("delay") == 3


def test_faults_find_their_request_on_a_keep_alive_connection(keep_alive_server):
    data = os.urandom(50_000)
    with FaultProxy(keep_alive_server.server_address) as proxy:
        pool = urllib3.HTTPConnectionPool("127.0.0.1", proxy.port, maxsize=1, retries=False, timeout=2)
        assert pool.request("PUT", "/a", body=data).status == 200

        proxy.reset_upload(1000)
        assert pool.request("GET", "/a").data == data  # no body: not a target, the fault waits
        with pytest.raises(urllib3.exceptions.ProtocolError):
            pool.request("PUT", "/b", body=data)
        assert proxy.fired("reset_upload") == 1 and "/b" not in keep_alive_server.objects
        assert proxy.stats().connections == 1  # all of it on the first connection

        assert pool.request("GET", "/a").data == data  # a new connection, kept open
        proxy.reset_download(100, method="GET")
        assert pool.request("PUT", "/c", body=b"c").status == 200  # not a GET: not a target
        with pytest.raises(urllib3.exceptions.ProtocolError):
            pool.request("GET", "/a")
        assert proxy.fired("reset_download") == 1
        assert proxy.stats().connections == 2

        # A trickle holds one response: the next one on the connection goes at full speed.
        proxy.trickle(16_384, 0.25, method="GET")
        assert pool.request("GET", "/c").data == b"c"  # a new connection; the trickle is spent here
        start = time.monotonic()
        assert pool.request("GET", "/a").data == data
        assert time.monotonic() - start < 0.2
        proxy.trickle(16_384, 0.25, method="GET")
        start = time.monotonic()
        assert pool.request("GET", "/a").data == data
        assert time.monotonic() - start >= 0.75  # 4 steps for 50 kB and the head
        assert proxy.fired("trickle") == 2 and proxy.stats().connections == 3


def test_clear_releases_a_held_response(proxy):
    proxy.delay(20)
    with raw_get(proxy.port) as sock:
        threading.Timer(0.3, proxy.clear).start()
        start = time.monotonic()
        received, error = read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 200") and error is None
    assert time.monotonic() - start < 2


def test_no_fault_holds_a_connection_past_max_hold(s3_endpoint):
    with FaultProxy(s3_endpoint, max_hold_s=1) as proxy:
        proxy.trickle(1, 10)
        with raw_get(proxy.port) as sock:
            start = time.monotonic()
            received, error = read_until_closed(sock)
        assert received == b"H" and isinstance(error, ConnectionResetError)  # one step, then the hold ran out
        assert time.monotonic() - start < 2
        assert proxy.fired("max_hold") == 1

        proxy.delay(60)  # capped at max_hold_s
        with raw_get(proxy.port) as sock:
            start = time.monotonic()
            received, error = read_until_closed(sock)
        assert received.startswith(b"HTTP/1.1 200") and error is None
        assert 0.9 < time.monotonic() - start < 2


def test_close_stops_listening_and_ends_held_connections(s3_endpoint):
    proxy = FaultProxy(s3_endpoint)
    proxy.delay(20)
    with raw_get(proxy.port) as sock:
        wait_for(lambda: proxy.fired("delay") == 1)  # the answer is being held
        start = time.monotonic()
        proxy.close()
        assert read_until_closed(sock)[0] == b""
    assert time.monotonic() - start < 1
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
    assert not [t for t in threading.enumerate() if t.name.startswith(f"fault-proxy-{proxy.port}")]
