"""How many threads the numeric work of a step runs on, and how far ahead of its consumer that work may run."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def available_cores(limit: int | None = None) -> int:
    """The cores this process may run on (a container's cpuset, not the host's count), at most `limit`.

    A CPU quota (a Kubernetes cpu limit) is not a cpuset and does not show here: the task then runs this many
    threads on fewer cores' time, which costs some switching but no correctness.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, limit or cores))


def in_order(futures: Iterable[Future[T]], ahead: int) -> Iterator[T]:
    """The results of `futures`, in their order, with at most `ahead` of them drawn and not yet returned.

    `futures` is drawn lazily: a generator that submits work as it is drawn keeps that work, and the inputs it
    holds in memory, a bounded way ahead of the consumer.
    """
    pending = iter(futures)
    waiting = deque(islice(pending, max(ahead, 1)))
    while waiting:
        result = waiting.popleft().result()
        waiting.extend(islice(pending, 1))
        yield result
