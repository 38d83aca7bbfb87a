"""`python -m bot` runs the bot; `python -m bot health` checks its heartbeat (exit non-zero if stale)."""

from __future__ import annotations

import sys

from drawme import entry


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "health":
        from bot.health import main as health_main

        return int(health_main(argv[1:]) or 0)
    from bot.app import main as run_bot

    return run_bot(argv)


def console() -> int:
    """The `drawme-bot` script and `python -m bot`: `main`, with secrets kept out of every output."""
    return entry.run("bot", main)


if __name__ == "__main__":
    sys.exit(console())
