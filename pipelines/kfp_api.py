"""Upload, run, schedule and list tinymlops pipelines on a Kubeflow Pipelines cluster.

Thin typed functions over `kfp.Client` (kfp 2.13, the KFP 2.5 backend's v2beta1 REST API).
Every failure is one `KfpApiError` with a message a person can act on: an unreachable host,
a request the server rejected (with the server's own message), or a request we refuse to send
(a 5-field cron, a parameter the pipeline does not declare). Results are plain JSON-ready dicts.

Which pipeline a run uses: `run` and `schedule` take either
  * the display name of an uploaded pipeline (`drift-monitor`): the run is created from its latest
    version (or the one named by `version=`), as the KFP UI does. This is what a Kubeflow user
    expects: the run is listed under the pipeline and names the exact version it ran. Upload first.
  * a compiled package path (`pipelines/compiled/drift_monitor.yaml`, any `.yaml/.yml/.zip/.tar.gz/.tgz`
    or a `pathlib.Path`): the spec is sent inside the run itself and no pipeline is created.

Authentication: an optional bearer token (argument, or the KF_PIPELINES_TOKEN environment variable)
is sent as `Authorization: Bearer ...`. It is never printed, logged or put into an error message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.store import credential

if TYPE_CHECKING:
    import kfp

TOKEN_ENV = "KF_PIPELINES_TOKEN"
ENDPOINT_ENV = "KF_PIPELINES_ENDPOINT"
HEALTHZ_PATH = "/apis/v2beta1/healthz"
PACKAGE_SUFFIXES = (".yaml", ".yml", ".zip", ".tar.gz", ".tgz")
CRON_FORMAT = "SECONDS MINUTES HOURS DAY-OF-MONTH MONTH DAY-OF-WEEK"

log = logging.getLogger(__name__)


class KfpApiError(RuntimeError):
    """A KFP API call that could not be made or that the server rejected.

    `host` is the API endpoint, `status` the HTTP status (None when no answer came or the request
    was refused before it was sent) and `server_message` the server's own words, when it gave some.
    """

    def __init__(self, message: str, *, host: str | None = None, status: int | None = None,
                 server_message: str | None = None):
        super().__init__(message)
        self.host, self.status, self.server_message = host, status, server_message


# --------------------------------------------------------------------------------------------- connect


def connect(host: str, *, token: str | None = None, namespace: str | None = None,
            timeout_s: float = 10.0) -> kfp.Client:
    """A `kfp.Client` for the KFP API at `host`, after checking that the API answers.

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
        raise KfpApiError(f"cannot connect to the KFP API at {host}: {_short(exc)}", host=host) from None
    client._tinymlops_host = host  # for messages and UI links; kfp keeps it in a private config
    log.info("connected to the KFP API at %s", host)
    return client


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
            f"cannot reach the KFP API at {host} (GET {HEALTHZ_PATH}): {_transport_reason(exc)}. "
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
        message = _body_message(resp.data) or resp.reason
        hint = {401: f"; set ${TOKEN_ENV} to a valid token", 403: f"; set ${TOKEN_ENV} to a valid token",
                404: "; is this the pipelines API endpoint (a full Kubeflow serves it under /pipeline)?"}.get(
                    resp.status, "")
        raise KfpApiError(f"the KFP API at {host} answered GET {HEALTHZ_PATH} with HTTP {resp.status}: "
                          f"{message}{hint}", host=host, status=resp.status, server_message=message)
    try:
        json.loads(resp.data or b"{}")
    except ValueError:
        raise KfpApiError(f"{host} answered GET {HEALTHZ_PATH} with something that is not the KFP API "
                          f"({_body_message(resp.data)!r}); is the host the pipelines endpoint?", host=host) from None


# ------------------------------------------------------------------------------------------- pipelines


