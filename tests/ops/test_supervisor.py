"""The supervisor behind `make run`: config check first, restarts with backoff, clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drawme.config import EX_CONFIG
from drawme.supervisor import Supervisor, default_commands, restart_delay


def child(code: str) -> list[str]:
    """A stand-in child process running `code`."""
    return [sys.executable, "-c", code]


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def env_without_token(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    env["DATA_DIR"] = str(tmp_path / "data")
    return env


def test_bad_setting_exits_78_naming_it(tmp_path: Path) -> None:
    env = env_without_token(tmp_path) | {"BOT_TOKEN": "1:x", "LEASE_SECONDS": "soon"}
    result = subprocess.run(
        [sys.executable, "-m", "drawme.supervisor"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == EX_CONFIG
    assert "LEASE_SECONDS" in result.stderr


def test_default_commands_run_the_engine_workers_and_the_bot() -> None:
    assert default_commands() == {
        "engine": [sys.executable, "-m", "engine", "serve"],
        "bot": [sys.executable, "-m", "bot"],
    }
    assert list(default_commands(workers=2)) == ["engine-1", "engine-2", "bot"]


async def test_a_child_that_dies_is_restarted_while_the_other_keeps_running(tmp_path: Path) -> None:
    starts_flaky, starts_steady = tmp_path / "flaky.log", tmp_path / "steady.log"
    supervisor = Supervisor(
        {
            "flaky": child(f"open({str(starts_flaky)!r}, 'a').write('start\\n'); raise SystemExit(3)"),
            "steady": child(
                f"import time; open({str(starts_steady)!r}, 'a').write('start\\n'); time.sleep(60)"
            ),
        },
        backoff_first=0.05,
        backoff_max=0.2,
    )
    running = asyncio.create_task(supervisor.run())

    def count(path: Path) -> int:
        return len(path.read_text().splitlines()) if path.exists() else 0

    deadline = time.monotonic() + 20
    while count(starts_flaky) < 3:
        assert time.monotonic() < deadline, "the dead child was not restarted"
        assert not running.done()
        await asyncio.sleep(0.05)
    supervisor.stop()
    assert await asyncio.wait_for(running, 10) == 0
    assert count(starts_steady) == 1  # the healthy sibling was left alone
    flaky, steady = supervisor.children
    assert flaky.starts >= 3
    assert steady.process.returncode == -signal.SIGTERM


# A stand-in child that records its pid, and on SIGTERM either exits (polite) or ignores it (stubborn).
CHILD = """
import os, signal, sys, time
open(sys.argv[1], 'w').write(str(os.getpid()))
if sys.argv[2] == 'stubborn':
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(120)
"""

SUPERVISOR = """
import asyncio, sys
from drawme.supervisor import Supervisor
polite, stubborn = sys.argv[1:3]
children = {{
    "polite": [sys.executable, "-c", {child!r}, polite, "polite"],
    "stubborn": [sys.executable, "-c", {child!r}, stubborn, "stubborn"],
}}
sys.exit(asyncio.run(Supervisor(children, stop_timeout=2).run()))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_stops_both_children_within_10_s_and_exits_0(signum: int, tmp_path: Path) -> None:
    polite, stubborn = tmp_path / "polite.pid", tmp_path / "stubborn.pid"
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR.format(child=CHILD), str(polite), str(stubborn)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: all(p.exists() and p.read_text() for p in (polite, stubborn)))
        pids = [int(polite.read_text()), int(stubborn.read_text())]
        started = time.monotonic()
        supervisor.send_signal(signum)
        assert supervisor.wait(timeout=10) == 0
        assert time.monotonic() - started < 10
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    log = supervisor.stderr.read()
    assert "stubborn did not stop" in log  # SIGTERM ignored -> SIGKILL after the grace period
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"child {pid} outlived the supervisor"


async def test_stop_during_the_restart_backoff_does_not_wait_it_out(tmp_path: Path) -> None:
    started = tmp_path / "started"
    supervisor = Supervisor(
        {"dies": child(f"open({str(started)!r}, 'w'); raise SystemExit(1)")}, backoff_first=300
    )
    running = asyncio.create_task(supervisor.run())
    while not started.exists() or supervisor.children[0].process.returncode is None:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # now in the 300 s backoff
    supervisor.stop()
    assert await asyncio.wait_for(running, 5) == 0
    assert supervisor.children[0].starts == 1


def test_restart_delays_double_from_the_first_up_to_the_cap() -> None:
    assert [restart_delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 30, 30, 30]
    assert [restart_delay(n, first=0.5, cap=3) for n in range(1, 6)] == [0.5, 1, 2, 3, 3]
    assert restart_delay(10_000) == 30  # no overflow after a long crash loop
    with pytest.raises(ValueError):
        restart_delay(0)


async def test_a_crash_loop_backs_off_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    supervisor = Supervisor({"crashy": child("raise SystemExit(3)")}, backoff_first=0.01, backoff_max=0.04)
    running = asyncio.create_task(supervisor.run())
    (crashy,) = supervisor.children
    deadline = time.monotonic() + 30
    while len(crashy.delays) < 5:
        assert time.monotonic() < deadline, "the crashing child was not restarted"
        await asyncio.sleep(0.05)
    supervisor.stop()
    assert await asyncio.wait_for(running, 10) == 0
    assert crashy.delays[:5] == [0.01, 0.02, 0.04, 0.04, 0.04]
    assert "crashy exited with code 3; restarting in 0.0 s (crash 2 in a row" in caplog.text


async def test_a_child_that_exits_78_is_not_restarted_and_the_others_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    steady_log = tmp_path / "steady.log"
    supervisor = Supervisor(
        {
            "misconfigured": child(f"import time; time.sleep(0.3); raise SystemExit({EX_CONFIG})"),
            "steady": child(f"import time; open({str(steady_log)!r}, 'a').write('start\\n'); time.sleep(60)"),
        },
        backoff_first=0.01,
    )
    assert await asyncio.wait_for(supervisor.run(), 20) == EX_CONFIG
    misconfigured, steady = supervisor.children
    assert misconfigured.starts == 1 and misconfigured.delays == []
    assert steady.starts == 1 and steady.process.returncode == -signal.SIGTERM
    assert "misconfigured exited with code 78 (configuration error" in caplog.text
    assert "not restarting it" in caplog.text


TOKEN = "7123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"  # real shape; the fake server answers 401


def test_make_run_with_a_rejected_token_exits_78_without_restarting(tmp_path: Path) -> None:
    """The real thing: the bot exits 78 on a 401 from getMe, so the supervisor gives up at once."""
    code = f"""
import asyncio, os, subprocess, sys
from tests.fake_telegram import FakeTelegram
async def main():
    server = FakeTelegram()
    await server.start()
    env = dict(os.environ, TELEGRAM_API_URL=server.api_url, BOT_TOKEN={TOKEN!r})
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "drawme.supervisor", env=env)
    code = await process.wait()
    await server.stop()
    return code
sys.exit(asyncio.run(main()))
"""
    env = env_without_token(tmp_path) | {
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "ENGINE_DEVICE": "cpu",
        "POLL_SECONDS": "0.2",
    }
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == EX_CONFIG, result.stderr[-3000:]
    assert TOKEN.split(":")[1] not in result.stdout + result.stderr
    assert "Telegram rejected BOT_TOKEN" in result.stderr
    assert "not restarting it" in result.stderr
    assert "restarting in" not in result.stderr
