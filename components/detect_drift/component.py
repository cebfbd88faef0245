"""KFP component: detect data and concept drift of the production model; the evidence as reports."""

from kfp import dsl

from components.runtime import RUNTIME_IMAGE


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def detect_drift(store_url: str, config_json: str, dataset_version: str, report: dsl.Output[dsl.HTML],
                 summary: dsl.Output[dsl.Markdown], decision: dsl.Output[dsl.Artifact],
                 performance: dsl.Output[dsl.HTML], metrics: dsl.Output[dsl.Metrics]) -> str:
    """Returns the store key of decision.json ("none", "data", "concept", "data+concept" or "insufficient
    data", with evidence).
    `performance`: the production model's accuracy over the monitor runs, as a chart."""
    from components.config import Config
    from components.detect_drift.step import run
    from components.drift_decision import drift_kinds
    from components.store import open_store

    config = Config.from_json(config_json)
    result, key = run(open_store(store_url, config.store), config, dataset_version or None,
                      report.path, summary.path, decision.path, performance.path)
    metrics.log_metric("new_windows", result.evidence["new_windows"])
    metrics.log_metric("data_drift", int("data" in drift_kinds(result.decision)))
    metrics.log_metric("concept_drift", int("concept" in drift_kinds(result.decision)))
    return key
