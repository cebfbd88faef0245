"""Every pipeline tinymlops compiles and runs, by name."""

from pipelines.continuous_training import continuous_training
from pipelines.drift_monitor import drift_monitor

PIPELINES = {
    "drift-monitor": drift_monitor,
    "continuous-training": continuous_training,
}
