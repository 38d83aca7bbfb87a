"""Logging for every process: plain text to the terminal by default, JSON lines with LOG_FORMAT=json.

Secrets never reach a log line: `redact` masks bot tokens, passwords in URLs and DSNs, and the values
of the secret settings (drawme.config.secret_values) wherever they appear; httpx's request logging
(whose URLs carry the token) is silenced. drawme.entry puts the same `redact` in front of stdout and
stderr, so tracebacks and prints are covered too.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Mapping

from drawme.config import CommonConfig

# Telegram bot tokens look like 123456789:AA...; mask any that slip into a message, including
# inside API URLs (".../bot123456789:AA.../getMe"), where no word boundary precedes the digits.
_TOKEN = re.compile(r"(?<!\d)\d{5,}:[A-Za-z0-9_-]{30,}")
# The password of any URL (DATABASE_URL, a proxy): scheme://user:PASSWORD@host keeps all but the password.
_URL_PASSWORD = re.compile(r"(?P<head>://[^/\s:@]*):[^@\s/]+@")
# libpq's keyword form: "host=db password=secret".
_DSN_PASSWORD = re.compile(r"(?i)(?P<head>\bpassword\s*=\s*)(?:'[^']*'|[^\s']+)")
# Exact values of secret settings, longest first, each with the mask it is replaced by.
_secrets: dict[str, str] = {}
# Extra fields a caller may pass with `extra=`; they become JSON keys or trailing key=value pairs.
FIELDS = ("job_id", "user_id", "status", "duration", "size", "worker_id", "attempts", "event")


def add_secrets(values: Mapping[str, str]) -> None:
    """Mask these exact values ({value: mask}) from now on, in this process; see config.secret_values."""
    _secrets.update(values)
    ordered = sorted(_secrets.items(), key=lambda item: -len(item[0]))
    _secrets.clear()
    _secrets.update(ordered)


def redact(text: str) -> str:
    """`text` without any secret: the one masking function of every output (logs, stderr, stdout)."""
    for value, mask in _secrets.items():
        if value in text:
            text = text.replace(value, mask)
    text = _TOKEN.sub("<token>", text)
    text = _URL_PASSWORD.sub(r"\g<head>:<password>@", text)
    return _DSN_PASSWORD.sub(r"\g<head><password>", text)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{k}={getattr(record, k)}" for k in FIELDS if hasattr(record, k))
        return redact(f"{line} {extras}" if extras else line)


class _JsonFormatter(logging.Formatter):
    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process  # `make run` interleaves the lines of several processes on one stream

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "process": self.process,
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: getattr(record, k) for k in FIELDS if hasattr(record, k)})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str))


def setup_logging(config: CommonConfig, process: str) -> None:
    """Configure the root logger once for `process` ("bot" or "engine")."""
    handler = logging.StreamHandler(sys.stderr)
    if config.log_format == "json":
        handler.setFormatter(_JsonFormatter(process))
    else:
        handler.setFormatter(_TextFormatter(f"%(asctime)s {process} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.log_level)
    # apscheduler (PTB's JobQueue) logs every run of the bot's polling job at INFO: two lines a tick.
    for noisy in ("httpx", "httpcore", "telegram.ext.Updater", "aiosqlite", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # A database outage is logged once by the store (drawme.store.db), not by each reconnect attempt
    # of the pool, nor by each webhook request answered 503 meanwhile (tornado's access log).
    for quiet in ("psycopg.pool", "tornado.access"):
        logging.getLogger(quiet).setLevel(logging.CRITICAL)
