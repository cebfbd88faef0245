"""A drift decision's words, for every step that reads one: "none", "data", "concept", "data+concept" or
"insufficient data" (detect_drift.core.decide makes them; the relabel queue and the monitor act on them)."""

from __future__ import annotations

INSUFFICIENT = "insufficient data"


def drift_kinds(decision: str) -> set[str]:
    """{"data", "concept"}, either or none: what a decision says drifted ("insufficient data" is neither)."""
    return set(decision.split("+")) & {"data", "concept"}
