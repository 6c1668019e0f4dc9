"""Start and stop the local stand-ins for AWS: DynamoDB Local and moto's server."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL_DIR = ROOT / ".local"
DDB_PACKAGE = "amplify-dynamodb-simulator@2.9.30"
DDB_DIR = LOCAL_DIR / "dynamodb-local"
# sha256 of emulator/DynamoDBLocal.jar (DynamoDB Local 1.25.1) inside that npm package.
DDB_JAR_SHA256 = "454305e9bc3e6ebcca5b62569869e31563b8d7e346474e94557b2600702146c7"


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen[bytes] | None  # None when it was already running

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode} before listening on {port}")
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on port {port} within {timeout:.0f}s")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_dynamodb_local() -> Path:
    """The DynamoDB Local jar, fetched once with `npm pack` and checked by sha256.

    Under a lock: the test workers (and `make run` beside `make test`) start it at the same time.
    """
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    with (LOCAL_DIR / "dynamodb-local.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _fetch_dynamodb_local()


def _fetch_dynamodb_local() -> Path:
    jar = DDB_DIR / "DynamoDBLocal.jar"
    if jar.exists() and _sha256(jar) == DDB_JAR_SHA256:
        return jar
    if shutil.which("npm") is None:
        raise RuntimeError("npm is needed to fetch DynamoDB Local (npm pack amplify-dynamodb-simulator)")
    with tempfile.TemporaryDirectory(dir=LOCAL_DIR) as tmp:
        out = subprocess.run(
            ["npm", "pack", DDB_PACKAGE, "--silent"], cwd=tmp, check=True, capture_output=True, text=True
        )
        tgz = Path(tmp) / out.stdout.strip().splitlines()[-1]
        with tarfile.open(tgz) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("package/emulator/")]
            archive.extractall(tmp, members=members, filter="data")
        extracted = Path(tmp) / "package" / "emulator"
        if _sha256(extracted / "DynamoDBLocal.jar") != DDB_JAR_SHA256:
            raise RuntimeError("DynamoDBLocal.jar does not have the expected sha256; refusing to run it")
        if DDB_DIR.exists():
            shutil.rmtree(DDB_DIR)
        shutil.move(str(extracted), DDB_DIR)
    return jar


def start_dynamodb_local(port: int, db_path: Path | None) -> Service:
    """DynamoDB Local on `port`: on disk under `db_path`, or in memory when None."""
    url = f"http://127.0.0.1:{port}"
    if port_open(port):
        return Service("dynamodb-local", url, None)
    jar = ensure_dynamodb_local()
    storage = ["-inMemory"] if db_path is None else ["-dbPath", str(db_path)]
    if db_path is not None:
        db_path.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            "java",
            *os.environ.get("DYNAMODB_LOCAL_JAVA_OPTS", "").split(),
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            "-port",
            str(port),
            "-sharedDb",
            "-disableTelemetry",
            *storage,
        ],
        cwd=jar.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for_port(port, process, "DynamoDB Local")
    return Service("dynamodb-local", url, process)


def start_moto_server(port: int) -> Service:
    """moto's server (SQS, SES, EventBridge) on `port`."""
    url = f"http://127.0.0.1:{port}"
    if port_open(port):
        return Service("moto", url, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for_port(port, process, "moto server")
    return Service("moto", url, process)