def upload(client: kfp.Client, name: str, package_path: str | Path, version: str | None = None,
           description: str | None = None) -> dict:
    """Upload a compiled pipeline as `name`, or as a new version of the existing pipeline `name`.

    The pipeline is looked up by display name. A first upload creates the pipeline and its first
    version, which the server names after the pipeline (`version` is not used then). Later uploads
    add a version named `version`, or by default `<name>-<sha256 of the package, 12 hex>`, so
    uploading the same package twice returns the existing version ("created": False) instead of
    piling up duplicates. An explicit `version` that already exists is an error.
    """
    package = _existing_package(package_path)
    if not name or not name.strip():
        raise KfpApiError("a pipeline needs a non-empty name")
    pipeline_id = _pipeline_id(client, name)
    if pipeline_id is None:
        with _api(client, f"upload of pipeline {name!r} from {package}"):
            pipeline = client.upload_pipeline(str(package), pipeline_name=name, description=description)
        latest = _latest_version(client, pipeline.pipeline_id, name)
        return _version_dict(client, name, latest, created=True, new_pipeline=True)

    if version is None:  # the first version is named after the pipeline, not the package: compare specs
        latest = _latest_version(client, pipeline_id, name)
        spec = _read_package_spec(package)
        if spec and _unwrap_spec(getattr(latest, "pipeline_spec", None)) == spec:
            return _version_dict(client, name, latest, created=False, new_pipeline=False)
    version_name = version or f"{name}-{hashlib.sha256(package.read_bytes()).hexdigest()[:12]}"
    existing = _version_named(client, pipeline_id, version_name)
    if existing is not None:
        if version:
            raise KfpApiError(f"pipeline {name!r} already has a version named {version!r} "
                              f"(id {existing.pipeline_version_id}); choose another version name",
                              host=_host(client))
        return _version_dict(client, name, existing, created=False, new_pipeline=False)
    with _api(client, f"upload of version {version_name!r} of pipeline {name!r} from {package}"):
        uploaded = client.upload_pipeline_version(str(package), pipeline_version_name=version_name,
                                                  pipeline_id=pipeline_id, description=description)
    return _version_dict(client, name, uploaded, created=True, new_pipeline=False)


def _pipeline_id(client: kfp.Client, name: str) -> str | None:
    with _api(client, f"lookup of pipeline {name!r}"):
        return client.get_pipeline_id(name)


def _latest_version(client: kfp.Client, pipeline_id: str, name: str) -> Any:
    with _api(client, f"listing of the versions of pipeline {name!r}"):
        found = client.list_pipeline_versions(pipeline_id, page_size=1, sort_by="created_at desc")
    if not found.pipeline_versions:
        raise KfpApiError(f"pipeline {name!r} ({pipeline_id}) has no versions; upload one", host=_host(client))
    return found.pipeline_versions[0]


def _version_named(client: kfp.Client, pipeline_id: str, version_name: str) -> Any | None:
    with _api(client, f"lookup of pipeline version {version_name!r}"):
        found = client.list_pipeline_versions(pipeline_id, page_size=2, filter=_name_filter(version_name))
    versions = [v for v in (found.pipeline_versions or []) if v.display_name == version_name]
    return versions[0] if versions else None


def _version_dict(client: kfp.Client, name: str, version: Any, *, created: bool, new_pipeline: bool) -> dict:
    pid, vid = version.pipeline_id, version.pipeline_version_id
    return {"pipeline_id": pid, "pipeline_name": name, "version_id": vid, "version_name": version.display_name,
            "created": created, "new_pipeline": new_pipeline, "created_at": _iso(version.created_at),
            "url": f"{_host(client)}/#/pipelines/details/{pid}/version/{vid}"}


# ------------------------------------------------------------------------------------------------ runs


