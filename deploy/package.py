"""`make package`: the SAM/CloudFormation template and the Lambda zip, in dist/package/.

    python -m deploy.package            # build (or reuse) dist/package/{sam.json,deployment.zip}
    python -m deploy.package --force    # build even when nothing changed

Steps: write the merge template (deploy/template.py) to dist/merge-template.json,
run `chalice package --stage prod --merge-template dist/merge-template.json`, then
rewrite the zip once: without boto3/botocore/s3transfer (Lambda's Python runtime
provides them; Chalice vendors botocore because PynamoDB depends on it) and with the
bytecode of every module. Chalice downloads manylinux wheels for Lambda's platform
from PyPI (it never uses this machine's).

Bytecode: Lambda's task root is read-only, so a zip without `__pycache__` compiles
every module it imports on every cold start. The `.pyc` files are compiled by this
Python (which is the runtime's version: Chalice picks the runtime from it) as
unchecked-hash pycs (PEP 552), which the interpreter loads without looking at the
source's timestamp (the zip's timestamps do not survive intact) and which point
tracebacks at /var/task, Lambda's task root.

The result is reused while nothing it is made from changes (requirements,
app.py, chalicelib/, templates/, .chalice/, deploy/, Chalice's and Python's
versions): the key is stored in dist/package/.key.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
OUT = DIST / "package"
MERGE_TEMPLATE = DIST / "merge-template.json"
KEY_FILE = OUT / ".key"
STAGE = "prod"

# Provided by Lambda's Python runtime: never shipped in the zip.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
TASK_ROOT = "/var/task"  # where Lambda unpacks the zip

_SOURCES = ("requirements.txt", "app.py", "chalicelib", "templates", ".chalice", "deploy")
_SKIP_DIRS = {"__pycache__", "deployments", "deployed"}


@dataclass(frozen=True)
class Package:
    directory: Path
    template: Path
    zip: Path
    reused: bool
    seconds: float

    @property
    def zip_bytes(self) -> int:
        return self.zip.stat().st_size


def source_key() -> str:
    """A hash of everything the package is made from."""
    import chalice

    digest = hashlib.sha256()
    digest.update(f"chalice {chalice.__version__} python {sys.version_info[:2]}".encode())
    for name in _SOURCES:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(_walk(path))
        for file in files:
            digest.update(str(file.relative_to(ROOT)).encode() + b"\0")
            digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def _walk(directory: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(directory, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        found += [Path(root) / f for f in files if not f.endswith((".pyc", ".pyo"))]
    return found


def _runtime_provided(name: str) -> bool:
    top = name.split("/", 1)[0]
    if top in RUNTIME_PROVIDED:
        return True
    return top.endswith((".dist-info", ".data")) and top.split("-", 1)[0].lower() in RUNTIME_PROVIDED


def runtime_of(template: Path) -> str:
    """The one Python runtime of the template's functions ("python3.11")."""
    resources = json.loads(template.read_text())["Resources"].values()
    untyped = [r for r in resources if "Type" not in r]
    if untyped:  # the merge template patched a resource Chalice did not generate
        raise RuntimeError(f"resources without a Type after the merge: {untyped}")
    runtimes = {r["Properties"]["Runtime"] for r in resources if r["Type"] == "AWS::Serverless::Function"}
    if len(runtimes) != 1:
        raise RuntimeError(f"expected one runtime for every function, found {sorted(runtimes)}")
    return str(runtimes.pop())


def finish_zip(zip_path: Path, runtime: str) -> tuple[int, int]:
    """Rewrite Chalice's zip, in one pass, without what Lambda provides and with the bytecode
    of every module; returns (entries dropped, modules compiled).

    Dropped: boto3/botocore/s3transfer, and the bytecode Chalice copied from the working
    tree's `__pycache__` (kept, it would be in the zip twice under one name). Added:
    `__pycache__/<module>.cpython-XY.pyc` for every module, compiled by this Python, which
    therefore must be the runtime's version.
    """
    here = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if runtime != here:
        raise RuntimeError(f"the functions run {runtime}, but bytecode can only be compiled for {here} here")
    tmp_zip = zip_path.with_suffix(".tmp.zip")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with zipfile.ZipFile(zip_path) as source:
            originals = source.infolist()
            kept = [i for i in originals if not (_runtime_provided(i.filename) or "__pycache__/" in i.filename)]
            source.extractall(root, members=kept)
        compileall.compile_dir(
            root,
            quiet=2,
            stripdir=str(root),
            prependdir=TASK_ROOT,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            workers=0,
        )
        compiled = sorted(p for p in root.rglob("__pycache__/*.pyc"))
        with zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as target:
            for info in kept:
                info.compress_type = zipfile.ZIP_DEFLATED
                target.writestr(info, (root / info.filename).read_bytes() if not info.is_dir() else b"")
            for pyc in compiled:
                name = str(pyc.relative_to(root))
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                target.writestr(info, pyc.read_bytes())
    tmp_zip.replace(zip_path)
    return len(originals) - len(kept), len(compiled)


def _prune_chalice_cache(keep: int = 2) -> None:
    """Chalice keeps a zip per app version in .chalice/deployments; keep only the newest few."""
    cache = ROOT / ".chalice" / "deployments"
    zips = sorted(cache.glob("*.zip"), key=lambda p: p.stat().st_mtime, reverse=True) if cache.is_dir() else []
    for old in zips[keep:]:
        old.unlink(missing_ok=True)


def build(force: bool = False, verbose: bool = True) -> Package:
    """Build dist/package (or reuse it when nothing it is made from changed)."""
    started = time.monotonic()
    key = source_key()
    template, zip_path = OUT / "sam.json", OUT / "deployment.zip"
    fresh = KEY_FILE.exists() and KEY_FILE.read_text().strip() == key and template.exists() and zip_path.exists()
    if fresh and not force:
        return Package(OUT, template, zip_path, True, time.monotonic() - started)

    DIST.mkdir(exist_ok=True)
    # In a fresh process: the template must come from the code on disk (the key's), not
    # from modules this process imported earlier.
    subprocess.run([sys.executable, "-m", "deploy.template", str(MERGE_TEMPLATE)], cwd=ROOT, check=True)
    staging = DIST / "package.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # chalice package wants one; the template does not use it
    chalice = Path(sys.executable).parent / "chalice"
    command = [str(chalice), "package", "--stage", STAGE, "--merge-template", str(MERGE_TEMPLATE), str(staging)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    if result.returncode != 0 or "Could not install dependencies" in output:
        raise RuntimeError(f"chalice package failed ({result.returncode}):\n{output}")
    finish_zip(staging / "deployment.zip", runtime_of(staging / "sam.json"))
    _prune_chalice_cache()
    shutil.rmtree(OUT, ignore_errors=True)
    staging.replace(OUT)
    KEY_FILE.write_text(key + "\n")
    package = Package(OUT, template, zip_path, False, time.monotonic() - started)
    if verbose:
        print(output.strip())
    return package


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="build even when nothing changed")
    args = parser.parse_args(argv)
    package = build(force=args.force)
    state = "reused (nothing changed)" if package.reused else f"built in {package.seconds:.1f}s"
    print(f"package {state}:")
    print(f"  template  {package.template.relative_to(ROOT)}")
    print(f"  zip       {package.zip.relative_to(ROOT)}  ({package.zip_bytes / 1_000_000:.1f} MB)")
    print(f"deploy:     sam deploy --template-file {package.template.relative_to(ROOT)} --guided")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
