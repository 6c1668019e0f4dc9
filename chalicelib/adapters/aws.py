"""boto3 clients, created on first use and cached (never at import)."""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

from ..config import get_settings

_lock = threading.Lock()


@cache
def client(service: str) -> Any:
    """A cached boto3 client; botocore reads AWS_ENDPOINT_URL(_<SERVICE>) itself."""
    with _lock:
        import boto3  # deferred: the ingest path only pays for it when it sends

        session: Any = boto3.session.Session()
        return session.client(service, region_name=get_settings().region)


def reset_clients() -> None:
    client.cache_clear()