def run(client: kfp.Client, pipeline: str | Path, experiment: str, params: dict[str, Any],
        run_name: str | None = None, *, version: str | None = None) -> dict:
    """Start one run of `pipeline` (an uploaded pipeline's name, or a package path) in `experiment`.

    The experiment is created if missing. `params` are the pipeline's parameters, e.g.
    {"store_url": ..., "config_json": Config().to_json()}; they are checked against the parameters
    the pipeline declares before anything is submitted. `run_name` defaults to "<pipeline> <UTC time>".
    """
    source = _source(client, pipeline, version)
    _check_params(source, params)
    experiment_id = _experiment_id(client, experiment, create=True)
    run_name = run_name or f"{source['name']} {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S}"
    with _api(client, f"run {run_name!r} of {source['label']}"):
        created = client.run_pipeline(experiment_id=experiment_id, job_name=run_name, params=dict(params),
                                      **source["kwargs"])
    return {"run_id": created.run_id, "run_name": created.display_name or run_name, "state": _enum(created.state),
            "experiment_id": experiment_id, "experiment_name": experiment, **_source_dict(source),
            "parameters": sorted(params), "created_at": _iso(created.created_at),
            "url": f"{_host(client)}/#/runs/details/{created.run_id}"}


def run_state(client: kfp.Client, run_id: str) -> str:
    """A run's state as KFP names it: PENDING, RUNNING, SUCCEEDED, FAILED, CANCELING, CANCELED, ..."""
    with _api(client, f"reading run {run_id}"):
        return _enum(client.get_run(run_id).state) or "RUNTIME_STATE_UNSPECIFIED"


def schedule(client: kfp.Client, pipeline: str | Path, experiment: str, cron: str, params: dict[str, Any], name: str,
             *, version: str | None = None) -> dict:
    """Create an enabled recurring run `name`: `cron` (6 fields, seconds first), max_concurrency=1, no catch-up.

    The cron is checked before any request. A recurring run of an uploaded pipeline is pinned to its
    latest version (or `version`) now; schedule again after uploading a version you want it to use.
    An enabled recurring run with the same name in the experiment is an error (two would both fire).
    The cluster's scheduled-workflow controller reads the cron in its own time zone (UTC by default).
    """
    cron = validate_cron(cron)
    if not name or not name.strip():
        raise KfpApiError("a recurring run needs a non-empty name")
    source = _source(client, pipeline, version)
    _check_params(source, params)
    experiment_id = _experiment_id(client, experiment, create=True)
    with _api(client, f"lookup of recurring runs named {name!r}"):
        found = client.list_recurring_runs(experiment_id=experiment_id, page_size=10, filter=_name_filter(name))
    clash = [r for r in (found.recurring_runs or []) if r.display_name == name and _enum(r.mode) != "DISABLE"]
    if clash:
        raise KfpApiError(f"experiment {experiment!r} already has an enabled recurring run named {name!r} "
                          f"(id {clash[0].recurring_run_id}); disable or delete it first, or pick another name",
                          host=_host(client))
    with _api(client, f"recurring run {name!r} of {source['label']}"):
        created = client.create_recurring_run(experiment_id=experiment_id, job_name=name, cron_expression=cron,
                                              max_concurrency=1, no_catchup=True, enabled=True,
                                              params=dict(params), **source["kwargs"])
    trigger = getattr(getattr(created, "trigger", None), "cron_schedule", None)
    return {"recurring_run_id": created.recurring_run_id, "name": created.display_name or name,
            "cron": getattr(trigger, "cron", None) or cron, "max_concurrency": int(created.max_concurrency or 1),
            "no_catchup": bool(created.no_catchup), "mode": _enum(created.mode),
            "experiment_id": experiment_id, "experiment_name": experiment, **_source_dict(source),
            "parameters": sorted(params), "created_at": _iso(created.created_at),
            "url": f"{_host(client)}/#/recurringrun/details/{created.recurring_run_id}"}


