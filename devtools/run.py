"""`make run`: the whole service on this machine, no AWS account needed.

    python -m devtools.run                 # start the stack, print URLs and tokens, wait for Ctrl-C
    python -m devtools.run exec CMD ...    # run CMD against the local stack's DynamoDB (make reconcile)

It fetches DynamoDB Local if needed and starts it (data under .local/dynamodb-data,
kept across restarts), starts moto's server (SQS, SES, EventBridge), creates the
tables, queues and SES sender, seeds the demo agency (unless SEED=0), starts
`chalice local` and the event pump, prints the URLs and ready-to-use tokens, and
on Ctrl-C stops everything it started: first the API (nothing more is accepted),
then it drains the queues into DynamoDB (moto keeps them in memory: what is still
queued when it stops is lost), within DRAIN_SECONDS; a second Ctrl-C skips the drain.

Settings (environment): API_PORT (8000), DYNAMODB_PORT (8001), MOTO_PORT (4566),
DYNAMODB_DATA (a folder, or "memory"; default .local/dynamodb-data), SEED (1),
BILLING_JWT_SECRET (default: the printed local secret), DRAIN_SECONDS (60).

`start_stack(StackConfig(...))` does the same from Python and returns a handle
with `stop()`; the end-to-end test runs it on free ports.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from . import environment
from .processes import (
    LOCAL_DIR,
    ROOT,
    Service,
    ensure_dynamodb_local,
    port_open,
    start_dynamodb_local,
    start_moto_server,
    wait_for_port,
)

DEFAULT_DB_PATH = LOCAL_DIR / "dynamodb-data"
TOKENS_FILE = LOCAL_DIR / "tokens.env"
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


def chalice_command(port: int) -> list[str]:
    # `chalice local` without autoreload (its file watcher polls every file under the
    # project and would restart on every write to the data folder), answering API
    # Gateway's own errors (no token, unknown route) as the deployed stack does.
    return [sys.executable, "-m", "devtools.local_api", "--host", "127.0.0.1", "--port", str(port), "--stage", "local"]


@dataclass
class Stack:
    config: StackConfig
    services: list[Service] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)
    pump: Any = None  # devtools.pump.Pump
    seed_summary: Any = None
    _pump_thread: threading.Thread | None = None
    _pump_stop: threading.Event | None = None
    drain_result: Any = None  # devtools.pump.DrainResult of the last stop, when it drained
    _saved_env: dict[str, str | None] | None = None
    _log: IO[bytes] | None = None
    _stopped: bool = False

    @property
    def chalice(self) -> Service | None:
        return next((s for s in self.services if s.name == "chalice-local"), None)

    def stop(self, abandon_drain: threading.Event | None = None) -> None:
        """Stop everything this stack started (idempotent).

        The API first, so nothing more is accepted; then the pump's loop; then, with
        the pump on, the queues are drained into DynamoDB (moto loses what is left);
        then moto and DynamoDB Local. `abandon_drain` set: stop draining now.
        """
        if self._stopped:
            return
        self._stopped = True
        chalice = self.chalice
        if chalice is not None:
            with contextlib.suppress(ProcessLookupError):
                chalice.stop()
        if self._pump_stop is not None:
            self._pump_stop.set()
        if self._pump_thread is not None:
            self._pump_thread.join(timeout=15)
        if self._pump_thread is not None and self.config.drain_seconds > 0:
            self._drain(abandon_drain)
        for service in reversed(self.services):
            if service is chalice:
                continue
            with contextlib.suppress(ProcessLookupError):
                service.stop()
        if self._log is not None:
            self._log.close()
        if self._saved_env is not None:
            restore_env(self._saved_env)

    def _drain(self, abandon: threading.Event | None) -> None:
        config = self.config
        _say(
            config, f"draining the queues into DynamoDB (at most {config.drain_seconds:.0f}s; Ctrl-C again to skip) ..."
        )
        try:
            result = self.pump.drain_for_shutdown(config.drain_seconds, abandon)
        except Exception as exc:  # moto or DynamoDB already gone: say so, and stop anyway
            print(f"could not drain the queues ({type(exc).__name__}: {exc}); queued messages are lost", flush=True)
            return
        self.drain_result = result
        _say(config, f"drained {result.counts.deleted} message(s) in {result.seconds:.1f}s")
        if not result.complete:
            left = ", ".join(f"{name}: {n}" for name, n in result.left.items() if n)
            print(
                f"gave up draining after {result.seconds:.0f}s; still queued (lost when moto stops): {left}",
                flush=True,
            )
        if result.dead_letters:
            parked = ", ".join(f"{name}: {n}" for name, n in result.dead_letters.items())
            print(f"dead-lettered messages (lost when moto stops; read them now if they matter): {parked}", flush=True)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _say(config: StackConfig, text: str) -> None:
    if config.verbose:
        print(text, flush=True)


def start_stack(config: StackConfig) -> Stack:
    """Start the local stack as `make run` does; the caller must call `stop()`."""
    from .pump import app_pump, start_pump_thread
    from .resources import create_all
    from .tokens import demo_tokens

    if port_open(config.api_port):
        raise RuntimeError(f"port {config.api_port} is already in use (another `make run`?); stop it or set API_PORT")
    stack = Stack(config)
    try:
        ensure_dynamodb_local()
        ddb = start_dynamodb_local(config.dynamodb_port, config.db_path)
        stack.services.append(ddb)
        where = "in memory" if config.db_path is None else f"data in {config.db_path}"
        _say(config, f"DynamoDB Local {ddb.url} ({'already running' if ddb.process is None else where})")
        moto = start_moto_server(config.moto_port)
        stack.services.append(moto)
        _say(config, f"moto server    {moto.url}{' (already running)' if moto.process is None else ''}")

        stack._saved_env = apply_env(config)
        resources = create_all()
        created = resources["tables"]
        count = len(created) if isinstance(created, list) else 0
        _say(config, f"tables ready ({count} created), queues and SES sender ready")
        from chalicelib.services.rebuild import needed, rebuild

        if needed():  # a ledger kept from before Logs pages existed: derive what it lacks
            _say(config, "ledger entries without Logs pages: deriving pages, rollups and posting days (make rebuild)")
            rebuild(verbose=config.verbose)

        if config.seed:
            from .seed import seed

            stack.seed_summary = seed(verbose=config.verbose)

        secret, _ = config.secret()
        stack.tokens = demo_tokens(secret, config.token_ttl)

        if config.chalice_log is not None:
            stack._log = config.chalice_log.open("ab")
        process = subprocess.Popen(
            chalice_command(config.api_port),
            cwd=ROOT,
            env=dict(os.environ),
            stdout=stack._log,
            stderr=subprocess.STDOUT if stack._log is not None else None,
            start_new_session=True,
        )
        stack.services.append(Service("chalice-local", config.api_url, process))
        wait_for_port(config.api_port, process, "chalice local", timeout=90)

        stack.pump = app_pump(verbose=config.verbose)
        if config.pump:
            stack._pump_thread, stack._pump_stop = start_pump_thread(stack.pump)
    except BaseException:
        stack.stop()
        raise
    return stack


def banner(stack: Stack) -> str:
    config = stack.config
    secret, is_default = config.secret()
    lines = [
        "",
        "Charges & Usage is running locally.",
        "",
        f"  API              {config.api_url}",
        f"  console (admin)  {config.api_url}/console#token={stack.tokens['AGENCY_ADMIN_TOKEN']}   (agency_demo)",
        f"  console (viewer) {config.api_url}/console#token={stack.tokens['VIEWER_TOKEN']}   (acct_own_1)",
        f"  DynamoDB Local   {config.dynamodb_url}"
        + ("" if config.db_path is None else f"   (data: {_relative(config.db_path)})"),
        f"  moto (SQS, SES)  {config.moto_url}",
        f"  sent emails      {config.moto_url}/moto-api/data.json   (ses: RawMessage, Message)",
        "",
    ]
    if is_default:
        lines += [
            "  JWT secret: BILLING_JWT_SECRET is not set, so tokens are signed with the local default:",
            f"    {secret}",
            "",
        ]
    else:
        lines += ["  JWT secret: from BILLING_JWT_SECRET", ""]
    lines += [f"  Tokens (30 days; also in {_relative(TOKENS_FILE)}: `source {_relative(TOKENS_FILE)}`):"]
    lines += [f"    export {name}={token}" for name, token in stack.tokens.items()]
    api = config.api_url
    lines += [
        "",
        "  Try:",
        f'    curl -s -H "Authorization: Bearer $VIEWER_TOKEN" {api}/accounts/acct_own_1/balance',
        f'    curl -s -H "Authorization: Bearer $AGENCY_ADMIN_TOKEN" "{api}/agencies/agency_demo/logs?limit=5"',
        '    curl -s -X POST -H "Authorization: Bearer $SERVICE_TOKEN" -H "Content-Type: application/json" \\',
        f'      {api}/usage-events -d \'{{"events": [{{"event_id": "try-1", "account_id": "acct_own_1",',
        '      "category": "call_minutes", "quantity": "3", "occurred_at": "'
        + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        + "\"}]}'",
        "",
        "  Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def write_tokens_file(tokens: dict[str, str]) -> None:
    TOKENS_FILE.parent.mkdir(parents=True, exist_ok=True)
    TOKENS_FILE.write_text("".join(f"export {name}={token}\n" for name, token in tokens.items()))


class _Stop(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM."""


