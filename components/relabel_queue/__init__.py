"""The relabel queue: which windows to label next after drift, as Label Studio tasks."""

from components.relabel_queue.core import (
    RelabelError,
    fresh_label_suggestions,
    label_studio_config,
    label_studio_tasks,
    margins,
    select_for_concept_drift,
    select_for_data_drift,
)

__all__ = [
    "RelabelError", "fresh_label_suggestions", "label_studio_config", "label_studio_tasks", "margins",
    "select_for_concept_drift", "select_for_data_drift",
]
