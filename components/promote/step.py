"""The promote step: every trained model registered under models/<version>/; the production pointer moved to it
only if core.py finds nothing against it."""

from __future__ import annotations

from components.promote.core import PromoteResult, not_promoted_because, registry_files, registry_record
from components.registry import new_model_version, promote, register
from components.store import Store


def register_and_promote(store: Store, files: dict[str, bytes], evaluation: dict, training: dict,
                         firmware: dict | None = None, require_firmware: bool = False) -> PromoteResult:
    """`files`: model.tflite, model.h5, ops.json, curves.png, model_card.md, c/*, firmware/*.

    `firmware` is firmware-build's build.json; with `require_firmware` a model
    whose firmware did not build is registered but not promoted.
    """
    version = new_model_version()
    reasons = not_promoted_because(evaluation["blessing"], firmware, require_firmware)
    register(store, version, registry_files(files, version, evaluation, training),
             registry_record(evaluation, training, firmware, reasons))
    if reasons:
        return PromoteResult(version, False, reasons)
    promote(store, version, by="continuous-training pipeline", reason="blessed by the evaluator")
    return PromoteResult(version, True, [])
