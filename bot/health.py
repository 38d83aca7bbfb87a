"""`python -m bot health [--max-age SECONDS]`: is the bot's polling loop still beating?

Exit 0 when the bot's heartbeat is fresh, 1 when stale or missing; prints one line with the queue
length and the age of the oldest queued job. Used by Docker's HEALTHCHECK.
"""

from __future__ import annotations

import sys

from drawme.health import cli


def main(argv: list[str] | None = None) -> int:
    """Check the Telegram bot's heartbeat."""
    return cli("bot", argv)


if __name__ == "__main__":
    sys.exit(main())
