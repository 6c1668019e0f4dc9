"""Independent reads run side by side: a small thread pool, created on first use.

Each branch runs in a copy of the caller's context (contextvars: log context and
the like follow it), with `BRANCH_PATH` extended by (this fan-out, branch index), so
that what a branch does can be told apart from its siblings' (the benchmark counts
round trips on the critical path with it).
"""

from __future__ import annotations

import contextvars
import itertools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")

MAX_WORKERS = 16
# A branch may fan out once more, into a pool of its own: its branches never wait on
# anything, so neither pool can wait on itself. Deeper fan-outs run inline.
BRANCH_PATH: contextvars.ContextVar[tuple[tuple[int, int], ...]] = contextvars.ContextVar("branch_path", default=())
_fan_outs = itertools.count(1)
_pools: dict[str, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def _executor(name: str) -> ThreadPoolExecutor:
    with _lock:
        if name not in _pools:
            _pools[name] = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix=name)
        return _pools[name]


def _pool_for_this_thread() -> str | None:
    """The pool a fan-out from this thread uses, or None to run inline."""
    name = threading.current_thread().name
    if name.startswith("reads-nested"):
        return None
    return "reads-nested" if name.startswith("reads") else "reads"


def _in_branch(fan_out: int, index: int, call: Callable[[], T]) -> T:
    BRANCH_PATH.set((*BRANCH_PATH.get(), (fan_out, index)))
    return call()


def run_all(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Every call's result, in order; the first exception is raised once all have finished.

    One call runs inline (no thread for it); a third level of fan-out runs inline too.
    """
    pool = _pool_for_this_thread()
    if len(calls) <= 1 or pool is None:
        return [call() for call in calls]
    fan_out = next(_fan_outs)
    futures = [
        _executor(pool).submit(contextvars.copy_context().run, _in_branch, fan_out, i, call)
        for i, call in enumerate(calls)
    ]
    wait(futures)
    return [f.result() for f in futures]


def run_both(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """Two independent calls side by side, each result with its own type."""
    a, b = run_all([first, second])  # type: ignore[list-item]
    return a, b  # type: ignore[return-value]
