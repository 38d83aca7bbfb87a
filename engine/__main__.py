"""`python -m engine <command>`: paint | serve | health | admin. Each command loads only what it needs."""

from __future__ import annotations

import importlib
import sys

from drawme import entry

COMMANDS = {
    "paint": ("engine.cli", "Paint one picture from the command line."),
    "serve": ("engine.worker", "Run the worker: claim jobs from the store and paint them."),
    "health": ("engine.health", "Exit non-zero when the worker's heartbeat is stale."),
    "admin": ("engine.admin", "Operations: backup, restore, retention, requeue, fail, stats, export."),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m engine {" + ",".join(COMMANDS) + "} [options]\n")
        for name, (_, about) in COMMANDS.items():
            print(f"  {name:<7} {about}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return int(module.main(argv[1:]) or 0)


def console() -> int:
    """The `drawme-engine` script and `python -m engine`: `main`, with secrets kept out of every output."""
    return entry.run("engine", main)


if __name__ == "__main__":
    sys.exit(console())
