"""KFP component: the int8 model and its settings as C++ sources for the firmware.

No core.py and no step.py: the export is components/c_sources.py (evaluate's Cortex-M4 check exports the same
files), and nothing is read from or written to the store."""

from kfp import dsl

from components.runtime import RUNTIME_IMAGE


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def export_c_array(config_json: str, tflite: dsl.Input[dsl.Model], evaluation: dsl.Input[dsl.Artifact],
                   c_sources: dsl.Output[dsl.Artifact], metrics: dsl.Output[dsl.Metrics]):
    """c_sources is a folder: model_data.h/.cc, model_settings.h, model_ops.h."""
    import json
    from pathlib import Path

    from components.c_sources import export_c_array
    from components.config import Config

    measured = json.loads(Path(evaluation.path).read_text())["metrics"]
    files = export_c_array(Path(tflite.path).read_bytes(), Config.from_json(config_json), measured["arena_bytes"],
                           measured["arena_measured_on"])
    Path(c_sources.path).mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (Path(c_sources.path) / name).write_bytes(data)
    metrics.log_metric("model_array_bytes", len(Path(tflite.path).read_bytes()))
