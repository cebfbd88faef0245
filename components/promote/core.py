"""Promote (TFX Pusher style): register every trained model; move production only if blessed."""

from __future__ import annotations

from dataclasses import dataclass

from components.registry import new_model_version, promote, register
from components.store import Store


@dataclass
class PromoteResult:
    version: str
    promoted: bool
    reasons: list[str]  # why not, when not promoted


def register_and_promote(store: Store, files: dict[str, bytes], evaluation: dict, training: dict,
                         firmware: dict | None = None, require_firmware: bool = False) -> PromoteResult:
    """`files`: model.tflite, model.h5, ops.json, curves.png, model_card.md, c/*, firmware/*.

    `firmware` is firmware-build's build.json; with `require_firmware` a model
    whose firmware did not build is registered but not promoted.
    """
    import json

    version = new_model_version()
    blessing, metrics = evaluation["blessing"], evaluation["metrics"]
    files = dict(files)
    if "model_card.md" in files:  # evaluate could not know the version's name yet
        files["model_card.md"] = files["model_card.md"].replace(b"Model card: challenger",
                                                                f"Model card: {version}".encode(), 1)
    files = {**files,
             "metrics.json": json.dumps(metrics, indent=2).encode(),
             "blessing.json": json.dumps(blessing, indent=2).encode(),
             "training.json": json.dumps(training, indent=2).encode()}
    reasons = list(blessing["reasons"])
    if require_firmware and not (firmware and firmware["built"]):
        reasons.append("firmware not built, and this run requires it: "
                       + "; ".join((firmware or {}).get("missing", ["no firmware-build result"])))
    cortex_m4 = (firmware or {}).get("cortex_m4") or {}
    if cortex_m4.get("ran") and not cortex_m4.get("verified"):
        reasons.append(f"the shipped C sources failed on the Cortex-M4: {cortex_m4['statement']}")
    register(store, version, files, {
        "dataset_version": training["dataset_version"], "seed": training["seed"],
        "config_fingerprint": training["config_fingerprint"], "blessed": blessing["blessed"],
        "blessing_reasons": blessing["reasons"], "int8_accuracy": metrics["int8_accuracy"],
        "float_accuracy": metrics["float_accuracy"], "tflite_bytes": metrics["tflite_bytes"],
        "arena_bytes": metrics["arena_bytes"], "host_arena_bytes": metrics.get("host_arena_bytes"),
        "firmware_built": bool(firmware and firmware["built"]),
        "firmware_missing": (firmware or {}).get("missing", []), "not_promoted_because": reasons,
        "cortex_m4": cortex_m4.get("statement", "not checked"),
    })
    if reasons:
        return PromoteResult(version, False, reasons)
    promote(store, version, by="continuous-training pipeline", reason="blessed by the evaluator")
    return PromoteResult(version, True, [])


def folder_files(folder, prefix: str) -> dict[str, bytes]:
    """Every file under a folder artifact, keyed by prefix + relative path."""
    from pathlib import Path

    root = Path(folder)
    return {prefix + p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
