"""`python -m bot` runs the bot; `python -m bot health` checks its heartbeat (exit non-zero if stale)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "health":
        from bot.health import main as health_main

        return int(health_main(argv[1:]) or 0)
    from bot.app import main as run_bot

    return run_bot(argv)


if __name__ == "__main__":
    sys.exit(main())
