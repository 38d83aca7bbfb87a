"""The local playground (`make run` without BOT_TOKEN): the chat page's API in-process with the real bot,
and the whole service as `make run` starts it, in a subprocess that runs this tree's code."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PageEvents:
    """The page's live event stream (/api/events), read the way the browser's EventSource reads it."""

    url: str
    events: list[dict[str, Any]] = field(default_factory=list)
    _task: asyncio.Task | None = None

    async def __aenter__(self) -> PageEvents:
        self._session = aiohttp.ClientSession()
        response = await self._session.get(f"{self.url}/api/events")
        assert response.headers["Content-Type"] == "text/event-stream"
        self._task = asyncio.ensure_future(self._read(response))
        await self.wait(lambda: self.of("hello"), "the first event")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._session.close()

    async def _read(self, response: aiohttp.ClientResponse) -> None:
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("data: "):
                self.events.append(json.loads(line.removeprefix("data: ")))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == kind]

    def messages(self, sender: str = "bot") -> list[dict[str, Any]]:
        """Every version of every message from `sender`, in the order the page got them."""
        return [e["message"] for e in self.of("message") if e["message"]["from"] == sender]

    async def wait(self, predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if value := predicate():
                return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; events: {self.events[-5:]}")


@dataclass
class Service:
    """`python -m drawme.supervisor` without BOT_TOKEN, running this tree's code."""

    process: subprocess.Popen
    url: str
    output: list[str]

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def service_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "TELEGRAM_API_URL")}
    env.update(
        PYTHONPATH=str(REPO),  # this tree's code, not whatever the shared venv has installed
        DATA_DIR=str(tmp_path / "data"),
        PLAYGROUND_PORT=str(port),
        ENGINE_DEVICE="cpu",
        LOG_LEVEL="INFO",
        **extra,
    )
    return env


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Start the whole service as `make run` does without a token; waits for its `open <url>` line."""
    started: list[Service] = []

    def start(**env: str) -> Service:
        port = free_port()
        # cwd: a folder without a .env, so a developer's BOT_TOKEN cannot leak in.
        process = subprocess.Popen(
            [sys.executable, "-m", "drawme.supervisor"], cwd=tmp_path, env=service_env(tmp_path, port, **env),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        output: list[str] = []
        service = Service(process, f"http://127.0.0.1:{port}", output)
        started.append(service)
        deadline = time.monotonic() + 60
        for line in process.stdout:
            output.append(line)
            if line.startswith(f"open http://127.0.0.1:{port}"):
                break
            assert time.monotonic() < deadline, "no `open` line within 60 s"
        else:
            raise AssertionError("the service exited:\n" + "".join(output))
        # Keep draining its output, so a chatty log can never block it.
        threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()
        return service

    yield start
    for service in started:  # SIGTERM: the supervisor stops its children (SIGKILL would orphan them)
        if service.process.poll() is None:
            service.stop()

