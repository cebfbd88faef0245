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

The connection (host, token, the healthz probe) is pipelines/kfp_connect.py; errors and their messages
pipelines/kfp_errors.py; reading a package and checking a run's parameters pipelines/kfp_package.py; the
cron of a recurring run pipelines/cron.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from pipelines.cron import validate_cron
from pipelines.kfp_connect import ENDPOINT_ENV, TOKEN_ENV, KfpConnection, connect
from pipelines.kfp_errors import KfpApiError, api_errors
from pipelines.kfp_package import PACKAGE_SUFFIXES, check_params, existing_package, read_package_spec, unwrap_spec

# What the CLI and the tests use, from one module: connect first, then upload, run, schedule, list.
__all__ = ["ENDPOINT_ENV", "TOKEN_ENV", "KfpApiError", "KfpConnection", "connect", "list_runs", "run", "run_state",
           "schedule", "upload", "validate_cron"]


# ------------------------------------------------------------------------------------------- pipelines


def upload(connection: KfpConnection, name: str, package_path: str | Path, version: str | None = None,
           description: str | None = None) -> dict:
    """Upload a compiled pipeline as `name`, or as a new version of the existing pipeline `name`.

    The pipeline is looked up by display name. A first upload creates the pipeline and its first
    version, which the server names after the pipeline (`version` is not used then). Later uploads
    add a version named `version`, or by default `<name>-<sha256 of the package, 12 hex>`, so
    uploading the same package twice returns the existing version ("created": False) instead of
    piling up duplicates. An explicit `version` that already exists is an error.
    """
    package = existing_package(package_path)
    if not name or not name.strip():
        raise KfpApiError("a pipeline needs a non-empty name")
    pipeline_id = _pipeline_id(connection, name)
    if pipeline_id is None:
        with api_errors(connection.host, f"upload of pipeline {name!r} from {package}"):
            pipeline = connection.client.upload_pipeline(str(package), pipeline_name=name, description=description)
        latest = _latest_version(connection, pipeline.pipeline_id, name)
        return _version_dict(connection, name, latest, created=True, new_pipeline=True)

    if version is None:  # the first version is named after the pipeline, not the package: compare specs
        latest = _latest_version(connection, pipeline_id, name)
        spec = read_package_spec(package)
        if spec and unwrap_spec(getattr(latest, "pipeline_spec", None)) == spec:
            return _version_dict(connection, name, latest, created=False, new_pipeline=False)
    version_name = version or f"{name}-{hashlib.sha256(package.read_bytes()).hexdigest()[:12]}"
    existing = _version_named(connection, pipeline_id, version_name)
    if existing is not None:
        if version:
            raise KfpApiError(f"pipeline {name!r} already has a version named {version!r} "
                              f"(id {existing.pipeline_version_id}); choose another version name",
                              host=connection.host)
        return _version_dict(connection, name, existing, created=False, new_pipeline=False)
    with api_errors(connection.host, f"upload of version {version_name!r} of pipeline {name!r} from {package}"):
        uploaded = connection.client.upload_pipeline_version(str(package), pipeline_version_name=version_name,
                                                             pipeline_id=pipeline_id, description=description)
    return _version_dict(connection, name, uploaded, created=True, new_pipeline=False)


def _pipeline_id(connection: KfpConnection, name: str) -> str | None:
    with api_errors(connection.host, f"lookup of pipeline {name!r}"):
        return connection.client.get_pipeline_id(name)


def _latest_version(connection: KfpConnection, pipeline_id: str, name: str) -> Any:
    with api_errors(connection.host, f"listing of the versions of pipeline {name!r}"):
        found = connection.client.list_pipeline_versions(pipeline_id, page_size=1, sort_by="created_at desc")
    if not found.pipeline_versions:
        raise KfpApiError(f"pipeline {name!r} ({pipeline_id}) has no versions; upload one", host=connection.host)
    return found.pipeline_versions[0]


def _version_named(connection: KfpConnection, pipeline_id: str, version_name: str) -> Any | None:
    with api_errors(connection.host, f"lookup of pipeline version {version_name!r}"):
        found = connection.client.list_pipeline_versions(pipeline_id, page_size=2, filter=_name_filter(version_name))
    versions = [v for v in (found.pipeline_versions or []) if v.display_name == version_name]
    return versions[0] if versions else None


