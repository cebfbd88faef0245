"""A fault-injecting TCP proxy for tests: a flaky network between an HTTP client and a server, on 127.0.0.1.

Put it between the minio SDK and moto's S3 server, then switch faults on and off while it runs:

    with FaultProxy(s3_endpoint) as proxy:
        client = Minio(proxy.endpoint, ..., region="us-east-1")
        proxy.drop_response(method="PUT")       # the PUT lands, its answer never arrives
        ...
        assert proxy.fired("drop_response") == 1

The faults (each counted by `fired(kind)` when it acts, so a test can assert that it happened):
  refuse(s)          the listening socket is closed for s seconds, then reopened on the same port: new
                     connections get ECONNREFUSED. Connections already open (the SDK's pool) keep working.
                     A refused connection never reaches the proxy: fired("refuse") counts windows.
  reset_upload(n)    a request with a body is cut after n of its bytes (head included), then RST both ways.
                     A request shorter than that is cut at its end: it reached the server, its answer will not.
  reset_download(n)  a response is cut after n of its bytes, then RST both ways. If the response is shorter
                     it passes whole and the fault is spent without firing.
  drop_response()    the request reaches the server whole and the server answers; the client gets an RST.
  trickle(b, s)      a response goes out b bytes every s seconds (the first step at once).
  delay(s)           a response is held s seconds, then sent at full speed.
  clear()            disarms everything, ends a refuse window and releases responses being held.

Which request a fault hits: each fault is armed for its next `times` matches (None: no limit), and with
`duration_s` only for that long; arming a kind again replaces it. The proxy follows HTTP/1.1 keep-alive
connections by reading the client's request heads (request line and Content-Length), so a fault hits the
next matching request on any connection, pooled ones included. A response is taken to be the server's bytes
after a request starts (these clients do not pipeline), so `method=` picks responses to that method;
without it the next response of any request is hit (give Minio a region, or its first call on a bucket is a
location GET that will take the fault). moto's server closes every connection after its answer, so against
moto each request comes on a new connection; MinIO keeps them open.

Limits: HTTP/1.1 without pipelining or `Expect: 100-continue` (the interim answer would count as the
response). A connection whose client sends a request with `Transfer-Encoding: chunked`, or bytes that are
not HTTP, becomes a plain byte pipe: no fault applies to it any more. Held responses are buffered in memory.
Bounded in time: daemon threads, timeouts on every socket, delays and refuse windows capped at max_hold_s
(30 s by default), a trickle still holding bytes after max_hold_s resets the connection (counted as
fired("max_hold")), and close() (or leaving the `with`) stops everything, connections included.
"""

from __future__ import annotations

import re
import selectors
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass

HOST = "127.0.0.1"
POLL_S = 0.05  # how often a waiting thread looks at the stop flag, the refuse window and clock-driven faults
IO_TIMEOUT_S = 10.0  # a peer that takes none of our bytes for this long is treated as gone
CONNECT_TIMEOUT_S = 5.0
RECV_BYTES = 65536
MAX_HEAD_BYTES = 64 * 1024  # a longer "request head" is not HTTP as we know it: forward it untouched
HTTP_METHOD_PREFIX = re.compile(rb"[A-Z]{0,16}( |$)")  # what a request's first bytes look like


@dataclass(frozen=True)
class ProxyStats:
    connections: int  # accepted from clients
    bytes_up: int  # client -> server, forwarded
    bytes_down: int  # server -> client, forwarded
    fired: dict[str, int]  # faults that acted, by kind


@dataclass
class _Arm:
    """A fault waiting for its next targets."""

    params: dict
    times: int | None
    until: float | None
    method: str | None


@dataclass
class _Request:
    method: str
    body_bytes: int


@dataclass
class _ResponsePlan:
    """What happens to the response in flight on one connection."""

    started: float
    generation: int  # the proxy's clear() count when it started: a later clear() releases its holds
    release_at: float = 0.0  # delay: nothing goes out before this
    step_bytes: int | None = None  # trickle: this many bytes per step ...
    step_s: float = 0.0  # ... every step_s
    next_step_at: float = 0.0
    cut_after: int | None = None  # reset_download: bytes still to forward before the RST


class FaultProxy:
    """Listens on 127.0.0.1:<ephemeral port> and forwards each connection to `target` with the faults armed."""

    def __init__(self, target: tuple[str, int] | str, *, max_hold_s: float = 30.0):
        if isinstance(target, str):  # "host:port", as the s3_endpoint fixture gives it
            host, _, port = target.rpartition(":")
            target = (host, int(port))
        if target[0] not in ("127.0.0.1", "localhost"):
            raise ValueError(f"a test proxy forwards to this machine only, not {target[0]}")
        self.target = target
        self.max_hold_s = max_hold_s
        self._lock = threading.Condition()
        self._arms: dict[str, _Arm] = {}
        self._fired: Counter[str] = Counter()
        self._stats: Counter[str] = Counter()
        self._generation = 0
        self._refuse_until = 0.0
        self._listening = True
        self._stop = threading.Event()
        self._links: dict[_Link, threading.Thread] = {}
        listener = _listen(0)
        self.port = listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, args=(listener,), name=f"fault-proxy-{self.port}",
                                          daemon=True)
        self._acceptor.start()

    @property
    def endpoint(self) -> str:
        return f"{HOST}:{self.port}"

    # -- faults ------------------------------------------------------------------------------------------

    def refuse(self, seconds: float) -> None:
        """Refuse new connections for `seconds` (at most max_hold_s); returns once the listener is closed."""
        with self._lock:
            self._refuse_until = time.monotonic() + min(seconds, self.max_hold_s)
            self._lock.wait_for(lambda: not self._listening or self._stop.is_set(), timeout=2)

    def reset_upload(self, after_bytes: int, times: int | None = 1, *, method: str | None = None,
                     duration_s: float | None = None) -> None:
        self._arm("reset_upload", {"after_bytes": after_bytes}, times, method, duration_s)

    def reset_download(self, after_bytes: int, times: int | None = 1, *, method: str | None = None,
                       duration_s: float | None = None) -> None:
        self._arm("reset_download", {"after_bytes": after_bytes}, times, method, duration_s)

    def drop_response(self, times: int | None = 1, *, method: str | None = None,
                      duration_s: float | None = None) -> None:
        self._arm("drop_response", {}, times, method, duration_s)

    def trickle(self, bytes_per_step: int, step_s: float, times: int | None = 1, *, method: str | None = None,
                duration_s: float | None = None) -> None:
        if bytes_per_step < 1 or step_s <= 0:
            raise ValueError("trickle needs bytes_per_step >= 1 and step_s > 0")
        self._arm("trickle", {"step_bytes": bytes_per_step, "step_s": step_s}, times, method, duration_s)

    def delay(self, seconds: float, times: int | None = 1, *, method: str | None = None,
              duration_s: float | None = None) -> None:
        self._arm("delay", {"seconds": min(seconds, self.max_hold_s)}, times, method, duration_s)

    def clear(self) -> None:
        """No faults from now on; returns once the listener is open again."""
        with self._lock:
            self._arms.clear()
            self._generation += 1
            self._refuse_until = 0.0
            self._lock.wait_for(lambda: self._listening or self._stop.is_set(), timeout=2)

    def fired(self, kind: str) -> int:
        with self._lock:
            return self._fired[kind]

    def stats(self) -> ProxyStats:
        with self._lock:
            return ProxyStats(self._stats["connections"], self._stats["up"], self._stats["down"], dict(self._fired))

    # -- lifetime ----------------------------------------------------------------------------------------

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join(timeout=2)
        with self._lock:
            links = list(self._links.items())
        for link, thread in links:
            link.abort()
            thread.join(timeout=2)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- inside --------------------------------------------------------------------------------------------

    def _arm(self, kind: str, params: dict, times: int | None, method: str | None, duration_s: float | None):
        if times is not None and times < 1:
            raise ValueError("times must be >= 1, or None for no limit")
        if params.get("after_bytes", 0) < 0:
            raise ValueError("after_bytes must be >= 0")
        until = None if duration_s is None else time.monotonic() + duration_s
        with self._lock:
            self._arms[kind] = _Arm(params, times, until, method)

    def _claim(self, kind: str, method: str) -> dict | None:
        """The parameters of fault `kind` if it applies to this request or response, using up one of its times."""
        with self._lock:
            arm = self._arms.get(kind)
            if arm is None or (arm.method is not None and arm.method != method):
                return None
            if arm.until is not None and time.monotonic() >= arm.until:
                del self._arms[kind]
                return None
            if arm.times is not None:
                arm.times -= 1
                if arm.times == 0:
                    del self._arms[kind]
            return arm.params

    def _count(self, key: str, n: int = 1, *, fault: bool = False) -> None:
        with self._lock:
            (self._fired if fault else self._stats)[key] += n

    def _accept_loop(self, listener: socket.socket | None) -> None:
        while not self._stop.is_set():
            # The listener is closed and reopened here only, by the one thread that uses it.
            with self._lock:
                refusing = time.monotonic() < self._refuse_until
                if refusing and listener is not None:
                    listener.close()
                    listener, self._listening = None, False
                    self._fired["refuse"] += 1
                    self._lock.notify_all()
                elif not refusing and listener is None:
                    try:
                        listener = _listen(self.port)
                    except OSError:
                        pass  # the port is still busy: try again next round
                    else:
                        self._listening = True
                        self._lock.notify_all()
            if listener is None:
                self._stop.wait(POLL_S / 5)
                continue
            try:
                client, _ = listener.accept()
            except OSError:  # the accept timeout (TimeoutError) included: go round and look at the flags
                continue
            client.settimeout(IO_TIMEOUT_S)
            self._count("connections")
            threading.Thread(target=self._serve, args=(client,), name=f"fault-proxy-{self.port}-link",
                             daemon=True).start()
        if listener is not None:
            listener.close()
        with self._lock:
            self._lock.notify_all()

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.target, timeout=CONNECT_TIMEOUT_S)
        except OSError:
            _reset(client)
            return
        server.settimeout(IO_TIMEOUT_S)
        link = _Link(self, client, server)
        with self._lock:
            self._links[link] = threading.current_thread()
        try:
            link.run()
        finally:
            with self._lock:
                self._links.pop(link, None)


