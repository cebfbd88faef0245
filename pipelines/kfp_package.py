"""A compiled pipeline package as a run would send it: found, read as a PipelineSpec, and the parameters a run
passes checked against the ones the pipeline declares, before any request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.kfp_errors import KfpApiError, short

PACKAGE_SUFFIXES = (".yaml", ".yml", ".zip", ".tar.gz", ".tgz")


def existing_package(path: str | Path) -> Path:
    package = Path(path)
    if not package.is_file():
        raise KfpApiError(f"pipeline package {str(path)!r} not found (compile with `make compile`)")
    return package


def read_package_spec(package: Path) -> dict:
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
        raise KfpApiError(f"pipeline package {package} is not a compiled KFP pipeline: {short(exc)}") from None
    if not doc:
        raise KfpApiError(f"pipeline package {package} is empty")
    return doc


def unwrap_spec(spec: Any) -> dict:
    """A version's pipeline_spec: the spec itself, or {"pipeline_spec": ..., "platform_spec": ...}."""
    if not isinstance(spec, dict):
        return {}
    if "root" not in spec and isinstance(spec.get("pipeline_spec"), dict):
        return spec["pipeline_spec"]
    return spec


_PARAM_TYPES = {"STRING": (str,), "NUMBER_INTEGER": (int,), "NUMBER_DOUBLE": (int, float), "BOOLEAN": (bool,),
                "LIST": (list, tuple), "STRUCT": (dict,)}


def check_params(source: dict, params: dict[str, Any]) -> None:
    """Refuse parameters the pipeline does not declare, of the wrong type, or missing required ones.
    `source` is where the run's spec comes from: its "spec" (a PipelineSpec dict, or {}) and a "label"."""
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