def _version_dict(connection: KfpConnection, name: str, version: Any, *, created: bool, new_pipeline: bool) -> dict:
    pid, vid = version.pipeline_id, version.pipeline_version_id
    return {"pipeline_id": pid, "pipeline_name": name, "version_id": vid, "version_name": version.display_name,
            "created": created, "new_pipeline": new_pipeline, "created_at": _iso(version.created_at),
            "url": f"{connection.host}/#/pipelines/details/{pid}/version/{vid}"}


# ------------------------------------------------------------------------------------------------ runs


def run(connection: KfpConnection, pipeline: str | Path, experiment: str, params: dict[str, Any],
        run_name: str | None = None, *, version: str | None = None) -> dict:
    """Start one run of `pipeline` (an uploaded pipeline's name, or a package path) in `experiment`.

    The experiment is created if missing. `params` are the pipeline's parameters, e.g.
    {"store_url": ..., "config_json": Config().to_json()}; they are checked against the parameters
    the pipeline declares before anything is submitted. `run_name` defaults to "<pipeline> <UTC time>".
    """
    source = _source(connection, pipeline, version)
    check_params(source, params)
    experiment_id = _experiment_id(connection, experiment, create=True)
    run_name = run_name or f"{source['name']} {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S}"
    with api_errors(connection.host, f"run {run_name!r} of {source['label']}"):
        created = connection.client.run_pipeline(experiment_id=experiment_id, job_name=run_name,
                                                 params=dict(params), **source["kwargs"])
    return {"run_id": created.run_id, "run_name": created.display_name or run_name, "state": _enum(created.state),
            "experiment_id": experiment_id, "experiment_name": experiment, **_source_dict(source),
            "parameters": sorted(params), "created_at": _iso(created.created_at),
            "url": f"{connection.host}/#/runs/details/{created.run_id}"}


def run_state(connection: KfpConnection, run_id: str) -> str:
    """A run's state as KFP names it: PENDING, RUNNING, SUCCEEDED, FAILED, CANCELING, CANCELED, ..."""
    with api_errors(connection.host, f"reading run {run_id}"):
        return _enum(connection.client.get_run(run_id).state) or "RUNTIME_STATE_UNSPECIFIED"


def schedule(connection: KfpConnection, pipeline: str | Path, experiment: str, cron: str, params: dict[str, Any],
             name: str, *, version: str | None = None) -> dict:
    """Create an enabled recurring run `name`: `cron` (6 fields, seconds first), max_concurrency=1, no catch-up.

    The cron is checked before any request. A recurring run of an uploaded pipeline is pinned to its
    latest version (or `version`) now; schedule again after uploading a version you want it to use.
    An enabled recurring run with the same name in the experiment is an error (two would both fire).
    The cluster's scheduled-workflow controller reads the cron in its own time zone (UTC by default).
    """
    cron = validate_cron(cron)
    if not name or not name.strip():
        raise KfpApiError("a recurring run needs a non-empty name")
    source = _source(connection, pipeline, version)
    check_params(source, params)
    experiment_id = _experiment_id(connection, experiment, create=True)
    with api_errors(connection.host, f"lookup of recurring runs named {name!r}"):
        found = connection.client.list_recurring_runs(experiment_id=experiment_id, page_size=10,
                                                      filter=_name_filter(name))
    clash = [r for r in (found.recurring_runs or []) if r.display_name == name and _enum(r.mode) != "DISABLE"]
    if clash:
        raise KfpApiError(f"experiment {experiment!r} already has an enabled recurring run named {name!r} "
                          f"(id {clash[0].recurring_run_id}); disable or delete it first, or pick another name",
                          host=connection.host)
    with api_errors(connection.host, f"recurring run {name!r} of {source['label']}"):
        created = connection.client.create_recurring_run(experiment_id=experiment_id, job_name=name,
                                                         cron_expression=cron, max_concurrency=1, no_catchup=True,
                                                         enabled=True, params=dict(params), **source["kwargs"])
    trigger = getattr(getattr(created, "trigger", None), "cron_schedule", None)
    return {"recurring_run_id": created.recurring_run_id, "name": created.display_name or name,
            "cron": getattr(trigger, "cron", None) or cron, "max_concurrency": int(created.max_concurrency or 1),
            "no_catchup": bool(created.no_catchup), "mode": _enum(created.mode),
            "experiment_id": experiment_id, "experiment_name": experiment, **_source_dict(source),
            "parameters": sorted(params), "created_at": _iso(created.created_at),
            "url": f"{connection.host}/#/recurringrun/details/{created.recurring_run_id}"}


