"""Firmware-build: both boards' firmware from the exported sources, or an exact account of why not.

The build runs firmware/build.sh, which needs PlatformIO with the pinned
platforms and libraries: the builder image (firmware/Dockerfile) has them. On
a machine without them nothing is built and nothing fake is written: the
result says which tool is missing and the run's summary shows the firmware as
not built.

No store side, so no step.py: the sources come in and the firmware goes out as
KFP artifact folders; promote stores them with the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

FIRMWARE_DIR = Path(__file__).resolve().parents[2] / "firmware"


@dataclass
class FirmwareBuild:
    built: bool
    missing: list[str] = field(default_factory=list)  # what a build needs and this machine lacks
    log_tail: str = ""
    sizes: dict = field(default_factory=dict)  # per board: flash and RAM used, from the build
    sha256: dict[str, str] = field(default_factory=dict)  # binary file -> digest
    cortex_m4: dict = field(default_factory=dict)  # the shipped sources on the Cortex-M4F under QEMU

    def to_dict(self) -> dict:
        return asdict(self)


# Set by firmware/Dockerfile: "skip" when the image was built without PlatformIO's platforms and cores.
PIO_PLATFORMS_ENV = "TINYMLOPS_PIO_PLATFORMS"


def missing_tools(firmware_dir: Path = FIRMWARE_DIR) -> list[str]:
    missing = []
    if shutil.which("pio") is None:
        missing.append("PlatformIO ('pio' not on PATH): build in the builder image, firmware/Dockerfile")
    elif os.environ.get(PIO_PLATFORMS_ENV) == "skip":
        # `pio run` would try to download them and fail after minutes; say so at once instead.
        missing.append("PlatformIO's platforms, Arduino cores and libraries: this builder image was built with "
                       "PIO_PLATFORMS=skip (no PlatformIO registry reachable); rebuild it where one is "
                       "(make images PIO_PLATFORMS=install)")
    if not (firmware_dir / "build.sh").is_file():
        missing.append(f"{firmware_dir / 'build.sh'} (the build script) not found")
    return missing


def check_shipped_sources(sources: Path, target_inputs: Path | None) -> dict:
    """The exported files exactly as shipped (their arena, their ops) on the Cortex-M4F with both kernel
    sets, on evaluate's holdout sample, against the host's scores."""
    import numpy as np

    from components.qemu_target import TargetCheck, TargetError, check_on_target

    arrays = np.load(target_inputs) if target_inputs is not None and target_inputs.is_file() else {}
    if "host_scores" not in arrays:
        no_windows = "evaluate passed no windows to check (evaluate.target_windows is 0, or no holdout)"
        return TargetCheck({}, np.zeros((0, 0)), [no_windows]).record()
    inputs = [arrays[f"input_{i}"] for i in range(len(arrays) - 1)]
    files = {p.name: p.read_bytes() for p in sources.iterdir() if p.is_file()}
    try:
        return check_on_target(files, inputs, arrays["host_scores"]).record()
    except TargetError as error:
        return {"ran": False, "verified": False, "statement": f"NOT verified on Cortex-M4: {error}"[:4000]}


def build_firmware(sources: Path, out: Path, firmware_dir: Path = FIRMWARE_DIR, timeout_s: int = 1800,
                   target_inputs: Path | None = None) -> FirmwareBuild:
    """Build every board from generated sources into `out`; write out/build.json either way."""
    out.mkdir(parents=True, exist_ok=True)
    missing = missing_tools(firmware_dir)
    if missing:
        result = FirmwareBuild(built=False, missing=missing)
    else:
        done = subprocess.run(["bash", str(firmware_dir / "build.sh"), str(sources), str(out)],
                              capture_output=True, text=True, timeout=timeout_s)
        sizes_file = out / "sizes.json"
        sizes = json.loads(sizes_file.read_text()) if sizes_file.exists() else {}
        binaries = sorted(p for p in out.rglob("*") if p.suffix in (".bin", ".hex", ".elf"))
        result = FirmwareBuild(built=done.returncode == 0 and bool(binaries),
                               log_tail=(done.stdout + done.stderr)[-4000:], sizes=sizes,
                               sha256={str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
                                       for p in binaries})
        if not result.built:
            result.missing.append(f"build.sh exited {done.returncode} with no binaries; see log_tail")
    result.cortex_m4 = check_shipped_sources(sources, target_inputs)
    (out / "build.json").write_text(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    return result


def build_markdown(result: FirmwareBuild) -> str:
    check = f"\n{result.cortex_m4.get('statement', '')}\n"
    if not result.built:
        return "# Firmware: NOT built\n\n" + "\n".join(f"- missing: {m}" for m in result.missing) + "\n" + check
    lines = ["# Firmware built", "", "| board | flash | RAM |", "|---|---|---|"]
    lines += [f"| {board} | {s.get('flash_bytes', '?')} | {s.get('ram_bytes', '?')} |"
              for board, s in sorted(result.sizes.items())]
    return "\n".join(lines + ["", "SHA-256:", ""] + [f"- {k}: {v}" for k, v in result.sha256.items()]) + "\n" + check
