"""The bot's own Prometheus metrics (on top of drawme.metrics's queue and process figures):
Telegram API errors by method and code, and the delivery lag (a painting finished → sent)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from drawme.metrics import Metrics

# Seconds: a painting normally goes out within a poll; minutes mean trouble (flood control, outage).
LAG_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900)


def error_code(error: TelegramError) -> str:
    """The label of an error: Telegram's HTTP code where it has one, else what went wrong."""
    for kind, code in (
        (RetryAfter, "429"),
        (InvalidToken, "401"),
        (Forbidden, "403"),
        (Conflict, "409"),
        (ChatMigrated, "400"),
        (BadRequest, "400"),
        (TimedOut, "timeout"),
        (NetworkError, "network"),
    ):
        if isinstance(error, kind):
            return code
    return "other"


class BotMetrics(Metrics):
    def __init__(self) -> None:
        super().__init__()
        self.telegram_errors = Counter(
            "drawme_telegram_errors_total",
            "Telegram API calls that failed, by method and code (429, 400, 403, timeout, network...).",
            ["method", "code"],
            registry=self.registry,
        )
        self.delivery_lag = Histogram(
            "drawme_delivery_lag_seconds",
            "From a job's end (painted, failed or cancelled) to the user being told.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )

    def telegram_error(self, method: str, error: TelegramError) -> None:
        self.telegram_errors.labels(method, error_code(error)).inc()
