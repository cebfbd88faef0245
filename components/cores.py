"""How many threads the numeric work of a step runs on."""

from __future__ import annotations

import os


def available_cores(limit: int | None = None) -> int:
    """The cores this process may run on (a container's cpuset, not the host's count), at most `limit`.

    A CPU quota (a Kubernetes cpu limit) is not a cpuset and does not show here: the task then runs this many
    threads on fewer cores' time, which costs some switching but no correctness.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, limit or cores))