# Set by a second Ctrl-C while stopping: skip the rest of the drain.
_ABANDON_DRAIN = threading.Event()


def _on_signal(signum: int, _frame: Any) -> None:
    # The first signal stops (draining the queues); a second one skips the drain;
    # further ones are ignored so the cleanup can finish.
    signal.signal(signal.SIGINT, _on_second_signal)
    signal.signal(signal.SIGTERM, _on_second_signal)
    raise _Stop(signal.Signals(signum).name)


def _on_second_signal(signum: int, _frame: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(f"\n{signal.Signals(signum).name} again: stopping without finishing the drain", flush=True)
    _ABANDON_DRAIN.set()


def run() -> int:
    config = StackConfig.from_env()
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        stack = start_stack(config)  # stops what it started if interrupted
    except _Stop:
        print("\nstopped during startup.", flush=True)
        return 130
    try:
        write_tokens_file(stack.tokens)
        print(banner(stack), flush=True)
        chalice = stack.chalice
        while True:
            time.sleep(1.0)
            if chalice is not None and chalice.process is not None and chalice.process.poll() is not None:
                print(f"chalice local exited with code {chalice.process.returncode}; stopping", flush=True)
                return 1
    except _Stop as stop:
        print(f"\n{stop.args[0]}: stopping (the API first, then the queues drain) ...", flush=True)
        return 0
    finally:
        stack.stop(_ABANDON_DRAIN)
        print("stopped.", flush=True)


def exec_with_stack(command: list[str]) -> int:
    """Run a command against the local stack's DynamoDB (started for it if not running)."""
    config = StackConfig.from_env()
    ddb = start_dynamodb_local(config.dynamodb_port, config.db_path)
    saved = apply_env(config)
    try:
        from chalicelib.adapters.schema import create_tables

        create_tables()
        return subprocess.run(command, cwd=ROOT, env=dict(os.environ)).returncode
    finally:
        restore_env(saved)
        ddb.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="start the local stack (the default)")
    exec_parser = sub.add_parser("exec", help="run a command against the local stack's DynamoDB")
    exec_parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "exec":
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not cmd:
            parser.error("exec needs a command")
        return exec_with_stack(cmd)
    return run()


if __name__ == "__main__":
    raise SystemExit(main())
