"""DATA_DIR is private: created 0700, and an existing one is tightened (directories 0700, files 0600)."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from drawme.privacy import secure_data_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_new_data_dir_is_owner_only(tmp_path: Path) -> None:
    secure_data_dir(tmp_path / "data")
    assert mode(tmp_path / "data") == 0o700


def test_an_open_data_dir_is_tightened_with_a_log_line_and_links_are_not_followed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours")
    outside.chmod(0o644)
    data = tmp_path / "data"
    (data / "results").mkdir(parents=True)
    for path, path_mode in ((data, 0o755), (data / "results", 0o775)):
        path.chmod(path_mode)
    (data / "results" / "1.png").write_bytes(b"png")
    (data / "results" / "1.png").chmod(0o664)
    (data / "drawme.sqlite3").write_bytes(b"db")
    (data / "drawme.sqlite3").chmod(0o600)  # already private: left as is, not counted
    (data / "link").symlink_to(outside)
    with caplog.at_level(logging.INFO):
        secure_data_dir(data)
    assert (mode(data), mode(data / "results")) == (0o700, 0o700)
    assert (mode(data / "results" / "1.png"), mode(data / "drawme.sqlite3")) == (0o600, 0o600)
    assert mode(outside) == 0o644
    assert "made 3 paths under" in caplog.text
    caplog.clear()
    secure_data_dir(data)
    assert "made" not in caplog.text  # nothing left to say
