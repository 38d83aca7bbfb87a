"""The bot token never reaches any output: a token Telegram rejects ends the bot with one line and 78."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from drawme.config import EX_CONFIG, TOKEN_REJECTED
from tests.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
# Real shape (bot id, colon, 35 characters), and not the fake server's token: getMe answers 401.
TOKEN = "7123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"
SECRET_HALF = TOKEN.split(":")[1]


def bot_env(data_dir: Path, token: str, api_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATA_DIR", "TELEGRAM_API_URL")}
    return env | {
        "BOT_TOKEN": token,
        "TELEGRAM_API_URL": api_url,
        "DATA_DIR": str(data_dir),
        "LOG_LEVEL": "DEBUG",  # the most output there can be
        "PYTHONPATH": str(ROOT),
    }


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


@pytest.fixture
async def telegram():
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.mark.parametrize("suffix", ["", "/bot", "/bot/"], ids=["root", "ends-in-bot", "ends-in-bot-slash"])
@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_a_rejected_token_is_one_line_exit_78_and_never_printed(
    telegram: FakeTelegram, tmp_path: Path, suffix: str, log_format: str
) -> None:
    data_dir = tmp_path / "data"
    env = bot_env(data_dir, TOKEN, telegram.api_url + suffix) | {"LOG_FORMAT": log_format}
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(bot.communicate(), 60)
    assert bot.returncode == EX_CONFIG, stderr.decode()[-3000:]
    outputs = {"stdout": stdout, "stderr": stderr}
    outputs |= {str(path): path.read_bytes() for path in files_under(data_dir)}  # db, health, state
    for name, content in outputs.items():
        assert TOKEN.encode() not in content, name
        assert SECRET_HALF.encode() not in content, name
    lines = stderr.decode().strip().splitlines()
    assert lines[-1] == f"bot: configuration error: {TOKEN_REJECTED}"
    assert "Traceback" not in stderr.decode()


async def test_a_url_ending_in_bot_reaches_the_same_server_as_its_root(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    """Understood, not doubled: with the right token the bot polls, and SIGTERM stops it cleanly."""
    env = bot_env(tmp_path / "data", telegram.token, telegram.api_url + "/bot")
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        await telegram.wait_for(lambda: telegram.calls("getUpdates"), timeout=60, what="the bot to poll")
        bot.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(bot.communicate(), 30)
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
    assert bot.returncode == 0
    assert telegram.token.encode() not in stderr


async def test_a_url_with_a_token_in_it_is_refused_without_echoing_it(tmp_path: Path) -> None:
    env = bot_env(tmp_path / "data", TOKEN, f"https://api.telegram.org/bot{TOKEN}/")
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(bot.communicate(), 60)
    assert bot.returncode == EX_CONFIG
    assert SECRET_HALF.encode() not in stdout + stderr
    (line,) = stderr.decode().strip().splitlines()
    assert "TELEGRAM_API_URL" in line and "without the token" in line


# Every way an error or a print can leave a process, each carrying the secrets; then a crash in main.
LEAKS = """
import asyncio, sys, threading, warnings
from drawme import entry

def fail_in_thread():
    raise RuntimeError("thread failed with {token}")

def main():
    print("stdout: token {token} and database postgresql://drawme:{password}@db/drawme")
    warnings.warn("a warning about {token}")
    thread = threading.Thread(target=fail_in_thread, name="worker-thread")
    thread.start(); thread.join()

    async def orphan():
        raise RuntimeError("task failed with password {password}")

    async def loop_main():
        entry.handle_loop_exceptions()
        task = asyncio.get_running_loop().create_task(orphan())
        await asyncio.sleep(0.05)
        del task  # never awaited: the loop reports its exception when it is collected

    asyncio.run(loop_main())
    raise ConnectionError("could not connect to postgresql://drawme:{password}@db/drawme as {token}")

sys.exit(entry.run("leaky", main))
"""


def test_prints_warnings_threads_tasks_and_crashes_are_all_redacted(tmp_path: Path) -> None:
    password = "s3cr3t-Pa55word"
    env = {**os.environ, "BOT_TOKEN": TOKEN, "DATABASE_URL": f"postgresql://drawme:{password}@db/drawme",
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", LEAKS.format(token=TOKEN, password=password)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert SECRET_HALF not in output and password not in output
    assert "stdout: token <token> and database postgresql://drawme:<password>@db/drawme" in result.stdout
    assert "a warning about <token>" in result.stderr
    assert "thread failed with <token>" in result.stderr and "worker-thread" in result.stderr
    assert "task failed with password <password>" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "leaky: stopped by an unexpected error (ConnectionError: could not connect to "
        "postgresql://drawme:<password>@db/drawme as <token>); the log above has the details"
    )
