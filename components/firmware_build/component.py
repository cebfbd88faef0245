"""KFP component: build the firmware for both boards (in the builder image)."""

from kfp import dsl

from components.runtime import FIRMWARE_BUILDER_IMAGE


@dsl.component(base_image=FIRMWARE_BUILDER_IMAGE, install_kfp_package=False)
def firmware_build(c_sources: dsl.Input[dsl.Artifact], target_inputs: dsl.Input[dsl.Artifact],
                   firmware: dsl.Output[dsl.Artifact],
                   report: dsl.Output[dsl.Markdown], metrics: dsl.Output[dsl.Metrics]):
    """firmware is a folder: binaries, sizes.json and build.json (built or exactly what is missing, and the
    shipped sources' Cortex-M4 check on evaluate's target_inputs)."""
    from pathlib import Path

    from components.firmware_build.core import build_firmware, build_markdown

    result = build_firmware(Path(c_sources.path), Path(firmware.path), target_inputs=Path(target_inputs.path))
    Path(report.path).write_text(build_markdown(result))
    metrics.log_metric("firmware_built", int(result.built))
    metrics.log_metric("cortex_m4_verified", int(result.cortex_m4.get("verified", False)))
