"""Promote (TFX Pusher style): register every trained model; move production only if blessed.

What a model version holds and whether it may go to production, from evaluate's, train's and firmware-build's
records; step.py registers it in the store and moves the pointer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass
class PromoteResult:
    version: str
    promoted: bool
    reasons: list[str]  # why not, when not promoted


def registry_files(files: dict[str, bytes], version: str, evaluation: dict, training: dict) -> dict[str, bytes]:
    """`files` with the model card named for `version`, and the evaluation's and training's records."""
    files = dict(files)
    if "model_card.md" in files:  # evaluate could not know the version's name yet
        files["model_card.md"] = files["model_card.md"].replace(b"Model card: challenger",
                                                                f"Model card: {version}".encode(), 1)
    return {**files,
            "metrics.json": json.dumps(evaluation["metrics"], indent=2).encode(),
            "blessing.json": json.dumps(evaluation["blessing"], indent=2).encode(),
            "training.json": json.dumps(training, indent=2).encode()}


def not_promoted_because(blessing: dict, firmware: dict | None, require_firmware: bool) -> list[str]:
    """Why the model may not go to production (empty when it may)."""
    reasons = list(blessing["reasons"])
    if require_firmware and not (firmware and firmware["built"]):
        reasons.append("firmware not built, and this run requires it: "
                       + "; ".join((firmware or {}).get("missing", ["no firmware-build result"])))
    cortex_m4 = (firmware or {}).get("cortex_m4") or {}
    if cortex_m4.get("ran") and not cortex_m4.get("verified"):
        reasons.append(f"the shipped C sources failed on the Cortex-M4: {cortex_m4['statement']}")
    return reasons


def registry_record(evaluation: dict, training: dict, firmware: dict | None, reasons: list[str]) -> dict:
    """What the registry lists about a model version."""
    blessing, metrics = evaluation["blessing"], evaluation["metrics"]
    cortex_m4 = (firmware or {}).get("cortex_m4") or {}
    return {
        "dataset_version": training["dataset_version"], "seed": training["seed"],
        "config_fingerprint": training["config_fingerprint"], "blessed": blessing["blessed"],
        "blessing_reasons": blessing["reasons"], "int8_accuracy": metrics["int8_accuracy"],
        "float_accuracy": metrics["float_accuracy"], "tflite_bytes": metrics["tflite_bytes"],
        "arena_bytes": metrics["arena_bytes"], "host_arena_bytes": metrics.get("host_arena_bytes"),
        "firmware_built": bool(firmware and firmware["built"]),
        "firmware_missing": (firmware or {}).get("missing", []), "not_promoted_because": reasons,
        "cortex_m4": cortex_m4.get("statement", "not checked"),
    }


def folder_files(folder, prefix: str) -> dict[str, bytes]:
    """Every file under a folder artifact, keyed by prefix + relative path."""
    from pathlib import Path

    root = Path(folder)
    return {prefix + p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
