"""How the local stack is configured (ports, data folder, secret) and how a process is pointed at it.

Its own module so that `devtools.run`, which starts the stack, and the tools that
only need to reach it (`python -m devtools.seed`, the tests) import the settings
without importing each other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from . import environment
from .processes import LOCAL_DIR

DEFAULT_DB_PATH = LOCAL_DIR / "dynamodb-data"
REGION = "us-east-1"


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


@dataclass
class StackConfig:
    api_port: int = 8000
    dynamodb_port: int = 8001
    moto_port: int = 4566
    db_path: Path | None = DEFAULT_DB_PATH  # None: DynamoDB Local in memory
    seed: bool = True
    jwt_secret: str | None = None  # None: BILLING_JWT_SECRET, else the local default
    chalice_log: Path | None = None  # None: chalice local writes to this terminal
    verbose: bool = True
    token_ttl: timedelta = timedelta(days=30)
    pump: bool = True  # False: queue messages stay queued (the API fuzz test wants no background writes)
    drain_seconds: float = 60.0  # on stop, how long the queues may take to drain (pump on only)

    @classmethod
    def from_env(cls) -> StackConfig:
        env = os.environ
        data = env.get("DYNAMODB_DATA", "")
        db_path: Path | None = DEFAULT_DB_PATH
        if data.strip().lower() == "memory":
            db_path = None
        elif data.strip():
            db_path = Path(data).resolve()
        return cls(
            api_port=int(env.get("API_PORT") or 8000),
            dynamodb_port=int(env.get("DYNAMODB_PORT") or 8001),
            moto_port=int(env.get("MOTO_PORT") or 4566),
            db_path=db_path,
            seed=_env_flag("SEED", True),
            jwt_secret=env.get("BILLING_JWT_SECRET") or None,
            drain_seconds=float(env.get("DRAIN_SECONDS") or 60),
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def dynamodb_url(self) -> str:
        return f"http://127.0.0.1:{self.dynamodb_port}"

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    def secret(self) -> tuple[str, bool]:
        """The JWT secret, and whether it is the local default."""
        from chalicelib.config import LOCAL_JWT_SECRET

        if self.jwt_secret:
            return self.jwt_secret, False
        return LOCAL_JWT_SECRET, True

    def env(self) -> dict[str, str]:
        """What the app (chalice local, the pump, the seed) needs to reach the local stand-ins.

        Only the endpoints and credentials differ from AWS: botocore honours
        AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_DYNAMODB itself.
        """
        return {
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "BILLING_STAGE": "local",
            "BILLING_JWT_SECRET": self.secret()[0],
            # Links in alert and notice emails.
            "BILLING_CONSOLE_URL": f"{self.api_url}/console",
        }


# Variables that would send botocore somewhere else than the local stand-ins.
_CLEARED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def apply_env(config: StackConfig) -> dict[str, str | None]:
    """Point this process at the local stack; returns the previous values (see restore_env)."""
    return environment.apply_env({**config.env(), **dict.fromkeys(_CLEARED)})


restore_env = environment.restore_env
