"""KFP component: ingest new uploads into an immutable dataset version."""

from kfp import dsl

from components.runtime import RUNTIME_IMAGE


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def ingest(store_url: str, config_json: str, dataset: dsl.Output[dsl.Dataset],
           report: dsl.Output[dsl.Markdown], metrics: dsl.Output[dsl.Metrics]) -> str:
    """Returns the new dataset version, or "" when no upload was new."""
    from components.config import Config
    from components.ingest.core import ingest_markdown, run_ingest
    from components.store import open_store

    result = run_ingest(open_store(store_url), Config.from_json(config_json))
    with open(dataset.path, "wb") as f:
        f.write(result.windows.to_npz())
    dataset.metadata.update({"version": result.version or "", "parent": result.parent or ""})
    with open(report.path, "w") as f:
        f.write(ingest_markdown(result))
    for name, value in result.counts.items():
        metrics.log_metric(name, value)
    return result.version or ""
