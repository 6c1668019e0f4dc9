"""Pointing this process at a set of AWS stand-ins, and back.

The app reads its settings and creates its clients lazily and caches them; after
the environment changes those caches are dropped so the next use sees the change.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def reset_app_caches() -> None:
    """Drop the app's cached settings, table bindings, clients and queue URLs."""
    from chalicelib.adapters.aws import reset_clients
    from chalicelib.adapters.queues import reset_queue_urls
    from chalicelib.adapters.tables.base import unbind
    from chalicelib.config import reset_settings

    reset_settings()
    unbind()
    reset_clients()
    reset_queue_urls()


def apply_env(updates: Mapping[str, str | None]) -> dict[str, str | None]:
    """Set (or, for None, remove) variables; returns the previous values for restore_env."""
    saved = {key: os.environ.get(key) for key in updates}
    for key, value in updates.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_app_caches()
    return saved


def restore_env(saved: Mapping[str, str | None]) -> None:
    apply_env(saved)