def list_runs(connection: KfpConnection, experiment: str | None = None, page_size: int = 20) -> list[dict]:
    """The latest `page_size` runs, newest first: of one experiment (by name) or all that the connection can see."""
    if not 1 <= page_size <= 200:
        raise KfpApiError(f"page_size must be between 1 and 200, not {page_size}")
    kwargs: dict[str, Any] = {"page_size": page_size, "sort_by": "created_at desc"}
    if experiment:
        kwargs["experiment_id"] = _experiment_id(connection, experiment, create=False)
    with api_errors(connection.host, "listing of runs" + (f" in experiment {experiment!r}" if experiment else "")):
        found = connection.client.list_runs(**kwargs)
    host = connection.host
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


# ------------------------------------------------------------------------------------------- internals


def _source(connection: KfpConnection, pipeline: str | Path, version: str | None) -> dict:
    """Where a run's spec comes from: an uploaded pipeline version, or a package file sent with the run."""
    if isinstance(pipeline, Path) or str(pipeline).endswith(PACKAGE_SUFFIXES):
        package = existing_package(pipeline)
        if version:
            raise KfpApiError("version= picks a version of an uploaded pipeline; a package file has none")
        spec = read_package_spec(package)
        return {"kind": "package", "name": spec.get("pipelineInfo", {}).get("name") or package.stem,
                "label": f"package {package}", "package": str(package), "spec": spec,
                "kwargs": {"pipeline_package_path": str(package)}}
    name = str(pipeline)
    pipeline_id = _pipeline_id(connection, name)
    if pipeline_id is None:
        raise KfpApiError(f"no pipeline named {name!r} at {connection.host}; upload it first, "
                          "or pass the compiled package's path", host=connection.host)
    chosen = (_version_named(connection, pipeline_id, version) if version
              else _latest_version(connection, pipeline_id, name))
    if chosen is None:
        raise KfpApiError(f"pipeline {name!r} has no version named {version!r}", host=connection.host)
    return {"kind": "version", "name": name, "label": f"pipeline {name!r} version {chosen.display_name!r}",
            "pipeline_id": pipeline_id, "version_id": chosen.pipeline_version_id,
            "version_name": chosen.display_name, "spec": unwrap_spec(chosen.pipeline_spec),
            "kwargs": {"pipeline_id": pipeline_id, "version_id": chosen.pipeline_version_id}}


def _source_dict(source: dict) -> dict:
    if source["kind"] == "package":
        return {"pipeline_name": source["name"], "package": source["package"],
                "pipeline_id": None, "version_id": None, "version_name": None}
    return {"pipeline_name": source["name"], "package": None, "pipeline_id": source["pipeline_id"],
            "version_id": source["version_id"], "version_name": source["version_name"]}


def _experiment_id(connection: KfpConnection, name: str, *, create: bool) -> str:
    if not name or not name.strip():
        raise KfpApiError("an experiment needs a non-empty name")
    if create:
        with api_errors(connection.host, f"creation of experiment {name!r}"):
            return connection.client.create_experiment(name=name).experiment_id  # gets it if it exists
    try:
        with api_errors(connection.host, f"lookup of experiment {name!r}"):
            return connection.client.get_experiment(experiment_name=name).experiment_id
    except KfpApiError as exc:
        if exc.status is None and "No experiment is found" in str(exc):
            raise KfpApiError(f"no experiment named {name!r} at {connection.host}", host=connection.host) from None
        raise


def _name_filter(name: str) -> str:
    # As kfp.Client.get_pipeline_id builds it: operation 1 is EQUALS in the v2beta1 Filter proto.
    return json.dumps({"predicates": [{"operation": 1, "key": "display_name", "stringValue": name}]})


def _iso(value: Any) -> str | None:
    """An ISO time, or None where the API leaves it unset (the epoch, for a run that has not finished)."""
    if value is None:
        return None
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return None if text.startswith("1970-01-01T00:00:00") else text


def _enum(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))
