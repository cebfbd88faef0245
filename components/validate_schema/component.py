"""KFP component: validate new windows against the versioned TFDV schema."""

from kfp import dsl

from components.runtime import RUNTIME_IMAGE


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def validate_schema(store_url: str, config_json: str, dataset_version: str,
                    dataset: dsl.Input[dsl.Dataset], report: dsl.Output[dsl.Markdown],
                    anomalies: dsl.Output[dsl.Artifact], metrics: dsl.Output[dsl.Metrics]):
    """Fails the run (after writing the report) when a blocking anomaly kind is found."""
    import json

    from components.config import Config
    from components.datasets import WindowSet
    from components.store import open_store
    from components.validate_schema.core import raise_if_blocking, report_markdown
    from components.validate_schema.step import validate_new_windows

    with open(dataset.path, "rb") as f:
        windows = WindowSet.from_npz(f.read())
    config = Config.from_json(config_json)
    result = validate_new_windows(open_store(store_url, config.store), config, dataset_version, windows)
    with open(report.path, "w") as f:
        f.write(report_markdown(result))
    with open(anomalies.path, "w") as f:
        json.dump(result.to_dict(), f, indent=2)
    metrics.log_metric("anomalies", len(result.anomalies))
    metrics.log_metric("blocking_anomalies", len(result.blocking))
    raise_if_blocking(result)
