"""Flash and RAM use of each built environment, from PlatformIO's build log.

    python3 size_report.py OUT_DIR ENV... > OUT_DIR/sizes.json

PlatformIO ends a build with lines like
    RAM:   [==        ]  15.6% (used 51124 bytes from 327680 bytes)
    Flash: [======    ]  61.6% (used 1940000 bytes from 3145728 bytes)
This reads them from OUT_DIR/<env>/build.log for every ENV whose firmware was
copied to OUT_DIR/<env>/ and prints
    {"<env>": {"flash_bytes": .., "flash_max_bytes": .., "ram_bytes": .., "ram_max_bytes": ..}}
(null where a line is missing). Standard library only: it runs in the builder image.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

USAGE = re.compile(r"^(RAM|Flash):.*\(used (\d+) bytes from (\d+) bytes\)", re.MULTILINE)
FIRMWARE_FILES = ("firmware.elf", "firmware.bin", "firmware.hex")


def sizes_from_log(text: str) -> dict:
    sizes = {"flash_bytes": None, "flash_max_bytes": None, "ram_bytes": None, "ram_max_bytes": None}
    for kind, used, total in USAGE.findall(text):
        key = "flash" if kind == "Flash" else "ram"
        sizes[f"{key}_bytes"], sizes[f"{key}_max_bytes"] = int(used), int(total)
    return sizes


def report(out_dir: Path, envs: list[str]) -> dict:
    result = {}
    for env in envs:
        folder = out_dir / env
        if not any((folder / name).is_file() for name in FIRMWARE_FILES):
            continue
        log = folder / "build.log"
        result[env] = sizes_from_log(log.read_text(errors="replace") if log.is_file() else "")
    return result


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: size_report.py OUT_DIR ENV...")
    print(json.dumps(report(Path(sys.argv[1]), sys.argv[2:]), indent=2, sort_keys=True))
