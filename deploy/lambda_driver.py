"""Invoke one Lambda function's handler as Lambda does, and record the AWS calls its code makes.

Run by the Python of deploy/runtime.py (the standard library and boto3 only) with
the unpacked zip on its path, one process per function, as Lambda gives each
function containers of its own:

    python deploy/lambda_driver.py REQUEST.json RESULT.json

REQUEST: {"handler": "app.ingest_usage_events", "function_name": "...", "memory_mb": 512,
          "invocations": [{"event": <event>, "interleave": {"before": "TransactWriteItems", "event": <event>}}]}
RESULT:  {"init_ms", "invocations": [{"response", "error", "ms", "calls": [...], "interleaved": <response>}],
          "peak_rss_kb" (VmHWM), "cpu_s", "xray_loaded"}

The handler is imported as Lambda's init does (timed), then called once per event
with a Lambda-shaped context. Every botocore API call (PynamoDB's included) is
recorded with the parameters that name its resources. `interleave` runs a second
invocation of the same handler just before the first's first call of that
operation: another container of the function doing its work in between, which is
how a race (a balance head moved by another writer) is made to happen every time.
The function's own output (its log lines) goes to stdout untouched. This file
imports nothing of the app but the handler, and nothing outside the standard
library and botocore.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import secrets
import sys
import time
import traceback
import uuid
from typing import Any

import botocore.client

_calls: list[dict[str, Any]] = []
_make_api_call = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]
_interleave: dict[str, Any] = {}  # {"before", "run"}: called once, before the first such call
_NAMING = ("TableName", "IndexName", "QueueUrl", "QueueName", "Name", "FromEmailAddress")


def _describe(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    named: dict[str, Any] = {k: params[k] for k in _NAMING if k in params}
    if "RequestItems" in params:
        named["RequestItems"] = sorted(params["RequestItems"])
    if "TransactItems" in params:
        named["TransactItems"] = [
            [kind, body["TableName"]] for item in params["TransactItems"] for kind, body in item.items()
        ]
    return {"service": service, "operation": operation, "params": named}


def _recording(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
    if _interleave.get("before") == operation_name:
        run = _interleave.pop("run")
        _interleave.clear()
        run()
    call = _describe(self.meta.service_model.service_name, operation_name, api_params)
    _calls.append(call)
    started = time.perf_counter()
    try:
        return _make_api_call(self, operation_name, api_params)
    finally:
        ended = time.perf_counter()
        call["ms"] = round((ended - started) * 1000, 1)
        # On one clock, so a reader can tell concurrent calls' time from sequential time.
        call["span"] = [started, ended]


botocore.client.BaseClient._make_api_call = _recording  # type: ignore[attr-defined]


class LambdaContext:
    def __init__(self, function_name: str, memory_mb: int, timeout_s: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "driver"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _peak_rss_kb() -> int:
    """This process's peak resident set (Linux's VmHWM). getrusage's ru_maxrss would not do: it
    survives execve, so a process started by a bigger one reports its parent's peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _trace_header() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=1"


def main(request_path: str, result_path: str) -> int:
    with open(request_path) as f:
        request = json.load(f)
    module_name, _, attribute = request["handler"].rpartition(".")
    started = time.perf_counter()
    handler = getattr(importlib.import_module(module_name), attribute)
    init_ms = (time.perf_counter() - started) * 1000
    invocations = []
    for invocation in request["invocations"]:
        del _calls[:]
        os.environ["_X_AMZN_TRACE_ID"] = _trace_header()  # Lambda sets it per invocation
        memory_mb, timeout_s = int(request.get("memory_mb", 128)), int(request.get("timeout_s", 60))
        context = LambdaContext(request["function_name"], memory_mb, timeout_s)
        interleaved: dict[str, Any] = {}
        if invocation.get("interleave"):
            other = invocation["interleave"]

            def run_other(
                other: dict[str, Any] = other, interleaved: dict[str, Any] = interleaved, memory_mb: int = memory_mb
            ) -> None:
                other_context = LambdaContext(request["function_name"], memory_mb, int(request.get("timeout_s", 60)))
                interleaved["response"] = handler(other["event"], other_context)

            _interleave.update({"before": other["before"], "run": run_other})
        started = time.perf_counter()
        response: Any = None
        error = None
        try:
            response = handler(invocation["event"], context)
        except Exception:
            error = traceback.format_exc()
        _interleave.clear()
        invocations.append(
            {
                "response": response,
                "error": error,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "calls": list(_calls),
                "interleaved": interleaved.get("response"),
            }
        )
    sys.stdout.flush()
    result = {
        "init_ms": round(init_ms, 1),
        "invocations": invocations,
        "peak_rss_kb": _peak_rss_kb(),
        "cpu_s": round(time.process_time(), 3),
        "xray_loaded": "aws_xray_sdk" in sys.modules,  # the Powertools Tracer is only imported when tracing
    }
    with open(result_path, "w") as f:
        json.dump(result, f, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
