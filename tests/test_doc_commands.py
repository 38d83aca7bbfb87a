"""Every command in a ```sh block of README.md and docs/*.md runs as written on a fresh clone, once
`make run` or `make test` has made `.venv`.

Which lines run: in each ```sh block, every command (lines ending in a backslash joined with the next;
comments and blank lines skipped) that starts with `.venv/bin/`. A `make …` line is not run: make is
what runs this very suite. Any other command in a ```sh block fails
`test_sh_blocks_hold_only_commands_we_run`:
a command that cannot run here (a benchmark of minutes or hours, one that needs a GPU or a running service)
belongs in a ```text block, with a line saying why.

How they run: with bash, in a scratch copy of the checkout (the files the commands write — results/,
the README's example picture — never touch the real one), at tiny sizes so that each takes seconds on
two cores: `--size N` becomes `--size 32`, `--iter N` becomes `--iter 1`, and an `engine paint` without
them gets `--size 32` and `--iter 2` (two steps of its recipe). Nothing else of the command changes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
RUN_PREFIX = ".venv/bin/"
NOT_RUN_PREFIX = "make "  # the entry points that run this suite
SMALL = ((re.compile(r"--size[ =]\d+"), "--size 32"), (re.compile(r"--iter[ =]\d+"), "--iter 1"))


@dataclass(frozen=True)
class Command:
    document: Path
    line: int  # where the command starts
    text: str  # as written (continuations joined)

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"

    def small(self) -> str:
        """The command at a tiny size (see the module's docstring), otherwise as written."""
        text = self.text
        for pattern, replacement in SMALL:
            text = pattern.sub(replacement, text)
        if " -m engine paint " in text:
            for flag, value in (("--size", "32"), ("--iter", "2")):
                if flag not in text:
                    text = f"{_before_comment(text)} {flag} {value}"
        return text


def _before_comment(text: str) -> str:
    return text.split(" #", 1)[0].rstrip()


def sh_commands(document: Path) -> list[Command]:
    """The commands of every ```sh block in `document`, continuation lines joined, comments dropped."""
    commands: list[Command] = []
    in_sh = False
    pending: tuple[int, str] | None = None
    for number, line in enumerate(document.read_text().splitlines(), start=1):
        if line.startswith("```"):
            in_sh = line.strip() == "```sh"
            pending = None
            continue
        if not in_sh:
            continue
        stripped = line.strip()
        if pending is None and (not stripped or stripped.startswith("#")):
            continue
        start, text = pending if pending is not None else (number, "")
        text = f"{text} {stripped}".strip()
        if text.endswith("\\"):
            pending = (start, text[:-1].rstrip())
            continue
        pending = None
        commands.append(Command(document, start, text))
    return commands


COMMANDS = [command for document in DOCUMENTS for command in sh_commands(document)]
RUN = [command for command in COMMANDS if command.text.startswith(RUN_PREFIX)]


def test_sh_blocks_hold_only_commands_we_run() -> None:
    strays = [
        f"{command.where}: {command.text}"
        for command in COMMANDS
        if not command.text.startswith((RUN_PREFIX, NOT_RUN_PREFIX))
    ]
    assert not strays, "put these in a ```text block, saying why they are not run:\n" + "\n".join(strays)
    # The README's own paintings are among what runs (so a broken parser cannot pass by finding nothing).
    readme = [command for command in RUN if command.document.name == "README.md"]
    assert len(readme) >= 3 and all(" -m engine paint " in command.text for command in readme)


def test_the_sizes_are_made_small() -> None:
    seed = Command(ROOT / "README.md", 1, ".venv/bin/python -m engine paint a b c --iter 10  # the seed")
    assert seed.small() == ".venv/bin/python -m engine paint a b c --iter 1 --size 32"
    preset = Command(ROOT / "README.md", 1, ".venv/bin/python -m engine paint a --preset p c --size 512")
    assert preset.small() == ".venv/bin/python -m engine paint a --preset p c --size 32 --iter 2"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout to run commands in: the docs copied (a command may write there), the rest linked."""
    root = tmp_path_factory.mktemp("checkout")
    for entry in ROOT.iterdir():
        if entry.name in (".git", "results", "data"):
            continue
        if entry.name == "docs":
            shutil.copytree(entry, root / "docs")
        else:
            (root / entry.name).symlink_to(entry)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("command", RUN, ids=[command.where for command in RUN])
def test_the_command_runs_as_written(command: Command, scratch: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's code, whatever the venv installed
    result = subprocess.run(
        ["bash", "-c", command.small()], cwd=scratch, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{command.where}: {command.small()}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr
