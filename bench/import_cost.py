"""`import_cost`: cold-import time of the Lambda entry modules, relative to `import boto3`.

Each measurement is a fresh interpreter (`python -c`) that times only the import
statements with `time.perf_counter()` (interpreter start-up is excluded), run
several times, interleaved across targets, median taken. Every target is imported
once first so that the `.pyc` caches are warm. A separate `-X importtime` run per
target says where the time goes (its absolute figures are inflated by the
tracing; read them as shares).

The wall-clock ratio is the figure the target is judged on. The same probes also
record CPU time (`time.process_time()`), whose ratio hardly moves when other work
competes for the machine: when the two disagree, the machine was busy.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPETITIONS = 9
OWN_PACKAGES = frozenset({"app", "chalicelib"})
IMPORTTIME_RUNS = 3
FORBIDDEN_ON_INGEST = ("jinja2", "reportlab", "fpdf", "weasyprint", "pypdf", "PyPDF2", "xhtml2pdf", "pdfkit")
NOTABLE = (
    "boto3",
    "s3transfer",
    "botocore",
    "urllib3",
    "pynamodb",
    "pydantic",
    "pydantic_core",
    "chalice",
    "jwt",
    "cryptography",
    "aws_lambda_powertools",
    "jinja2",
    "markupsafe",
    "yaml",
    "stripe",
    "requests",
    *FORBIDDEN_ON_INGEST[2:],
)


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    modules: tuple[str, ...]
    is_ingest: bool = False


TARGETS = (
    Target("boto3", "import boto3", ("boto3",)),
    Target("http_handler", "import app (Chalice app, all routes)", ("app",)),
    Target("ingest_handler", "import chalicelib.handlers.ingest", ("chalicelib.handlers.ingest",), is_ingest=True),
    # Informational: Chalice deploys every function from app.py, so the SQS Lambda's
    # cold start imports app.py and then (lazily) the ingest handler.
    Target(
        "ingest_lambda_cold_start",
        "import app + chalicelib.handlers.ingest (what the SQS Lambda really loads)",
        ("app", "chalicelib.handlers.ingest"),
        is_ingest=True,
    ),
)

_PROBE = """
import sys, time
_t0 = time.perf_counter()
_c0 = time.process_time()
for _name in {modules!r}:
    __import__(_name)
_cpu = time.process_time() - _c0
_elapsed = time.perf_counter() - _t0
import json
print(json.dumps({{"ms": _elapsed * 1000, "cpu_ms": _cpu * 1000, "modules": sorted(sys.modules)}}))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE", "PYTHONSTARTUP", "PYTHONPATH"):
        env.pop(key, None)
    return env


