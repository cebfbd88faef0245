"""A connection to the KFP API: the endpoint checked and probed once, then a `kfp.Client` for it.

Authentication: an optional bearer token (argument, or the KF_PIPELINES_TOKEN environment variable)
is sent as `Authorization: Bearer ...`. It is never printed, logged or put into an error message.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components.store import credential
from pipelines.kfp_errors import KfpApiError, body_message, short, transport_reason

if TYPE_CHECKING:
    import kfp

TOKEN_ENV = "KF_PIPELINES_TOKEN"
ENDPOINT_ENV = "KF_PIPELINES_ENDPOINT"
HEALTHZ_PATH = "/apis/v2beta1/healthz"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KfpConnection:
    """A `kfp.Client` and the API endpoint it talks to (for messages and UI links: kfp keeps the host in a
    private config)."""

    client: kfp.Client
    host: str


def connect(host: str, *, token: str | None = None, namespace: str | None = None,
            timeout_s: float = 10.0) -> KfpConnection:
    """A connection to the KFP API at `host`, after checking that the API answers.

    `host` must carry its scheme: `http://localhost:8080` (a port-forward to svc/ml-pipeline-ui or
    svc/ml-pipeline) or `https://<kubeflow>/pipeline`. `token` defaults to $KF_PIPELINES_TOKEN (or the
    file $KF_PIPELINES_TOKEN_FILE names, as a mounted secret).
    `namespace` is for multi-user clusters (experiments and runs live in a profile namespace).
    We probe `GET /apis/v2beta1/healthz` ourselves, once, with a timeout and no retries: kfp.Client
    would otherwise hang on a silent host, print tracebacks, or retry a failing healthz for 25 s.
    """
    import kfp

    host = _normalise_host(host)
    token = token if token is not None else credential(TOKEN_ENV, optional=True)
    _probe(host, token, timeout_s)
    kwargs: dict[str, Any] = {"host": host, "existing_token": token}
    if namespace:
        kwargs["namespace"] = namespace
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore", FutureWarning)  # "This client only works with KFP v2.0.0-beta.2+"
            client = kfp.Client(**kwargs)
    except Exception as exc:  # noqa: BLE001 - whatever the constructor raises, say what failed, once
        raise KfpApiError(f"cannot connect to the KFP API at {host}: {short(exc)}", host=host) from None
    log.info("connected to the KFP API at %s", host)
    return KfpConnection(client, host)


def _normalise_host(host: str) -> str:
    host = (host or "").strip()
    if not host:
        raise KfpApiError(f"no KFP API host: pass --host or set {ENDPOINT_ENV} (e.g. http://localhost:8080)")
    if not re.match(r"^https?://[^/\s]+", host):
        raise KfpApiError(f"KFP API host {host!r} must start with http:// or https:// "
                          "(e.g. http://localhost:8080 or https://kubeflow.example.com/pipeline)")
    return host.rstrip("/")


def _probe(host: str, token: str | None, timeout_s: float) -> None:
    """One GET of healthz over the same transport kfp uses (urllib3, certifi), mapped to KfpApiError."""
    import certifi
    import urllib3

    url = host + HEALTHZ_PATH
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())
    try:
        resp = pool.request("GET", url, headers=headers, retries=False, redirect=False,
                            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s))
    except urllib3.exceptions.HTTPError as exc:
        raise KfpApiError(
            f"cannot reach the KFP API at {host} (GET {HEALTHZ_PATH}): {transport_reason(exc)}. "
            "Check the host and that the API is reachable, e.g. "
            "`kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80` and --host http://localhost:8080",
            host=host) from None
    finally:
        pool.clear()
    if 300 <= resp.status < 400:
        raise KfpApiError(
            f"the KFP API at {host} redirected GET {HEALTHZ_PATH} to {resp.headers.get('Location', '?')} "
            f"(HTTP {resp.status}): the endpoint wants a login; pass a token (${TOKEN_ENV}) or use a port-forward",
            host=host, status=resp.status)
    if resp.status >= 400:
        message = body_message(resp.data) or resp.reason
        hint = {401: f"; set ${TOKEN_ENV} to a valid token", 403: f"; set ${TOKEN_ENV} to a valid token",
                404: "; is this the pipelines API endpoint (a full Kubeflow serves it under /pipeline)?"}.get(
                    resp.status, "")
        raise KfpApiError(f"the KFP API at {host} answered GET {HEALTHZ_PATH} with HTTP {resp.status}: "
                          f"{message}{hint}", host=host, status=resp.status, server_message=message)
    try:
        json.loads(resp.data or b"{}")
    except ValueError:
        raise KfpApiError(f"{host} answered GET {HEALTHZ_PATH} with something that is not the KFP API "
                          f"({body_message(resp.data)!r}); is the host the pipelines endpoint?", host=host) from None
