"""KFP component: build the firmware for both boards (in the builder image)."""

from kfp import dsl

from components.runtime import FIRMWARE_BUILDER_IMAGE


@dsl.component(base_image=FIRMWARE_BUILDER_IMAGE, install_kfp_package=False)
def firmware_build(c_sources: dsl.Input[dsl.Artifact], firmware: dsl.Output[dsl.Artifact],
                   report: dsl.Output[dsl.Markdown], metrics: dsl.Output[dsl.Metrics]) -> bool:
    """firmware is a folder: binaries, sizes.json and build.json (built or exactly what is missing)."""
    from pathlib import Path

    from components.firmware_build.core import build_firmware, build_markdown

    result = build_firmware(Path(c_sources.path), Path(firmware.path))
    Path(report.path).write_text(build_markdown(result))
    metrics.log_metric("firmware_built", int(result.built))
    return result.built
