"""What can go wrong talking to the KFP API, said once: `KfpApiError`, and the mapping of what kfp and its
REST and HTTP layers raise onto it (the server's own words where it gave some; never a token)."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from typing import Any


class KfpApiError(RuntimeError):
    """A KFP API call that could not be made or that the server rejected.

    `host` is the API endpoint, `status` the HTTP status (None when no answer came or the request
    was refused before it was sent) and `server_message` the server's own words, when it gave some.
    """

    def __init__(self, message: str, *, host: str | None = None, status: int | None = None,
                 server_message: str | None = None):
        super().__init__(message)
        self.host, self.status, self.server_message = host, status, server_message


@contextlib.contextmanager
def api_errors(host: str, action: str) -> Iterator[None]:
    """Map what kfp and its REST layer raise to one KfpApiError; swallow kfp's "details: <link>" prints."""
    import urllib3
    from kfp_server_api.exceptions import ApiException

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    except KfpApiError:
        raise
    except ApiException as exc:
        body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
        message = body_message(body) or (exc.reason or "").strip() or "no message"
        status = f"HTTP {exc.status}" if exc.status else "no HTTP answer"
        raise KfpApiError(f"the KFP API at {host} rejected the {action}: {status}: {message}",
                          host=host, status=exc.status or None, server_message=message) from None
    except urllib3.exceptions.HTTPError as exc:
        raise KfpApiError(f"lost the KFP API at {host} during the {action}: {transport_reason(exc)}",
                          host=host) from None
    except ValueError as exc:  # kfp's own checks: several pipelines with one name, no experiment, bad package
        raise KfpApiError(f"{action} at {host}: {exc}", host=host) from None


def body_message(body: Any) -> str:
    """The server's words from an error body: grpc-gateway's "message"/"error", the upload handler's
    "error_message", else the text itself with any HTML stripped."""
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("message", "error_message", "error"):
            if isinstance(data.get(key), str) and data[key].strip():
                return data[key].strip()
    text = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    return text[:300] + ("..." if len(text) > 300 else "")


def transport_reason(exc: Exception) -> str:
    """Why no HTTP answer came, in a few words."""
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "Connection refused" in text or "ConnectionRefused" in type(reason).__name__:
        return "connection refused (nothing listens there)"
    if "timed out" in text.lower():
        return "timed out"
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "unknown host name"
    return short(reason)


def short(exc: Any) -> str:
    """An exception on one line of at most 300 characters, without urllib3's object reprs."""
    text = " ".join(str(exc).split())
    text = re.sub(r"<urllib3\.[^>]*>:?\s*", "", text)
    return text[:300] or type(exc).__name__
