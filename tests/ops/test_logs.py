"""Logs: plain text by default, one JSON object per line with LOG_FORMAT=json, and never a token."""

from __future__ import annotations

import json
import os
import subprocess
import sys

TOKEN = "7261539482:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"

# Logs what a bot might: the token in a message, in an exception, in httpx's request URL.
SCRIPT = f"""
import logging
from drawme.config import CommonConfig, load_env
from drawme.logs import setup_logging
setup_logging(CommonConfig.from_env(load_env()), "bot")
log = logging.getLogger("bot.app")
log.info("starting with token {TOKEN}", extra={{"job_id": 7, "user_id": 42, "status": "done"}})
try:
    raise RuntimeError("request to https://api.telegram.org/bot{TOKEN}/getMe failed")
except RuntimeError:
    log.exception("delivery failed")
logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot{TOKEN}/getUpdates")
logging.getLogger("apscheduler.executors.default").info('Running job "delivery"')
log.debug("not shown at INFO")
"""


def run_logging(log_format: str) -> str:
    env = {**os.environ, "LOG_FORMAT": log_format, "LOG_LEVEL": "INFO"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return result.stderr


def test_json_lines_parse_carry_the_extras_and_mask_the_token() -> None:
    output = run_logging("json")
    assert TOKEN not in output
    assert TOKEN.split(":")[1] not in output  # not even the secret half
    entries = [json.loads(line) for line in output.splitlines()]  # every line is one JSON object
    assert [entry["msg"] for entry in entries] == ["starting with token <token>", "delivery failed"]
    first, second = entries
    assert (first["job_id"], first["user_id"], first["status"]) == (7, 42, "done")
    assert (first["process"], first["level"], first["logger"]) == ("bot", "INFO", "bot.app")
    assert "RuntimeError" in second["exc"] and "<token>" in second["exc"]


def test_text_format_is_plain_and_masks_the_token() -> None:
    output = run_logging("text")
    assert TOKEN not in output
    lines = output.splitlines()
    assert " bot INFO bot.app: starting with token <token> job_id=7 user_id=42 status=done" in lines[0]
    assert any(line.startswith("RuntimeError") and "<token>" in line for line in lines)
    assert not any(line.startswith("{") for line in lines)
    assert "getUpdates" not in output  # httpx's request lines (URLs with the token) are silenced
    assert "Running job" not in output  # nor the JobQueue's line per polling tick