def list_runs(client: kfp.Client, experiment: str | None = None, page_size: int = 20) -> list[dict]:
    """The latest `page_size` runs, newest first: of one experiment (by name) or all that the client can see."""
    if not 1 <= page_size <= 200:
        raise KfpApiError(f"page_size must be between 1 and 200, not {page_size}")
    kwargs: dict[str, Any] = {"page_size": page_size, "sort_by": "created_at desc"}
    if experiment:
        kwargs["experiment_id"] = _experiment_id(client, experiment, create=False)
    with _api(client, "listing of runs" + (f" in experiment {experiment!r}" if experiment else "")):
        found = client.list_runs(**kwargs)
    host = _host(client)
    runs = []
    for r in found.runs or []:
        ref = r.pipeline_version_reference
        runs.append({"run_id": r.run_id, "name": r.display_name, "state": _enum(r.state),
                     "created_at": _iso(r.created_at), "finished_at": _iso(r.finished_at),
                     "experiment_id": r.experiment_id,
                     "pipeline_id": getattr(ref, "pipeline_id", None),
                     "version_id": getattr(ref, "pipeline_version_id", None) or r.pipeline_version_id,
                     "recurring_run_id": r.recurring_run_id or None,
                     "error": getattr(r.error, "message", None) if r.error else None,
                     "url": f"{host}/#/runs/details/{r.run_id}"})
    return runs


# ------------------------------------------------------------------------------------------------ cron

