"""Every pipeline tinymlops compiles and runs, by name."""

from pipelines.drift_monitor import drift_monitor

PIPELINES = {
    "drift-monitor": drift_monitor,
}
