"""One module per use case: what the routes and handlers call.

`from ..services import accounts` (what the route modules do) binds a stand-in that
imports the real module on first use. Every Lambda function of the stack loads
app.py, and with it every route module: this way a function imports only the
services (and the storage, PDF and payment libraries behind them) that its own
invocations call, instead of all of them on every cold start. A direct import
(`from chalicelib.services.accounts import x`) is an ordinary import.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any


class _OnFirstUse(ModuleType):
    """A submodule that is imported when one of its attributes is first read."""

    def __getattr__(self, attribute: str) -> Any:
        # importlib holds the import lock: concurrent first uses import the module once.
        return getattr(importlib.import_module(self.__name__), attribute)


def __getattr__(name: str) -> ModuleType:
    if name.startswith("_") or importlib.util.find_spec(f"{__name__}.{name}") is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _OnFirstUse(f"{__name__}.{name}")
