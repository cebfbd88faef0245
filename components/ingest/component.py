"""KFP component: ingest new uploads into an immutable dataset version."""

from typing import NamedTuple

from kfp import dsl

from components.runtime import RUNTIME_IMAGE


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def ingest(store_url: str, config_json: str, dataset: dsl.Output[dsl.Dataset], report: dsl.Output[dsl.Markdown],
           metrics: dsl.Output[dsl.Metrics]) -> NamedTuple("IngestOutputs", new_version=str, dataset_version=str):
    """new_version: the version this run wrote ("" if no upload was new); dataset_version: the latest."""
    from collections import namedtuple

    from components.config import Config
    from components.ingest.core import ingest_markdown
    from components.ingest.step import run_ingest
    from components.store import open_store

    config = Config.from_json(config_json)
    result = run_ingest(open_store(store_url, config.store), config)
    with open(dataset.path, "wb") as f:
        f.write(result.windows.to_npz())
    dataset.metadata.update({"version": result.version or "", "parent": result.parent or ""})
    with open(report.path, "w") as f:
        f.write(ingest_markdown(result))
    for name, value in result.counts.items():
        metrics.log_metric(name, value)
    outputs = namedtuple("IngestOutputs", ["new_version", "dataset_version"])
    return outputs(result.version or "", result.version or result.parent or "")
