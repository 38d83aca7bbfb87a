"""People's photos are private at rest: DATA_DIR and everything in it belong to the service's user only.

New files are owner-only because every process runs with umask 0o077 (drawme.entry). A data
directory made by an older version, or copied in with other modes, is tightened once at start by
`secure_data_dir`: directories 0700, files 0600, symbolic links left alone (not followed).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("drawme.privacy")

DIR_MODE = 0o700
FILE_MODE = 0o600


def tighten(root: Path) -> int:
    """Take group and other permissions away under `root` (and `root` itself); how many paths changed."""
    changed = 0
    for directory, _, files in os.walk(root, followlinks=False):
        entries = [(directory, DIR_MODE), *((os.path.join(directory, name), FILE_MODE) for name in files)]
        for path, mode in entries:
            try:
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode) or stat.S_IMODE(info.st_mode) & 0o077 == 0:
                    continue
                os.chmod(path, stat.S_IMODE(info.st_mode) & mode)
            except FileNotFoundError:  # deleted meanwhile (a running sibling's temp file)
                continue
            except PermissionError:  # another user's file (copied in as root?): say so, carry on
                log.warning("cannot make %s private: it belongs to another user", path)
                continue
            changed += 1
    return changed


def secure_data_dir(data_dir: Path) -> None:
    """Create DATA_DIR owner-only, or tighten an existing one (with a log line when anything changed)."""
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    changed = tighten(data_dir)
    if changed:
        log.warning(
            "made %d paths under %s private to this user (directories 0700, files 0600)",
            changed,
            data_dir,
            extra={"event": "data_dir_tightened"},
        )
