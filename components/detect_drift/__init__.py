"""Drift detection: per-window features, a device-level data-drift test, a concept-drift test, the decision."""

from components.detect_drift.core import (
    ConceptDriftResult,
    DriftConfig,
    decide,
    detect_concept_drift,
    evidently_report,
    tfdv_drift,
)
from components.detect_drift.data_drift import DataDriftResult, data_drift_from_features, detect_data_drift
from components.drift_decision import INSUFFICIENT
from components.window_features import (
    drift_feature_names,
    drift_features,
    feature_frame,
    feature_names,
    window_features,
)

__all__ = [
    "INSUFFICIENT", "ConceptDriftResult", "DataDriftResult", "DriftConfig", "decide", "detect_concept_drift",
    "data_drift_from_features", "detect_data_drift",
    "drift_feature_names", "drift_features", "evidently_report", "feature_frame",
    "feature_names", "tfdv_drift",
    "window_features",
]
