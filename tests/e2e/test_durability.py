"""Local durability: Ctrl-C on `make run` during an ingest loses nothing that was answered 202.

moto keeps its queues in memory, so before issue 11 Ctrl-C lost every event still
queued (3,000 in the report). `python -m devtools.run` is started as `make run`
starts it (SEED=0, free ports, DynamoDB Local on disk in a temporary folder);
posters keep sending usage events while SIGINT arrives; the run must stop the API,
drain the queues and exit. Started again on the same data, every accepted event is
in the ledger exactly once (and nothing that was never posted).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.processes import ROOT, free_port
from tests.conftest import TEST_SECRET, summary_line

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EVENTS_PER_POST = 500
POSTERS = 4
ACCOUNT = "durable_acct"
BANNER = "Charges & Usage is running locally."


class LocalRun:
    """`python -m devtools.run` in its own process, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.run"],
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the test sends the signals, not the terminal
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_banner(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if BANNER in self.output():
                return
            assert self.process.poll() is None, f"devtools.run exited early:\n{self.output()[-3000:]}"
            time.sleep(0.2)
        raise AssertionError(f"no banner within {timeout}s:\n{self.output()[-3000:]}")

    def interrupt(self, timeout: float = 240) -> int:
        """Ctrl-C, and wait for the run to finish stopping."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        finally:
            self._out.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            time.sleep(0.5)
            self.process.send_signal(signal.SIGINT)  # skip the drain
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._out.close()


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BILLING_", "AWS_"))}
    env.update(
        {
            "API_PORT": str(free_port()),
            "DYNAMODB_PORT": str(free_port()),
            "MOTO_PORT": str(free_port()),
            "DYNAMODB_DATA": str(tmp_path / "dynamodb-data"),
            "SEED": "0",
            "BILLING_JWT_SECRET": TEST_SECRET,
            "DRAIN_SECONDS": "180",
        }
    )
    return env


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[list[LocalRun]]:
    started: list[LocalRun] = []
    yield started
    for run in started:
        run.kill()


def _token() -> str:
    from chalicelib.domain.access import Role
    from chalicelib.services.tokens import issue_token

    return issue_token(TEST_SECRET, "platform-backend", "platform", Role.SERVICE, timedelta(hours=1))


def _events(prefix: str, occurred: str) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{prefix}-{n}",
            "account_id": ACCOUNT,
            "category": "call_minutes",
            "quantity": "1",
            "unit_price": "1.00",
            "occurred_at": occurred,
        }
        for n in range(EVENTS_PER_POST)
    ]


def test_ctrl_c_during_an_ingest_drains_every_accepted_event_into_the_ledger(
    environment: dict[str, str], runs: list[LocalRun], tmp_path: Path
) -> None:
    api = f"http://127.0.0.1:{environment['API_PORT']}"
    headers = {"Authorization": f"Bearer {_token()}"}
    first = LocalRun(environment, tmp_path / "first-run.log")
    runs.append(first)
    first.wait_for_banner()
    created = requests.put(f"{api}/accounts/{ACCOUNT}", json={"name": "Durable"}, headers=headers, timeout=30)
    assert created.status_code == 201, created.text

    occurred = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    accepted: set[str] = set()
    posted: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def post(poster: int) -> None:
        session = requests.Session()
        for batch in range(1000):
            events = _events(f"p{poster}-b{batch}", occurred)
            with lock:
                posted.update(e["event_id"] for e in events)
            try:
                response = session.post(f"{api}/usage-events", json={"events": events}, headers=headers, timeout=30)
            except requests.RequestException:
                return  # the API has stopped: not accepted
            if response.status_code != 202:
                return
            with lock:
                accepted.update(e["event_id"] for e in events)
            if stop.is_set():
                return

    posters = [threading.Thread(target=post, args=(n,)) for n in range(POSTERS)]
    for thread in posters:
        thread.start()
    deadline = time.monotonic() + 120
    while len(accepted) < 6 * EVENTS_PER_POST and time.monotonic() < deadline:
        time.sleep(0.05)
    assert accepted, "nothing was accepted before the deadline"
    stop.set()
    code = first.interrupt()  # Ctrl-C while the posters are still sending
    for thread in posters:
        thread.join(60)
    output = first.output()
    assert code == 0, output[-3000:]
    assert "gave up draining" not in output, output[-3000:]
    drained = re.search(r"drained (\d+) message\(s\)", output)
    assert drained is not None, output[-3000:]

    second = LocalRun(environment, tmp_path / "second-run.log")
    runs.append(second)
    second.wait_for_banner()
    charged: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{api}/accounts/{ACCOUNT}/logs", params=params, headers=headers, timeout=30)
        assert page.status_code == 200, page.text
        charged += [row["event_id"] for row in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    balance = requests.get(f"{api}/accounts/{ACCOUNT}/balance", headers=headers, timeout=30).json()["balance"]
    assert second.interrupt() == 0

    missing = accepted - set(charged)
    assert not missing, f"{len(missing)} of {len(accepted)} accepted events were lost, e.g. {sorted(missing)[:3]}"
    assert len(charged) == len(set(charged)), "an event was charged twice"
    assert set(charged) <= posted
    assert balance == f"-{len(charged)}.00"
    summary_line(
        f"durability: Ctrl-C with {len(accepted)} events accepted; the drain moved {drained.group(1)} message(s); "
        f"after a restart {len(charged)} charged once each, 0 lost"
    )
