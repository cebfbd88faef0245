"""KFP component: detect data and concept drift of the production model; the evidence as reports."""

from kfp import dsl

from components.runtime import RUNTIME_IMAGE


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def detect_drift(store_url: str, config_json: str, dataset_version: str, report: dsl.Output[dsl.HTML],
                 summary: dsl.Output[dsl.Markdown], decision: dsl.Output[dsl.Artifact],
                 metrics: dsl.Output[dsl.Metrics]) -> str:
    """Returns the store key of decision.json ("none", "data", "concept" or "data+concept", with evidence)."""
    from components.config import Config
    from components.detect_drift.step import detect_drift, load_drift_inputs, write_report
    from components.store import open_store

    store = open_store(store_url)
    result = detect_drift(load_drift_inputs(store, dataset_version or None), Config.from_json(config_json), report.path)
    key = write_report(store, result, report.path)
    with open(summary.path, "w") as f:
        f.write(result.summary_md)
    with open(decision.path, "wb") as f:
        f.write(store.get_bytes(key))
    metrics.log_metric("new_windows", result.evidence["new_windows"])
    metrics.log_metric("data_drift", int("data" in result.decision))
    metrics.log_metric("concept_drift", int("concept" in result.decision))
    return key
