"""Heartbeat files: each process's main loop refreshes one, so a blocked loop shows up as stale.

`python -m engine health` and `python -m bot health` read them (via `check`) and exit non-zero when
the beat is missing or older than the allowed age.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from drawme.config import CommonConfig

DEFAULT_MAX_AGE = 60.0


def heartbeat_path(common: CommonConfig, process: str) -> Path:
    return common.health_dir / f"{process}.json"


def beat(common: CommonConfig, process: str, **info: Any) -> None:
    """Record that `process` is alive now, with a little context (device, current job...)."""
    path = heartbeat_path(common, process)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    temp.write_text(json.dumps({"ts": time.time(), "pid": os.getpid(), **info}))
    os.replace(temp, path)  # atomic: a reader never sees half a file


def read(common: CommonConfig, process: str) -> dict[str, Any] | None:
    try:
        return json.loads(heartbeat_path(common, process).read_text())
    except (OSError, ValueError):
        return None


def check(common: CommonConfig, process: str, max_age: float = DEFAULT_MAX_AGE) -> tuple[bool, str]:
    """(healthy, one-line explanation) for `process`'s heartbeat."""
    state = read(common, process)
    if state is None:
        return False, f"{process}: no heartbeat yet in {heartbeat_path(common, process)}"
    age = time.time() - float(state.get("ts", 0))
    if age > max_age:
        return False, f"{process}: heartbeat is stale ({age:.0f} s old, limit {max_age:.0f} s)"
    return True, f"{process}: alive ({age:.1f} s ago)"
