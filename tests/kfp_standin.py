"""A local stand-in for the Kubeflow Pipelines 2.5 REST API (v2beta1), for tests.

An http.server on 127.0.0.1 (random port, in a thread) that speaks the protocol kfp.Client 2.13
sends, for just what tinymlops uses:

    GET  /apis/v2beta1/healthz
    POST /apis/v2beta1/pipelines/upload            multipart "uploadfile"; ?name=&description=&namespace=
    POST /apis/v2beta1/pipelines/upload_version    multipart "uploadfile"; ?name=&pipelineid=&description=
    GET  /apis/v2beta1/pipelines                   ?filter=&page_size=&page_token=&sort_by=&namespace=
    GET  /apis/v2beta1/pipelines/{id}/versions     ?filter=&page_size=&page_token=&sort_by=
    GET/POST /apis/v2beta1/experiments
    GET/POST /apis/v2beta1/runs, GET /apis/v2beta1/runs/{run_id} (set a run's "state" to move it on)
    GET/POST /apis/v2beta1/recurringruns

It records every request (`requests`) and validates what it receives, answering invalid requests
as the real API server does: grpc-gateway endpoints with {"error", "code", "message", "details"},
the multipart upload handler with {"error_message", "error_details"}, and statuses 400/404/409.

  * an uploaded package: YAML whose first document parses as a PipelineSpec (protobuf json_format,
    strict), schemaVersion 2.1.0, a pipeline name and a root; later documents parse as PlatformSpec.
  * a run or recurring run: an existing experiment; exactly one of a pipeline version reference
    (which must exist) or an inline spec (which must parse); parameters the pipeline declares, of
    the declared type, with every required one given (the server's validatePipelineJobInputs).
  * a recurring run: a cron of exactly 6 fields (the real server's robfig/cron also takes 5, with a
    different meaning: tinymlops never sends those), max_concurrency in 1..10 (the server's rule) and
    equal to `required_max_concurrency` (1: tinymlops' policy, checked here too).
  * filters: JSON Filter protos with EQUALS / IS_SUBSTRING on display_name; anything else the
    stand-in does not implement gets 501, so an unexpected request fails loudly.
  * with `token` set, every request must carry "Authorization: Bearer <token>" (else 401).

Messages follow the KFP 2.x server's wording where it is known; they are not byte-identical.
"""

from __future__ import annotations

import copy
import datetime as dt
import email.parser
import email.policy
import itertools
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

API = "/apis/v2beta1"
GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 500: 13, 501: 12, 503: 14}
FILTER_OPS = {1: "EQUALS", 9: "IS_SUBSTRING", "EQUALS": "EQUALS", "IS_SUBSTRING": "IS_SUBSTRING"}
PARAM_TYPES = {"STRING": (str,), "NUMBER_INTEGER": (int, float), "NUMBER_DOUBLE": (int, float),
               "BOOLEAN": (bool,), "LIST": (list,), "STRUCT": (dict,)}
CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,\-]+$")
CRON_DESCRIPTOR = re.compile(r"^@(yearly|annually|monthly|weekly|daily|midnight|hourly|every \S+)$")


class Reject(Exception):
    """An invalid request: answered with `status` and `message`, in the endpoint's error format."""

    def __init__(self, status: int, message: str, details: str | None = None):
        super().__init__(message)
        self.status, self.message, self.details = status, message, details or message


