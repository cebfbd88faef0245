"""Local runs leave no orphans: the work runs in a child that leads its own process group.

kfp.local starts each task as a subprocess of the process that runs the pipeline, and nothing ends those
tasks when that process dies: a monitor killed during `train` (a laptop closed, a pod evicted, SIGKILL)
left `train` running on its own. So `tinymlops run` and `tinymlops monitor` do their work in a forked
child that leads a new process group; every task it starts joins that group. Then:

  * the parent is interrupted (Ctrl-C, SIGTERM): it passes the signal to the whole group, waits a grace
    period, and kills what is left;
  * the parent dies, even by SIGKILL: the kernel sends the child SIGTERM (prctl PR_SET_PDEATHSIG, Linux),
    and the child ends its group the same way, recording the run as interrupted on its way out;
  * the child ends, however it ends: the parent kills anything left in the group.

Tasks that run in containers (`--runner container`) are ended by the container engine's own cleanup, not
here: a SIGKILLed runner can leave a container running (see README, "Faults").
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import sys
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
PR_SET_PDEATHSIG = 1
GRACE_S = 10.0


def supervised(work: Callable[[], T]) -> T:
    """Run `work()` in a child leading its own process group; return its value or raise its error."""
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        _child(parent, work, write_end)  # never returns
    os.close(write_end)
    _set_group(child)
    received: list[int] = []

    def forward(signum: int, _) -> None:
        received.append(signum)
        _end_group(child, signum)

    forwarded = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with os.fdopen(read_end, "rb") as pipe:
            answer = pipe.read()
        os.waitpid(child, 0)
    finally:
        for sig, handler in forwarded.items():
            signal.signal(sig, handler)
        _kill_group(child, signal.SIGKILL)  # whatever a task left behind
    if not answer and received:  # interrupted, and the run did not unwind within the grace: it was killed
        raise KeyboardInterrupt(f"signal {signal.Signals(received[0]).name}; the run did not stop within "
                                f"{GRACE_S:g} s and was killed")
    if not answer:
        raise RuntimeError("the run's process ended without an answer (killed?); its log says how far it got")
    ok, value = pickle.loads(answer)
    if ok:
        return value
    raise value


def _child(parent: int, work: Callable[[], T], write_end: int) -> None:
    status = 1
    try:
        _set_group(0)
        signal.signal(signal.SIGTERM, lambda signum, _: _interrupted(parent, signum))
        _die_with(parent)
        try:
            answer = (True, work())
        except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
            answer = (False, _picklable(exc))
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(pickle.dumps(answer))
        status = 0
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _interrupted(parent: int, signum: int) -> None:
    """SIGTERM, from the parent or from the kernel when the parent died: end the tasks, then unwind with
    KeyboardInterrupt so that the claim records the run as interrupted (pipelines/monitor.py)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _kill_group(os.getpgrp(), signal.SIGTERM)
    if os.getppid() != parent:  # orphaned: nobody else will kill what ignores SIGTERM
        _kill_group_later(os.getpgrp())
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _kill_group_later(group: int) -> None:
    if os.fork() == 0:  # a grandchild in the same group, so it goes last
        deadline = time.monotonic() + GRACE_S
        while time.monotonic() < deadline and _members(group) - {os.getpid()}:
            time.sleep(0.2)
        _kill_group(group, signal.SIGKILL)
        os._exit(0)


def _members(group: int) -> set[int]:
    """The live processes in a process group, from /proc (stat: field 3 the state, 5 the group)."""
    found = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                state, _, pgrp = f.read().rsplit(")", 1)[1].split()[:3]
            if int(pgrp) == group and state != "Z":  # a zombie has ended; its parent has yet to reap it
                found.add(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _die_with(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent's cleanup still covers signals and normal ends
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _end_group(group: int, signum: int) -> None:
    _kill_group(group, signum)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and _group_alive(group):
        time.sleep(0.1)
    _kill_group(group, signal.SIGKILL)


def _set_group(pid: int) -> None:
    try:  # both parent and child set it, so neither races the other
        os.setpgid(pid, 0)
    except (PermissionError, ProcessLookupError):  # the child already exec'd or ended: it set its own
        pass


def _kill_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - an exception that will not pickle still has a message
        return RuntimeError(f"{type(exc).__name__}: {exc}")