class _Link:
    """One client connection and its server connection, pumped by one thread."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, server: socket.socket):
        self.proxy, self.client, self.server = proxy, client, server
        self.requests = _RequestTracker()
        self.method = ""  # of the latest request
        self.upload_cut_after: int | None = None  # reset_upload: bytes of this request still to forward
        self.response_due = False  # a request started: the server's next bytes begin its response
        self.response: _ResponsePlan | None = None
        self.held = bytearray()  # server bytes not yet sent to the client (a delay or trickle holds them)
        self.server_done = False
        self.closed = False

    def run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.client, selectors.EVENT_READ, "client")
            selector.register(self.server, selectors.EVENT_READ, "server")
            try:
                while not self.closed and not self.proxy._stop.is_set():
                    for key, _ in selector.select(self._wait_s()):
                        if self.closed:
                            break
                        if key.data == "client":
                            self._from_client()
                        else:
                            self._from_server(selector)
                    if not self.closed:
                        self._send_held()
            except OSError:
                pass  # a peer reset, went away or timed out: this link is over
            finally:
                self._close()

    def abort(self) -> None:
        """From another thread: wake this link's thread, which then closes it."""
        for sock in (self.client, self.server):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _wait_s(self) -> float:
        plan = self.response
        if not self.held or plan is None:
            return POLL_S
        due = max(plan.release_at, plan.next_step_at if plan.step_bytes else 0.0)
        return min(POLL_S, max(0.0, due - time.monotonic()))

    def _from_client(self) -> None:
        data = self.client.recv(RECV_BYTES)
        if not data:
            self._close()
            return
        for request, piece, ends_request in self.requests.feed(data):
            if self.requests.plain:  # not trackable any more: no faults on this connection
                self.response, self.response_due, self.upload_cut_after = None, False, None
            elif request is not None:
                self.method, self.response_due, self.upload_cut_after = request.method, True, None
                if request.body_bytes and (fault := self.proxy._claim("reset_upload", request.method)):
                    self.upload_cut_after = fault["after_bytes"]
            if self.upload_cut_after is not None:
                piece = piece[:self.upload_cut_after]
                self.upload_cut_after -= len(piece)
            self.server.sendall(piece)
            self.proxy._count("up", len(piece))
            # A request shorter than after_bytes is cut at its end: it reached the server, its answer will not.
            if self.upload_cut_after == 0 or (self.upload_cut_after is not None and ends_request):
                self._reset("reset_upload")
                return

    def _from_server(self, selector: selectors.BaseSelector) -> None:
        data = self.server.recv(RECV_BYTES)
        if not data:
            self.server_done = True
            selector.unregister(self.server)
            return
        if self.response_due:
            self.response_due = False
            self.response = self._plan_response()
            if self.closed:
                return
        self.held += data

    def _plan_response(self) -> _ResponsePlan | None:
        proxy, now = self.proxy, time.monotonic()
        if proxy._claim("drop_response", self.method) is not None:
            self._reset("drop_response")
            return None
        plan = _ResponsePlan(started=now, generation=proxy._generation)
        if (fault := proxy._claim("delay", self.method)) is not None:
            plan.release_at = now + fault["seconds"]
            proxy._count("delay", fault=True)
        if (fault := proxy._claim("trickle", self.method)) is not None:
            plan.step_bytes, plan.step_s = fault["step_bytes"], fault["step_s"]
            proxy._count("trickle", fault=True)
        if (fault := proxy._claim("reset_download", self.method)) is not None:
            plan.cut_after = fault["after_bytes"]
        return plan

    def _send_held(self) -> None:
        plan, now = self.response, time.monotonic()
        if plan is not None and plan.generation != self.proxy._generation:  # clear() since: let it go
            plan.release_at, plan.step_bytes = 0.0, None
        if plan is not None and self.held and plan.step_bytes and now - plan.started >= self.proxy.max_hold_s:
            self._reset("max_hold")
            return
        while self.held:
            size = len(self.held)
            if plan is not None:
                if now < plan.release_at or (plan.step_bytes and now < plan.next_step_at):
                    return
                if plan.step_bytes:
                    size, plan.next_step_at = plan.step_bytes, now + plan.step_s
                if plan.cut_after is not None:
                    size = min(size, plan.cut_after)
                    plan.cut_after -= size
            piece = bytes(self.held[:size])
            del self.held[:size]
            self.client.sendall(piece)
            self.proxy._count("down", len(piece))
            if plan is not None and plan.cut_after == 0:
                self._reset("reset_download")
                return
        if self.server_done:
            self._close()

    def _reset(self, fault: str) -> None:
        self.proxy._count(fault, fault=True)
        _reset(self.client)
        _reset(self.server)
        self.closed = True

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            self.client.close()
            self.server.close()