@dataclass
class Request:
    """One request as the stand-in received it, and the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any = None  # the JSON body, if any
    fields: dict[str, str] = field(default_factory=dict)  # multipart form fields
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # multipart files: name -> (filename, data)
    status: int = 0

    def arg(self, name: str) -> str | None:
        return self.query.get(name, [None])[0]


class KfpStandIn:
    """The stand-in server and its state. Use as a context manager, or start()/stop()."""

    def __init__(self, *, token: str | None = None, required_max_concurrency: int | None = 1):
        self.token = token
        self.required_max_concurrency = required_max_concurrency
        self.requests: list[Request] = []
        self.pipelines: dict[str, dict] = {}
        self.versions: dict[str, dict] = {}  # id -> {"api": API dict, "spec": dict, "platform": dict | None}
        self.experiments: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        self.recurring_runs: dict[str, dict] = {}
        self._faults: list[dict] = []
        self._seq = itertools.count()
        self._order: dict[str, int] = {}
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._host = ""

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> KfpStandIn:
        standin = self

        class Handler(_Handler):
            pass

        Handler.standin = standin
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="kfp-standin", daemon=True)
        self._thread.start()
        self._host = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> KfpStandIn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def host(self) -> str:
        """http://127.0.0.1:PORT; after stop() nothing listens there any more."""
        assert self._host, "start() the stand-in first"
        return self._host

    # ------------------------------------------------------------------ test helpers

    def inject(self, method: str, path: str, status: int, message: str, times: int = 1) -> None:
        """Answer the next `times` requests to METHOD path with this error (a server-side failure)."""
        with self._lock:
            self._faults.append({"method": method, "path": path, "status": status, "message": message,
                                 "times": times})

    def seen(self, method: str, path: str) -> list[Request]:
        """The recorded requests to METHOD path (path relative to /apis/v2beta1, e.g. "/runs")."""
        return [r for r in self.requests if r.method == method and r.path == API + path]

    def version_spec(self, version_id: str) -> dict:
        return self.versions[version_id]["spec"]

    # ------------------------------------------------------------------ dispatch

    def handle(self, req: Request) -> tuple[int, Any, str]:
        """(status, body, error style) for one request; the Handler writes it."""
        with self._lock:
            self.requests.append(req)
            style = "upload" if req.path.startswith(API + "/pipelines/upload") else "gateway"
            try:
                self._authorise(req)
                self._fault(req)
                return 200, self._route(req), style
            except Reject as exc:
                return exc.status, exc, style

    def _authorise(self, req: Request) -> None:
        if self.token is not None and req.headers.get("authorization") != f"Bearer {self.token}":
            raise Reject(401, "Unauthenticated: the request has no valid bearer token")

    def _fault(self, req: Request) -> None:
        for fault in self._faults:
            if fault["times"] > 0 and fault["method"] == req.method and API + fault["path"] == req.path:
                fault["times"] -= 1
                raise Reject(fault["status"], fault["message"])

    def _route(self, req: Request) -> Any:
        path, m = req.path, req.method
        routes = {
            ("GET", "/healthz"): lambda: {"multi_user": False},
            ("POST", "/pipelines/upload"): lambda: self._upload(req),
            ("POST", "/pipelines/upload_version"): lambda: self._upload_version(req),
            ("GET", "/pipelines"): lambda: self._list(req, "pipelines", self.pipelines.values()),
            ("GET", "/experiments"): lambda: self._list(req, "experiments", self.experiments.values()),
            ("POST", "/experiments"): lambda: self._create_experiment(req),
            ("GET", "/runs"): lambda: self._list_runs(req, "runs", self.runs),
            ("POST", "/runs"): lambda: self._create_run(req),
            ("GET", "/recurringruns"): lambda: self._list_runs(req, "recurringRuns", self.recurring_runs),
            ("POST", "/recurringruns"): lambda: self._create_recurring_run(req),
        }
        if path.startswith(API) and (m, path[len(API):]) in routes:
            return routes[(m, path[len(API):])]()
        one_run = re.fullmatch(API + r"/runs/([^/:]+)", path)
        if m == "GET" and one_run:
            if one_run.group(1) not in self.runs:
                raise Reject(404, f"Failed to get a run: ResourceNotFoundError: Run {one_run.group(1)} not found")
            return self.runs[one_run.group(1)]
        versions = re.fullmatch(API + r"/pipelines/([^/]+)/versions", path)
        if m == "GET" and versions:
            pipeline_id = versions.group(1)
            if pipeline_id not in self.pipelines:
                raise Reject(404, f"Failed to list pipeline versions: ResourceNotFoundError: Pipeline {pipeline_id} "
                                  "not found")
            mine = [v["api"] for v in self.versions.values() if v["api"]["pipeline_id"] == pipeline_id]
            return self._list(req, "pipeline_versions", mine)
        raise Reject(501, f"the KFP stand-in does not implement {m} {path}")

    # ------------------------------------------------------------------ pipelines

    def _upload(self, req: Request) -> dict:
        if "uploadfile" not in req.files:
            raise Reject(400, "Failed to read pipeline from file", "uploadfile: no such multipart field")
        filename, data = req.files["uploadfile"]
        spec, platform = self._template(filename, data, "Failed to create a pipeline and a pipeline version")
        name = req.arg("name") or req.arg("display_name") or re.sub(r"\.(ya?ml)$", "", filename)
        namespace = req.arg("namespace") or ""
        if namespace:
            raise Reject(400, "Failed to create a pipeline and a pipeline version",
                         "Invalid input error: in single-user mode a pipeline has no namespace")
        if any(p["display_name"] == name for p in self.pipelines.values()):
            raise Reject(409, "Failed to create a pipeline and a pipeline version",
                         f"Already exist error: a pipeline named {name!r} already exists")
        now = self._now()
        pipeline = {"pipeline_id": str(uuid.uuid4()), "display_name": name, "created_at": now}
        if req.arg("description"):
            pipeline["description"] = req.arg("description")
        self._store(self.pipelines, pipeline["pipeline_id"], pipeline)
        self._add_version(pipeline["pipeline_id"], name, req.arg("description"), spec, platform, now)
        return pipeline

    def _upload_version(self, req: Request) -> dict:
        if "uploadfile" not in req.files:
            raise Reject(400, "Failed to create a pipeline version", "uploadfile: no such multipart field")
        filename, data = req.files["uploadfile"]
        spec, platform = self._template(filename, data, "Failed to create a pipeline version")
        pipeline_id = req.arg("pipelineid")
        if not pipeline_id:
            raise Reject(400, "Failed to create a pipeline version", "Error reading pipeline id: pipelineid is empty")
        if pipeline_id not in self.pipelines:
            raise Reject(400, "Failed to create a pipeline version",
                         f"ResourceNotFoundError: Pipeline {pipeline_id} not found")
        name = req.arg("name") or req.arg("display_name") or re.sub(r"\.(ya?ml)$", "", filename)
        if any(v["api"]["pipeline_id"] == pipeline_id and v["api"]["display_name"] == name
               for v in self.versions.values()):
            raise Reject(409, "Failed to create a pipeline version",
                         f"Already exist error: pipeline {pipeline_id} already has a version named {name!r}")
        return self._add_version(pipeline_id, name, req.arg("description"), spec, platform, self._now())

    def _add_version(self, pipeline_id: str, name: str, description: str | None, spec: dict,
                     platform: dict | None, now: str) -> dict:
        api = {"pipeline_id": pipeline_id, "pipeline_version_id": str(uuid.uuid4()), "display_name": name,
               "created_at": now,
               # As the server returns it: the spec alone, or both documents when there is a platform spec.
               "pipeline_spec": {"pipeline_spec": spec, "platform_spec": platform} if platform else spec}
        if description:
            api["description"] = description
        self._store(self.versions, api["pipeline_version_id"], {"api": api, "spec": spec, "platform": platform})
        return api

    def _template(self, filename: str, data: bytes, failure: str) -> tuple[dict, dict | None]:
        """The server's NewV2SpecTemplate: the first YAML document must be a 2.1.0 PipelineSpec."""
        if not filename.endswith((".yaml", ".yml")):
            raise Reject(400, f"{failure}: the KFP stand-in reads .yaml/.yml packages only, not {filename!r}")
        try:
            docs = [d for d in yaml.safe_load_all(data.decode("utf-8")) if d is not None]
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise Reject(400, f"{failure}: Invalid input error: unable to decode yaml document: {exc}") from None
        if not docs or not isinstance(docs[0], dict):
            raise Reject(400, f"{failure}: Invalid input error: no pipeline spec is provided")
        spec = _parse_spec(docs[0], failure)
        platform: dict = {}
        for doc in docs[1:]:
            try:
                json_format.ParseDict(doc, pipeline_spec_pb2.PlatformSpec())
            except (json_format.ParseError, TypeError, AttributeError) as exc:
                raise Reject(400, f"{failure}: Invalid input error: cannot unmarshal platform specific configs: "
                                  f"{exc}") from None
            platform.update(doc)
        return spec, platform or None

    # ------------------------------------------------------------------ experiments

    def _create_experiment(self, req: Request) -> dict:
        body = _json_object(req)
        name = (body.get("display_name") or "").strip()
        if not name:
            raise Reject(400, "Failed to create an experiment: Invalid input error: Experiment name is empty. "
                              "Please specify a valid experiment name")
        if body.get("namespace"):
            raise Reject(400, "Failed to create an experiment: Invalid input error: In single-user mode, "
                              "CreateExperimentRequest shouldn't contain a namespace")
        if any(e["display_name"] == name for e in self.experiments.values()):
            raise Reject(409, f"Failed to create an experiment: Already exist error: The name {name} already "
                              "exists. Please specify a new name")
        experiment = {"experiment_id": str(uuid.uuid4()), "display_name": name, "created_at": self._now(),
                      "storage_state": "AVAILABLE"}
        if body.get("description"):
            experiment["description"] = body["description"]
        self._store(self.experiments, experiment["experiment_id"], experiment)
        return experiment

    # ------------------------------------------------------------------ runs

    def _create_run(self, req: Request) -> dict:
        failure = "Failed to create a run"
        body = _json_object(req)
        if not (body.get("display_name") or "").strip():
            raise Reject(400, f"{failure}: Invalid input error: The run name is empty. Please specify a valid name")
        self._experiment(body, failure)
        spec = self._pipeline_source(body, failure)
        _check_inputs(spec, body.get("runtime_config") or {}, failure)
        now = self._now()
        run = {key: copy.deepcopy(body[key]) for key in (
            "experiment_id", "display_name", "description", "pipeline_spec", "pipeline_version_reference",
            "runtime_config", "service_account") if body.get(key) is not None}
        # As KFP 2.5 answers for a run that has not finished: the epoch, not an absent field.
        run.update({"run_id": str(uuid.uuid4()), "storage_state": "AVAILABLE", "created_at": now,
                    "finished_at": "1970-01-01T00:00:00Z",
                    "scheduled_at": now, "state": "PENDING", "state_history": [{"update_time": now,
                                                                                "state": "PENDING"}]})
        run.setdefault("service_account", "pipeline-runner")
        self._store(self.runs, run["run_id"], run)
        return run

    def _create_recurring_run(self, req: Request) -> dict:
        failure = "Failed to create a recurring run"
        body = _json_object(req)
        if not (body.get("display_name") or "").strip():
            raise Reject(400, f"{failure}: Invalid input error: The recurring run name is empty. "
                              "Please specify a valid name")
        self._experiment(body, failure)
        spec = self._pipeline_source(body, failure)
        _check_inputs(spec, body.get("runtime_config") or {}, failure)
        try:
            concurrency = int(body.get("max_concurrency") or 0)
        except (TypeError, ValueError):
            raise Reject(400, f"{failure}: invalid value for int64 field max_concurrency: "
                              f"{body.get('max_concurrency')!r}") from None
        if not 1 <= concurrency <= 10:
            raise Reject(400, f"{failure}: Invalid input error: The max concurrency of the recurring run is out "
                              f"of range. Support 1-10. Received {concurrency}.")
        if self.required_max_concurrency is not None and concurrency != self.required_max_concurrency:
            raise Reject(400, f"{failure}: stand-in policy: tinymlops recurring runs need max_concurrency "
                              f"{self.required_max_concurrency}, received {concurrency}")
        _check_trigger(body.get("trigger") or {}, failure)
        mode = body.get("mode") or "ENABLE"
        if mode not in ("ENABLE", "DISABLE"):
            raise Reject(400, f"{failure}: Invalid input error: unknown mode {mode!r}")
        now = self._now()
        recurring = {key: copy.deepcopy(body[key]) for key in (
            "experiment_id", "display_name", "description", "pipeline_spec", "pipeline_version_reference",
            "runtime_config", "service_account", "trigger") if body.get(key) is not None}
        recurring.update({"recurring_run_id": str(uuid.uuid4()), "max_concurrency": str(concurrency),
                          "mode": mode, "status": "ENABLED" if mode == "ENABLE" else "DISABLED",
                          "created_at": now, "updated_at": now})
        if body.get("no_catchup"):
            recurring["no_catchup"] = True  # protojson leaves out a false bool
        recurring.setdefault("service_account", "pipeline-runner")
        self._store(self.recurring_runs, recurring["recurring_run_id"], recurring)
        return recurring

    def _experiment(self, body: dict, failure: str) -> dict:
        experiment_id = body.get("experiment_id")
        if not experiment_id:
            raise Reject(400, f"{failure}: Invalid input error: the KFP stand-in needs an experiment_id "
                              "(the real server would use the Default experiment)")
        if experiment_id not in self.experiments:
            raise Reject(404, f"{failure}: ResourceNotFoundError: Experiment {experiment_id} not found")
        return self.experiments[experiment_id]

    def _pipeline_source(self, body: dict, failure: str) -> dict:
        """The PipelineSpec a run uses: from the referenced version, or inline (maybe with a platform spec)."""
        ref, inline = body.get("pipeline_version_reference"), body.get("pipeline_spec")
        if bool(ref) == bool(inline):
            raise Reject(400, f"{failure}: Invalid input error: Please specify a pipeline by providing a (1) "
                              "pipeline version ID or (2) pipeline spec, and not both")
        if inline:
            if not isinstance(inline, dict):
                raise Reject(400, f"{failure}: Invalid input error: pipeline_spec is not a JSON object")
            if "root" not in inline and isinstance(inline.get("pipeline_spec"), dict):
                platform = inline.get("platform_spec") or {}
                try:
                    json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec())
                except (json_format.ParseError, TypeError, AttributeError) as exc:
                    raise Reject(400, f"{failure}: Invalid input error: invalid platform spec: {exc}") from None
                inline = inline["pipeline_spec"]
            return _parse_spec(inline, failure)
        version_id = ref.get("pipeline_version_id")
        if not version_id:
            raise Reject(400, f"{failure}: Invalid input error: pipeline_version_reference needs a "
                              "pipeline_version_id")
        if version_id not in self.versions:
            raise Reject(404, f"{failure}: ResourceNotFoundError: PipelineVersion {version_id} not found")
        version = self.versions[version_id]
        if ref.get("pipeline_id") and ref["pipeline_id"] != version["api"]["pipeline_id"]:
            raise Reject(400, f"{failure}: Invalid input error: pipeline version {version_id} does not belong "
                              f"to pipeline {ref['pipeline_id']}")
        return version["spec"]

    # ------------------------------------------------------------------ listing

    def _list_runs(self, req: Request, key: str, table: dict[str, dict]) -> dict:
        items = list(table.values())
        experiment_id = req.arg("experiment_id")
        if experiment_id:
            if experiment_id not in self.experiments:
                raise Reject(404, f"Failed to list {key}: ResourceNotFoundError: Experiment {experiment_id} "
                                  "not found")
            items = [i for i in items if i.get("experiment_id") == experiment_id]
        return self._list(req, key, items)

    def _list(self, req: Request, key: str, items) -> dict:
        if req.arg("namespace"):
            raise Reject(400, f"Failed to list {key}: Invalid input error: Namespace should not be provided in "
                              "single-user mode")
        items = [i for i in items if _matches(i, _filter(req.arg("filter")))]
        items = self._sorted(items, req.arg("sort_by") or "")
        try:
            size = int(req.arg("page_size") or 10)
            start = int(req.arg("page_token") or 0)
        except ValueError:
            raise Reject(400, "Invalid input error: invalid page_size or page_token") from None
        page = items[start:start + size]
        answer: dict[str, Any] = {}
        if page:  # protojson leaves out empty repeated fields and zero numbers
            answer[key] = copy.deepcopy(page)
            answer["total_size"] = len(items)
        if start + size < len(items):
            answer["next_page_token"] = str(start + size)
        return answer

    def _sorted(self, items: list[dict], sort_by: str) -> list[dict]:
        field_name, _, direction = sort_by.partition(" ")
        if field_name not in ("", "created_at", "display_name", "name") or direction not in ("", "desc", "asc"):
            raise Reject(400, f"Invalid input error: Invalid sorting field: {sort_by!r}")
        if field_name in ("display_name", "name"):
            keyed = sorted(items, key=lambda i: (i.get("display_name", ""), self._order[_id_of(i)]))
        else:
            keyed = sorted(items, key=lambda i: (i.get("created_at", ""), self._order[_id_of(i)]))
        return keyed[::-1] if direction == "desc" else keyed

    # ------------------------------------------------------------------ bookkeeping

    def _store(self, table: dict, key: str, value: dict) -> None:
        table[key] = value
        self._order[key] = next(self._seq)

    @staticmethod
    def _now() -> str:
        return dt.datetime.now(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    standin: KfpStandIn

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve()

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        req = Request(method=self.command, path=url.path, query=parse_qs(url.query, keep_blank_values=True),
                      headers={k.lower(): v for k, v in self.headers.items()})
        content_type = self.headers.get("Content-Type", "")
        try:
            if content_type.startswith("multipart/form-data"):
                req.fields, req.files = _multipart(content_type, raw)
            elif raw:
                req.json = json.loads(raw)
        except ValueError as exc:
            status, body, style = 400, Reject(400, f"Invalid input error: cannot parse the request body: {exc}"), ""
            with self.standin._lock:
                self.standin.requests.append(req)
        else:
            status, body, style = self.standin.handle(req)
        req.status = status
        if isinstance(body, Reject):
            if style == "upload":
                body = {"error_message": body.message, "error_details": body.details}
            else:
                body = {"error": body.message, "code": GRPC_CODES.get(status, 2), "message": body.message,
                        "details": [{"@type": "type.googleapis.com/google.rpc.Status",
                                     "code": GRPC_CODES.get(status, 2), "message": body.details}]}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _multipart(content_type: str, raw: bytes) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    if not message.is_multipart():
        raise ValueError("not a multipart body")
    fields, files = {}, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = (part.get_filename(), data)
        else:
            fields[name] = data.decode()
    return fields, files


def _json_object(req: Request) -> dict:
    if not isinstance(req.json, dict):
        raise Reject(400, "Invalid input error: the request body is not a JSON object")
    return req.json


def _parse_spec(doc: dict, failure: str) -> dict:
    try:
        spec = json_format.ParseDict(doc, pipeline_spec_pb2.PipelineSpec())
    except (json_format.ParseError, TypeError, AttributeError) as exc:
        raise Reject(400, f"{failure}: Invalid input error: invalid v2 pipeline spec: {exc}") from None
    if spec.schema_version != "2.1.0":
        raise Reject(400, f"{failure}: Invalid input error: KFP only supports schema version 2.1.0, but the "
                          f"pipeline spec has version {spec.schema_version}")
    if not spec.pipeline_info.name:
        raise Reject(400, f"{failure}: Invalid input error: invalid v2 pipeline spec: name is empty")
    if not spec.HasField("root"):
        raise Reject(400, f"{failure}: Invalid input error: invalid v2 pipeline spec: root component is empty")
    return doc


def _check_inputs(spec: dict, runtime_config: dict, failure: str) -> None:
    """The server's validatePipelineJobInputs, on the JSON values it receives."""
    declared = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    given = runtime_config.get("parameters") or {}
    if not isinstance(given, dict):
        raise Reject(400, f"{failure}: Invalid input error: runtime_config.parameters is not a JSON object")
    prefix = f"{failure}: Invalid input error: invalid pipeline job inputs: "
    for name, definition in declared.items():
        if name not in given:
            if not definition.get("isOptional") and "defaultValue" not in definition:
                raise Reject(400, prefix + f"parameter {name} is not optional, yet has neither default value nor "
                                           "user provided value")
            continue
        kind = definition.get("parameterType", "")
        types = PARAM_TYPES.get(kind)
        value = given[name]
        if types is None:
            raise Reject(400, prefix + f"input parameter {name} requires type unknown")
        if not isinstance(value, types) or (kind != "BOOLEAN" and isinstance(value, bool)):
            raise Reject(400, prefix + f"input parameter {name} requires type {kind.lower()}, but the input "
                                       "parameter is not of that value type")
    extra = sorted(set(given) - set(declared))
    if extra:
        raise Reject(400, prefix + "parameter(s) provided are not required by pipeline: " + ", ".join(extra))


def _check_trigger(trigger: dict, failure: str) -> None:
    cron = (trigger.get("cron_schedule") or {}).get("cron")
    periodic = trigger.get("periodic_schedule")
    if cron is None and periodic is None:
        raise Reject(400, f"{failure}: Invalid input error: the KFP stand-in needs a cron or periodic trigger")
    if cron is not None:
        fields = cron.split()
        ok = bool(CRON_DESCRIPTOR.match(cron.strip())) or (
            len(fields) == 6 and all(CRON_FIELD.match(f) for f in fields))
        if not ok:
            raise Reject(400, f"{failure}: Invalid input error: Schedule cron is not a supported format"
                              f"(https://godoc.org/github.com/robfig/cron). Error: Expected exactly 6 fields, "
                              f"found {len(fields)}: {cron}")
    if periodic is not None:
        try:
            interval = int(periodic.get("interval_second") or 0)
        except (TypeError, ValueError):
            interval = 0
        if interval < 1:
            raise Reject(400, f"{failure}: Invalid input error: Found invalid period schedule interval "
                              f"{interval}. Set at interval to least 1 second.")


def _filter(text: str | None) -> list[tuple[str, str, str]]:
    """The Filter proto's predicates as (key, operation, string value)."""
    if not text:
        return []
    try:
        data = json.loads(text)
        predicates = data.get("predicates", [])
    except (ValueError, AttributeError) as exc:
        raise Reject(400, f"Invalid input error: Failed to parse valid filter from {text!r}: {exc}") from None
    out = []
    for p in predicates:
        op = FILTER_OPS.get(p.get("operation") or p.get("op"))
        key = p.get("key")
        value = p.get("stringValue", p.get("string_value"))
        if op is None or key not in ("display_name", "name") or not isinstance(value, str):
            raise Reject(501, f"the KFP stand-in implements only EQUALS/IS_SUBSTRING string filters on "
                              f"display_name, not {p}")
        out.append(("display_name", op, value))
    return out


def _matches(item: dict, predicates: list[tuple[str, str, str]]) -> bool:
    for key, op, value in predicates:
        have = item.get(key, "")
        if (op == "EQUALS" and have != value) or (op == "IS_SUBSTRING" and value not in have):
            return False
    return True


def _id_of(item: dict) -> str:
    for key in ("pipeline_version_id", "run_id", "recurring_run_id", "experiment_id", "pipeline_id"):
        if key in item:
            return item[key]
    raise KeyError(item)
