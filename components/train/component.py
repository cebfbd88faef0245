"""KFP component: train the float model on a dataset version (and its ancestors)."""

from kfp import dsl

from components.runtime import RUNTIME_IMAGE


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def train(store_url: str, config_json: str, dataset_version: str, model: dsl.Output[dsl.Model],
          training: dsl.Output[dsl.Artifact], curves: dsl.Output[dsl.HTML], curves_png: dsl.Output[dsl.Artifact],
          metrics: dsl.Output[dsl.Metrics]):
    import json

    from components.config import Config
    from components.datasets import read_lineage
    from components.store import open_store
    from components.train.core import curves_html, plot_curves, train, training_record

    config = Config.from_json(config_json)
    result = train(read_lineage(open_store(store_url, config.store), dataset_version), config)
    result.model.save(model.path, save_format="h5")
    record = training_record(result, config, dataset_version)
    with open(training.path, "w") as f:
        json.dump(record, f, indent=2)
    plot_curves(result.history, curves_png.path)
    with open(curves.path, "w") as f:
        f.write(curves_html(curves_png.path, record))
    for name in ("epochs_run", "train_windows", "validation_windows", "holdout_windows", "best_val_accuracy"):
        metrics.log_metric(name, record[name])
