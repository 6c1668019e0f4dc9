"""Independent reads run side by side: a small thread pool, created on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")

MAX_WORKERS = 16
_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="reads")
        return _pool


def run_all(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Every call's result, in order; the first exception is raised once all have finished.

    One call runs inline (no thread for it); a call made from a pool thread runs its
    own calls inline, so nested use can never wait on itself.
    """
    if len(calls) <= 1 or threading.current_thread().name.startswith("reads"):
        return [call() for call in calls]
    futures = [_executor().submit(call) for call in calls]
    wait(futures)
    return [f.result() for f in futures]


def run_both(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """Two independent calls side by side, each result with its own type."""
    a, b = run_all([first, second])  # type: ignore[list-item]
    return a, b  # type: ignore[return-value]