_CRON_FIELDS = (  # name, low, high, names
    ("seconds", 0, 59, None),
    ("minutes", 0, 59, None),
    ("hours", 0, 23, None),
    ("day-of-month", 1, 31, None),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day-of-week", 0, 6, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def validate_cron(cron: str) -> str:
    """The cron, whitespace-normalised, if KFP's scheduler (robfig/cron) reads it as intended; else KfpApiError.

    KFP takes 6 fields, seconds first: SECONDS MINUTES HOURS DAY-OF-MONTH MONTH DAY-OF-WEEK, e.g.
    `0 0 3 * * *` (03:00 every day) or `0 */30 * * * *` (every 30 minutes); or a descriptor such as
    `@daily` / `@every 6h`. A Unix 5-field cron is refused: the server would accept it with the
    fields shifted (seconds first), silently running at other times than meant.
    """
    text = " ".join(str(cron or "").split())
    if text.startswith("@"):
        if text in _DESCRIPTORS or (text.startswith("@every ") and _GO_DURATION.match(text[7:])):
            return text
        raise KfpApiError(f"cron {cron!r}: unknown descriptor; use one of {sorted(_DESCRIPTORS)} or "
                          f"'@every <duration>' (e.g. '@every 6h'), or 6 fields: {CRON_FORMAT}")
    fields = text.split(" ") if text else []
    if len(fields) != 6:
        hint = f"; did you mean '0 {text}' (at second 0)?" if len(fields) == 5 else ""
        raise KfpApiError(f"cron {cron!r} has {len(fields)} field(s); KFP recurring runs need 6, seconds first: "
                          f"{CRON_FORMAT} (e.g. '0 0 3 * * *' for 03:00 every day){hint}")
    for value, (field, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        problem = _cron_field_problem(value, low, high, names)
        if problem:
            raise KfpApiError(f"cron {cron!r}: {field} field {value!r} {problem}; expected 6 fields: {CRON_FORMAT}")
    return text


def _cron_field_problem(value: str, low: int, high: int, names: tuple[str, ...] | None) -> str | None:
    def number(token: str) -> int | None:
        if token.isdigit():
            return int(token)
        if names and token.upper() in names:
            return names.index(token.upper()) + low
        return None

    for part in value.split(","):
        span, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return f"has an invalid step {step!r} (a positive number)"
        if span in ("*", "?"):
            continue
        start, dash, end = span.partition("-")
        first, last = number(start), (number(end) if dash else None)
        if first is None or (dash and last is None):
            allowed = f"{low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
            return f"is not a number, range, list or '*' (allowed values {allowed})"
        for n in (first, last):
            if n is not None and not low <= n <= high:
                return f"is out of range {low}-{high}"
        if last is not None and last < first:
            return f"has a range that ends before it starts ({span})"
    return None


# ------------------------------------------------------------------------------------------- internals


def _source(client: kfp.Client, pipeline: str | Path, version: str | None) -> dict:
    """Where a run's spec comes from: an uploaded pipeline version, or a package file sent with the run."""
    if isinstance(pipeline, Path) or str(pipeline).endswith(PACKAGE_SUFFIXES):
        package = _existing_package(pipeline)
        if version:
            raise KfpApiError("version= picks a version of an uploaded pipeline; a package file has none")
        spec = _read_package_spec(package)
        return {"kind": "package", "name": spec.get("pipelineInfo", {}).get("name") or package.stem,
                "label": f"package {package}", "package": str(package), "spec": spec,
                "kwargs": {"pipeline_package_path": str(package)}}
    name = str(pipeline)
    pipeline_id = _pipeline_id(client, name)
    if pipeline_id is None:
        raise KfpApiError(f"no pipeline named {name!r} at {_host(client)}; upload it first, "
                          "or pass the compiled package's path", host=_host(client))
    chosen = _version_named(client, pipeline_id, version) if version else _latest_version(client, pipeline_id, name)
    if chosen is None:
        raise KfpApiError(f"pipeline {name!r} has no version named {version!r}", host=_host(client))
    return {"kind": "version", "name": name, "label": f"pipeline {name!r} version {chosen.display_name!r}",
            "pipeline_id": pipeline_id, "version_id": chosen.pipeline_version_id,
            "version_name": chosen.display_name, "spec": _unwrap_spec(chosen.pipeline_spec),
            "kwargs": {"pipeline_id": pipeline_id, "version_id": chosen.pipeline_version_id}}


def _source_dict(source: dict) -> dict:
    if source["kind"] == "package":
        return {"pipeline_name": source["name"], "package": source["package"],
                "pipeline_id": None, "version_id": None, "version_name": None}
    return {"pipeline_name": source["name"], "package": None, "pipeline_id": source["pipeline_id"],
            "version_id": source["version_id"], "version_name": source["version_name"]}


def _existing_package(path: str | Path) -> Path:
    package = Path(path)
    if not package.is_file():
        raise KfpApiError(f"pipeline package {str(path)!r} not found (compile with `make compile`)")
    return package


def _read_package_spec(package: Path) -> dict:
    """The package's PipelineSpec as a dict (what kfp would send), or KfpApiError if it is not one."""
    import yaml
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    if package.suffix not in (".yaml", ".yml"):
        return {}  # archives: kfp itself unpacks and checks them when the run is sent
    try:
        doc = next(iter(yaml.safe_load_all(package.read_text())), None)
        json_format.ParseDict(doc or {}, pipeline_spec_pb2.PipelineSpec())
    except Exception as exc:  # noqa: BLE001 - yaml, protobuf and OS errors all mean "not a usable package"
        raise KfpApiError(f"pipeline package {package} is not a compiled KFP pipeline: {_short(exc)}") from None
    if not doc:
        raise KfpApiError(f"pipeline package {package} is empty")
    return doc


def _unwrap_spec(spec: Any) -> dict:
    """A version's pipeline_spec: the spec itself, or {"pipeline_spec": ..., "platform_spec": ...}."""
    if not isinstance(spec, dict):
        return {}
    if "root" not in spec and isinstance(spec.get("pipeline_spec"), dict):
        return spec["pipeline_spec"]
    return spec


_PARAM_TYPES = {"STRING": (str,), "NUMBER_INTEGER": (int,), "NUMBER_DOUBLE": (int, float), "BOOLEAN": (bool,),
                "LIST": (list, tuple), "STRUCT": (dict,)}


def _check_params(source: dict, params: dict[str, Any]) -> None:
    """Refuse parameters the pipeline does not declare, of the wrong type, or missing required ones."""
    if not isinstance(params, dict):
        raise KfpApiError(f"params must be a dict of parameter name to value, not {type(params).__name__}")
    spec = source.get("spec") or {}
    if "root" not in spec:
        return  # an archive package or a server that did not return the spec: the server checks
    declared = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    label = f"{source['label']} takes parameters {sorted(declared) or 'none'}"
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise KfpApiError(f"{label}; it does not declare {unknown}")
    missing = sorted(n for n, d in declared.items()
                     if n not in params and not d.get("isOptional") and "defaultValue" not in d)
    if missing:
        raise KfpApiError(f"{label}; missing required {missing}")
    for n, value in params.items():
        kind = declared[n].get("parameterType", "")
        types = _PARAM_TYPES.get(kind)
        if types and (not isinstance(value, types) or (bool not in types and isinstance(value, bool))):
            raise KfpApiError(f"{label}; {n} must be a {kind.lower()}, not {type(value).__name__}"
                              + (" (pass JSON text, e.g. Config().to_json())" if kind == "STRING" else ""))


def _experiment_id(client: kfp.Client, name: str, *, create: bool) -> str:
    if not name or not name.strip():
        raise KfpApiError("an experiment needs a non-empty name")
    if create:
        with _api(client, f"creation of experiment {name!r}"):
            return client.create_experiment(name=name).experiment_id  # gets it if it exists
    try:
        with _api(client, f"lookup of experiment {name!r}"):
            return client.get_experiment(experiment_name=name).experiment_id
    except KfpApiError as exc:
        if exc.status is None and "No experiment is found" in str(exc):
            raise KfpApiError(f"no experiment named {name!r} at {_host(client)}", host=_host(client)) from None
        raise


def _name_filter(name: str) -> str:
    # As kfp.Client.get_pipeline_id builds it: operation 1 is EQUALS in the v2beta1 Filter proto.
    return json.dumps({"predicates": [{"operation": 1, "key": "display_name", "stringValue": name}]})


@contextlib.contextmanager
def _api(client: kfp.Client, action: str) -> Iterator[None]:
    """Map what kfp and its REST layer raise to one KfpApiError; swallow kfp's "details: <link>" prints."""
    import urllib3
    from kfp_server_api.exceptions import ApiException

    host = _host(client)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    except KfpApiError:
        raise
    except ApiException as exc:
        body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
        message = _body_message(body) or (exc.reason or "").strip() or "no message"
        status = f"HTTP {exc.status}" if exc.status else "no HTTP answer"
        raise KfpApiError(f"the KFP API at {host} rejected the {action}: {status}: {message}",
                          host=host, status=exc.status or None, server_message=message) from None
    except urllib3.exceptions.HTTPError as exc:
        raise KfpApiError(f"lost the KFP API at {host} during the {action}: {_transport_reason(exc)}",
                          host=host) from None
    except ValueError as exc:  # kfp's own checks: several pipelines with one name, no experiment, bad package
        raise KfpApiError(f"{action} at {host}: {exc}", host=host) from None


def _host(client: kfp.Client) -> str:
    host = getattr(client, "_tinymlops_host", None) or getattr(getattr(client, "_existing_config", None), "host", "")
    return host or "the KFP API"


def _body_message(body: Any) -> str:
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


def _transport_reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "Connection refused" in text or "ConnectionRefused" in type(reason).__name__:
        return "connection refused (nothing listens there)"
    if "timed out" in text.lower():
        return "timed out"
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "unknown host name"
    return _short(reason)


def _short(exc: Any) -> str:
    text = " ".join(str(exc).split())
    text = re.sub(r"<urllib3\.[^>]*>:?\s*", "", text)
    return text[:300] or type(exc).__name__


def _iso(value: Any) -> str | None:
    """An ISO time, or None where the API leaves it unset (the epoch, for a run that has not finished)."""
    if value is None:
        return None
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return None if text.startswith("1970-01-01T00:00:00") else text


def _enum(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))
