"""The relabel queue: which windows to label next after drift (its tasks: components/label_studio.py)."""

from components.relabel_queue.core import (
    RelabelError,
    fresh_label_suggestions,
    margins,
    select_for_concept_drift,
    select_for_data_drift,
)

__all__ = [
    "RelabelError", "fresh_label_suggestions", "margins",
    "select_for_concept_drift", "select_for_data_drift",
]
