"""Every pipeline tinymlops compiles and runs, by name, built for a cluster's settings."""

from collections.abc import Callable

from components.config import ClusterConfig
from pipelines.continuous_training import continuous_training_pipeline
from pipelines.drift_monitor import drift_monitor_pipeline

PIPELINES: dict[str, Callable] = {
    "drift-monitor": drift_monitor_pipeline,
    "continuous-training": continuous_training_pipeline,
}


def build_pipeline(name: str, cluster: ClusterConfig):
    """The pipeline `name` with its tasks in the images `cluster` names."""
    if name not in PIPELINES:
        raise ValueError(f"unknown pipeline {name!r}: expected one of {sorted(PIPELINES)}")
    return PIPELINES[name](cluster)
