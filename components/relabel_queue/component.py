"""KFP component: queue windows for labelling after drift; returns the dataset version to train on."""

from kfp import dsl

from components.runtime import RUNTIME_IMAGE


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def relabel_queue(store_url: str, config_json: str, decision: dsl.Input[dsl.Artifact],
                  queue: dsl.Output[dsl.Artifact], metrics: dsl.Output[dsl.Metrics]) -> str:
    """No drift: no queue, the decision's dataset version. With the demo's oracle: the labelled version."""
    import json

    from components.config import Config
    from components.relabel_queue.step import run_relabel_queue
    from components.store import open_store

    config = Config.from_json(config_json)
    with open(decision.path) as f:
        version, summary = run_relabel_queue(open_store(store_url, config.store), config, json.load(f))
    with open(queue.path, "w") as f:
        json.dump(summary, f, indent=2)
    metrics.log_metric("queued_windows", summary["tasks"])
    return version