class _RequestTracker:
    """Splits a client's byte stream into HTTP/1.1 requests (Content-Length bodies) to see where each begins."""

    def __init__(self):
        self.head = bytearray()  # the start of a request head, held back until it is complete
        self.body_left = 0
        self.plain = False  # tracking gave up: the rest of the stream is just bytes

    def feed(self, data: bytes) -> list[tuple[_Request | None, bytes, bool]]:
        """Pieces of `data` in order: (the request they start or None, bytes, whether they end a request)."""
        pieces: list[tuple[_Request | None, bytes, bool]] = []
        while data:
            if self.plain:
                return pieces + [(None, data, False)]
            if self.body_left:
                piece, data = data[:self.body_left], data[self.body_left:]
                self.body_left -= len(piece)
                pieces.append((None, piece, self.body_left == 0))
                continue
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if not HTTP_METHOD_PREFIX.match(self.head) or len(self.head) > MAX_HEAD_BYTES:
                    self.plain = True
                    data, self.head = bytes(self.head), bytearray()
                    continue
                return pieces
            head, data = bytes(self.head[:end + 4]), bytes(self.head[end + 4:])
            self.head.clear()
            request = _parse_request_head(head)
            if request is None:
                self.plain = True
                pieces.append((None, head, False))
                continue
            self.body_left = request.body_bytes
            pieces.append((request, head, request.body_bytes == 0))
        return pieces


def _parse_request_head(head: bytes) -> _Request | None:
    """The method and body length of a request head; None if it is not one we can follow."""
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    headers = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return None
    try:
        return _Request(parts[0], int(headers.get("content-length", "0")))
    except ValueError:
        return None


def _listen(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Reopening on the same port after a refuse window must not wait for the old connections' TIME_WAIT.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((HOST, port))
        listener.listen(64)
    except OSError:
        listener.close()
        raise
    listener.settimeout(POLL_S)
    return listener


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets an RST, not a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()
