"""A stand-in for Lambda's Python runtime: the zip unpacked, run by a Python that has only boto3.

Lambda runs the function with its task root (/var/task, where the zip is unpacked)
on the path, before the runtime's own packages, of which boto3 and what it needs
are the only third-party ones. `lambda_python()` makes a virtual environment with
exactly those (copied from this environment's installed files, so no network), and
`unpack()` unzips the package; `lambda_env()` is the environment to run them with.
Both are kept under .local/lambda-runtime and rebuilt only when their inputs change.
Used by tests/deploy (invoking the handlers) and bench/deploy_cost.py (memory, cold import).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".local" / "lambda-runtime"
RUNTIME_PACKAGES = ("boto3",)  # what Lambda's Python runtime carries besides the standard library


def _closure(names: tuple[str, ...]) -> list[metadata.Distribution]:
    """The installed distributions `names` need (their requirements, without extras), in order."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    environment = {k: str(v) for k, v in default_environment().items()} | {"extra": ""}
    found: dict[str, metadata.Distribution] = {}
    pending = list(names)
    while pending:
        name = re.sub(r"[-_.]+", "-", pending.pop(0)).lower()
        if name in found:
            continue
        distribution = metadata.distribution(name)
        found[name] = distribution
        for text in distribution.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                pending.append(requirement.name)
    return list(found.values())


def lambda_python(directory: Path | None = None) -> Path:
    """A venv with boto3 and its dependencies only; returns its python."""
    distributions = _closure(RUNTIME_PACKAGES)
    key = hashlib.sha256(
        json.dumps([sys.version, sorted(f"{d.metadata['Name']}=={d.version}" for d in distributions)]).encode()
    ).hexdigest()[:16]
    venv = directory or CACHE / f"python-{key}"
    python = venv / "bin" / "python"
    stamp = venv / ".complete"
    if stamp.exists():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    for distribution in distributions:
        for file in distribution.files or []:
            source = Path(str(distribution.locate_file(file)))
            if not source.is_file():
                continue
            target = site / file
            if not target.resolve().is_relative_to(site.resolve()):
                continue  # scripts (../../bin): not needed to import
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    stamp.write_text("\n".join(f"{d.metadata['Name']}=={d.version}" for d in distributions) + "\n")
    return python


def unpack(zip_path: Path, directory: Path | None = None) -> Path:
    """The zip, unpacked as Lambda unpacks it into its task root; returns the directory."""
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()[:16]
    task_root = directory or CACHE / f"task-{digest}"
    stamp = task_root / ".complete"
    if stamp.exists():
        return task_root
    shutil.rmtree(task_root, ignore_errors=True)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(task_root)
    stamp.write_text(digest + "\n")
    for stale in CACHE.glob("task-*"):  # one unpacked zip is enough
        if stale != task_root:
            shutil.rmtree(stale, ignore_errors=True)
    return task_root


def lambda_env(task_root: Path, variables: dict[str, str] | None = None) -> dict[str, str]:
    """The process environment of a function: the task root first on the path, nothing of this machine's."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        {
            "PYTHONPATH": str(task_root),
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",  # Lambda's task root is read-only
            "LAMBDA_TASK_ROOT": str(task_root),
        }
    )
    env.update(variables or {})
    return env
