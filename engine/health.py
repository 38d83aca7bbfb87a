"""`python -m engine health [--max-age SECONDS]`: is the worker's loop still beating?

Exit 0 when the engine's heartbeat is fresh, 1 when stale or missing; prints one line with the queue
length and the age of the oldest queued job. Used by Docker's HEALTHCHECK. Imports no torch.
"""

from __future__ import annotations

import sys

from drawme.health import cli


def main(argv: list[str] | None = None) -> int:
    """Check the engine worker's heartbeat."""
    return cli("engine", argv)


if __name__ == "__main__":
    sys.exit(main())
