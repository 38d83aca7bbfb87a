"""`make run` without BOT_TOKEN: the supervisor serves the local chat page on 127.0.0.1, the bot (a real
child process) answers there, and SIGTERM stops everything. With a busy port it says which setting to
change. (With a token, `make run` is unchanged: tests/ops/test_supervisor.py.)"""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

from drawme.config import BOTFATHER_HINT, EX_CONFIG
from tests.playground.conftest import PageEvents, Service, free_port, service_env


async def test_without_a_token_make_run_serves_the_chat_page_and_the_bot_answers_there(
    start_service: Callable[..., Service],
) -> None:
    service = start_service()
    with urllib.request.urlopen(service.url + "/", timeout=10) as response:
        assert b"Local preview" in response.read()
    async with PageEvents(service.url) as page:
        form = urllib.request.Request(
            service.url + "/api/send", data=b"text=%2Fstart",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        with urllib.request.urlopen(form, timeout=10) as response:
            assert response.status == 200
        greeting = await page.wait(lambda: page.messages(), "the bot's greeting", timeout=90)
        assert "/help" in greeting[0]["text"]
        assert page.of("commands") or page.of("hello")[0]["commands"]  # the bot registered its menu
    assert service.stop() == 0
    log = "".join(service.output)
    assert "bot started" in log and "engine started" in log
    assert BOTFATHER_HINT not in log


def test_the_page_listens_on_127_0_0_1_only(start_service: Callable[..., Service]) -> None:
    service = start_service()
    port = int(service.url.rsplit(":", 1)[1])
    addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    addresses.add("127.0.0.2")  # loopback too, but a server on 0.0.0.0 would answer there
    for address in addresses - {"127.0.0.1"}:
        with socket.socket() as sock:
            sock.settimeout(2)
            assert sock.connect_ex((address, port)) != 0, f"reachable on {address}"
    assert service.stop() == 0


def test_a_busy_port_exits_78_naming_playground_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_port()))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "drawme.supervisor"], cwd=tmp_path, env=service_env(tmp_path, port),
            capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == EX_CONFIG, result.stderr[-2000:]
    assert "PLAYGROUND_PORT" in result.stderr
    assert "engine started" not in result.stderr + result.stdout
