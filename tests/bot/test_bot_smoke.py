"""Start-up: the command menu, /start, /help, and that the bot process never loads torch."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from drawme.logs import redact, setup_logging
from tests.bot.conftest import RunningBot, bot_config, photo_bytes
from tests.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]


async def test_start_registers_menu_and_greets(bot, telegram: FakeTelegram, user_id: int) -> None:
    menu = telegram.calls("setMyCommands")
    assert menu, "the command menu is registered at start-up"
    names = [command["command"] for command in menu[0].params["commands"]]
    assert {"start", "styles", "weights", "size", "colors", "status", "cancel", "forget", "help"} <= set(
        names
    )
    assert "stats" not in names  # admins only, and hidden

    telegram.send_text(user_id, "/start")
    greeting = await telegram.wait_for(lambda: telegram.texts(user_id), what="a greeting")
    assert "Send me a photo" in greeting[0] and "Starry Night" in greeting[0]

    telegram.send_text(user_id, "/help")
    await telegram.wait_for(lambda: len(telegram.texts(user_id)) == 2, what="help")
    assert "/weights style=2" in telegram.texts(user_id)[1]


async def test_unknown_text_and_commands_get_gentle_hints(bot, telegram: FakeTelegram, user_id: int) -> None:
    telegram.send_text(user_id, "hello there")
    telegram.send_text(user_id, "/paint")
    telegram.send_text(user_id, "/stats")  # not an admin: indistinguishable from an unknown command
    replies = await telegram.wait_for(lambda: len(telegram.texts(user_id)) == 3 and telegram.texts(user_id))
    assert "Send me a photo" in replies[0]
    assert replies[1] == replies[2]
    assert "don't know that command" in replies[1]


async def test_stats_for_admins(bot, telegram: FakeTelegram) -> None:
    telegram.send_text(999, "/stats")
    reply = await telegram.wait_for(lambda: telegram.texts(999), what="stats")
    assert "Queue: 0 waiting, 0 painting" in reply[0]
    assert "Stale" not in reply[0]


async def test_stats_list_stale_workers(bot, telegram: FakeTelegram) -> None:
    await bot.store.register_worker("gpu-1", "cuda")
    await bot.store.register_worker("gpu-2", "cuda")
    async with bot.store.db.transaction() as tx:  # gpu-2 hung ten minutes ago
        await tx.execute("UPDATE workers SET heartbeat_at = heartbeat_at - 600 WHERE id = 'gpu-2'")
    telegram.send_text(999, "/stats")
    reply = (await telegram.wait_for(lambda: telegram.texts(999), what="stats"))[0]
    assert "Workers: gpu-1 (cuda)\n" in reply
    assert reply.endswith("Stale workers (no heartbeat): gpu-2 (10 min)"), reply


def test_bot_never_imports_torch_nor_the_engine() -> None:
    code = (
        "import sys, bot.app, bot.__main__, bot.health, drawme.store;"
        " leaks = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'engine'));"
        " assert not leaks, leaks"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_test_token_would_be_redacted_from_logs() -> None:
    assert FakeTelegram().token not in redact(
        f"POST https://api.telegram.org/bot{FakeTelegram().token}/getMe"
    )


def run_bot_command(args: list[str], data_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATA_DIR")}
    env.update(DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_without_a_token_the_bot_explains_how_to_get_one(tmp_path: Path) -> None:
    result = run_bot_command([], tmp_path, cwd=tmp_path)  # no .env there either
    assert result.returncode == 78  # EX_CONFIG
    assert "@BotFather" in result.stderr and "Traceback" not in result.stderr


async def test_health_command_reads_the_heartbeat_of_the_polling_loop(bot, tmp_path: Path) -> None:
    assert run_bot_command(["health"], tmp_path / "elsewhere", cwd=tmp_path).returncode != 0
    heartbeat = tmp_path / "health" / f"bot-{socket.gethostname()}.json"  # BOT_INSTANCE: the host name
    for _ in range(100):
        if heartbeat.exists():
            break
        await asyncio.sleep(0.05)
    result = run_bot_command(["health"], tmp_path, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_logs_never_contain_the_token(
    telegram: FakeTelegram, store, tmp_path: Path, capsys, user_id
) -> None:
    config = bot_config(telegram, tmp_path)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging(config.common, "bot")  # as `python -m bot` does: to stderr, which capsys captures
    running = await RunningBot(config, store).start()
    try:
        telegram.fail_next("getFile", status=500, description="Internal Server Error")
        telegram.send_photo(user_id, photo_bytes())  # an unexpected error: logged with its traceback
        await telegram.wait_for(lambda: telegram.texts(user_id))
        await asyncio.sleep(0.3)
    finally:
        await running.stop()
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    logged = capsys.readouterr().err
    assert "unhandled error" in logged and "bot started" in logged  # the logs did capture the run
    assert telegram.token not in logged
    assert telegram.token.split(":")[1] not in logged


async def test_python_m_bot_runs_and_stops_cleanly(
    telegram: FakeTelegram, tmp_path: Path, user_id: int
) -> None:
    """The real entry point: it opens its own store, registers the menu, answers, exits on SIGTERM."""
    env = {
        **os.environ,
        "BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.api_url,
        "DATA_DIR": str(tmp_path),
        "BOT_POLL_SECONDS": "0.2",
        "PYTHONPATH": str(ROOT),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await telegram.wait_for(lambda: telegram.calls("setMyCommands"), what="the bot to start")
        telegram.send_text(user_id, "/start")
        await telegram.wait_for(lambda: telegram.texts(user_id), what="a greeting")
        await telegram.wait_for(lambda: list((tmp_path / "health").glob("bot-*.json")), what="a heartbeat")
        assert (tmp_path / "drawme.sqlite3").exists()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, output.decode()[-2000:]
    assert telegram.token not in output.decode()
