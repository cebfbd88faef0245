"""KFP component: register the model version; point production at it only if blessed."""

from kfp import dsl

from components.runtime import RUNTIME_IMAGE


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def promote(store_url: str, config_json: str, model: dsl.Input[dsl.Model], tflite: dsl.Input[dsl.Model],
            ops: dsl.Input[dsl.Artifact], training: dsl.Input[dsl.Artifact], curves_png: dsl.Input[dsl.Artifact],
            evaluation: dsl.Input[dsl.Artifact], card: dsl.Input[dsl.Markdown], c_sources: dsl.Input[dsl.Artifact],
            firmware: dsl.Input[dsl.Artifact], report: dsl.Output[dsl.Markdown]) -> str:
    """Returns the registered model version."""
    import json
    from pathlib import Path

    from components.config import Config
    from components.promote.core import folder_files
    from components.promote.step import register_and_promote
    from components.store import open_store

    files = {name: Path(artifact.path).read_bytes() for name, artifact in (
        ("model.tflite", tflite), ("model.h5", model), ("ops.json", ops), ("curves.png", curves_png),
        ("model_card.md", card))}
    files.update(folder_files(Path(c_sources.path), "c/") | folder_files(Path(firmware.path), "firmware/"))
    config = Config.from_json(config_json)
    result = register_and_promote(open_store(store_url, config.store), files,
                                  json.loads(Path(evaluation.path).read_text()),
                                  json.loads(Path(training.path).read_text()),
                                  json.loads(Path(firmware.path, "build.json").read_text()),
                                  config.firmware.require_for_promotion)
    verdict = "promoted to production" if result.promoted else "NOT promoted: " + "; ".join(result.reasons)
    Path(report.path).write_text(f"# Model {result.version}\n\n{verdict}\n")
    return result.version