def _probe(target: Target, python: str) -> dict[str, Any]:
    out = subprocess.run(
        [python, "-c", _PROBE.format(modules=target.modules)],
        cwd=ROOT,
        env=_env(),
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@dataclass(frozen=True)
class Row:
    """One line of `-X importtime`: a module, its own time and its subtree's."""

    self_us: int
    cumulative_us: int
    name: str
    parent: str | None  # the module whose import statement loaded this one

    @property
    def package(self) -> str:
        return self.name.split(".")[0]


def _importtime(target: Target, python: str, runs: int = IMPORTTIME_RUNS) -> list[Row]:
    """Per module, the median over `runs` `-X importtime` runs (tree shape from the first)."""
    first: list[Row] = []
    samples: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for index in range(runs):
        rows = _importtime_once(target, python)
        if index == 0:
            first = rows
        for row in rows:
            samples[row.name].append((row.self_us, row.cumulative_us))
    return [
        Row(
            int(statistics.median(s for s, _ in samples[row.name])),
            int(statistics.median(c for _, c in samples[row.name])),
            row.name,
            row.parent,
        )
        for row in first
    ]


def _importtime_once(target: Target, python: str) -> list[Row]:
    code = "; ".join(f"import {m}" for m in target.modules)
    out = subprocess.run(
        [python, "-X", "importtime", "-c", code],
        cwd=ROOT,
        env=_env(),
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    parsed: list[tuple[int, int, str, int]] = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        try:
            self_us, cumulative_us, raw_name = line.removeprefix("import time:").split("|", 2)
        except ValueError:
            continue
        raw_name = raw_name.removeprefix(" ")
        depth = (len(raw_name) - len(raw_name.lstrip(" "))) // 2
        parsed.append((int(self_us), int(cumulative_us), raw_name.strip(), depth))
    # The output is in post-order (children first); read backwards, a module's parent
    # is the nearest earlier-read module one level up.
    parents: dict[int, str | None] = {}
    stack: dict[int, str] = {}
    for index in range(len(parsed) - 1, -1, -1):
        _self, _cum, name, depth = parsed[index]
        stack[depth] = name
        parents[index] = stack.get(depth - 1) if depth > 0 else None
    return [Row(s, c, n, parents[i]) for i, (s, c, n, _d) in enumerate(parsed)]


def _where_time_goes(rows: list[Row], top: int = 12) -> dict[str, Any]:
    by_package: dict[str, int] = defaultdict(int)
    for row in rows:
        by_package[row.package] += row.self_us
    total = sum(by_package.values()) or 1
    packages = sorted(by_package.items(), key=lambda kv: -kv[1])[:top]
    # What each outside package costs to pull in: the subtrees entered from another
    # package (its not-yet-loaded dependencies included, so they overlap).
    pulled: dict[str, int] = defaultdict(int)
    by_whom: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        parent_package = row.parent.split(".")[0] if row.parent else None
        if row.package in OWN_PACKAGES or parent_package == row.package:
            continue
        pulled[row.package] += row.cumulative_us
        if parent_package in OWN_PACKAGES and row.parent:
            by_whom[row.package].add(row.parent)
    heaviest = sorted(pulled.items(), key=lambda kv: -kv[1])[:top]
    return {
        "pulled_in_ms_by_package": {name: round(us / 1000, 1) for name, us in heaviest},
        "imported_directly_by": {name: sorted(by_whom[name]) for name, _ in heaviest if by_whom[name]},
        "self_ms_by_package": {name: round(us / 1000, 1) for name, us in packages},
        "top_cumulative_ms": {
            row.name: round(row.cumulative_us / 1000, 1)
            for row in sorted(rows, key=lambda r: -r.cumulative_us)[:top]
            if row.parent is not None
        },
        "traced_total_ms": round(total / 1000, 1),
    }


def run(python: str = sys.executable, repetitions: int = REPETITIONS) -> dict[str, Any]:
    for target in TARGETS:  # warm the .pyc caches (and the OS file cache)
        _probe(target, python)
    samples: dict[str, list[float]] = {t.key: [] for t in TARGETS}
    cpu: dict[str, list[float]] = {t.key: [] for t in TARGETS}
    last: dict[str, dict[str, Any]] = {}
    for _ in range(repetitions):
        for target in TARGETS:  # interleaved, so drift hits every target alike
            probe = _probe(target, python)
            samples[target.key].append(probe["ms"])
            cpu[target.key].append(probe["cpu_ms"])
            last[target.key] = probe
    baseline = statistics.median(samples["boto3"])
    cpu_baseline = statistics.median(cpu["boto3"])
    results: dict[str, Any] = {}
    for target in TARGETS:
        modules = set(last[target.key]["modules"])
        median = statistics.median(samples[target.key])
        entry: dict[str, Any] = {
            "label": target.label,
            "median_ms": round(median, 1),
            "min_ms": round(min(samples[target.key]), 1),
            "max_ms": round(max(samples[target.key]), 1),
            "samples_ms": [round(s, 1) for s in samples[target.key]],
            "ratio_to_boto3": round(median / baseline, 3),
            "paired_ratio_to_boto3": round(
                statistics.median(t / b for t, b in zip(samples[target.key], samples["boto3"], strict=True)), 3
            ),
            "cpu_median_ms": round(statistics.median(cpu[target.key]), 1),
            "cpu_ratio_to_boto3": round(statistics.median(cpu[target.key]) / cpu_baseline, 3),
            "modules_loaded": len(modules),
            "notable_modules_loaded": [m for m in NOTABLE if m in modules],
            "where_time_goes": _where_time_goes(_importtime(target, python)),
        }
        if target.is_ingest:
            entry["forbidden_loaded"] = [m for m in FORBIDDEN_ON_INGEST if m in modules]
        results[target.key] = entry
    return {
        "method": (
            f"fresh `{Path(python).name} -c` per sample, perf_counter around the imports only, "
            f"{repetitions} interleaved samples per target after one warm-up import each; ratio_to_boto3 = "
            "median / median of import boto3 (wall clock; the target), paired_ratio = median of the per-round "
            "ratios, cpu_ratio = the same with process_time (insensitive to a busy machine); breakdown: median "
            f"of {IMPORTTIME_RUNS} `-X importtime` runs per target (inflated by tracing: read as shares)"
        ),
        "python": python,
        "repetitions": repetitions,
        "targets": results,
    }
