"""`python -m engine admin <command>` (also `drawme-admin`): the operator's tools.

    backup PATH                 online copy of an SQLite store (safe while running); PostgreSQL: pg_dump
    restore PATH [--force]      put an SQLite backup in place (refused while the engine or bot runs)
    retention [--days D]        delete inputs, previews and results past the retention period now
    requeue JOB_ID              put a stuck running or failed job back in the queue
    fail JOB_ID                 end a job as failed; the user is told an operator stopped it
    stats                       queue length, oldest queued job, throughput, workers
    export USER_ID [--out DIR]  a zip of everything stored about a user, for a data request

Everything goes through the job store (`drawme.store`; no SQL and no paths of the store here).
Bad arguments and unknown jobs give a one-line error and exit code 1 (2 for usage errors), never a
traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from drawme import entry, health
from drawme.config import EX_CONFIG, CommonConfig, ConfigError, load_env
from drawme.export import user_archive
from drawme.models import IllegalTransition
from drawme.store import JobStore, open_store
from drawme.store import admin as store_admin

# A heartbeat younger than this means the process is (probably) running and holds the database open.
RUNNING_WINDOW = 30.0


class AdminError(Exception):
    """A refusal or a failure the operator can act on; printed as one line."""


async def with_store(common: CommonConfig, action: Callable[[JobStore], Awaitable[Any]]) -> Any:
    """Open the existing store, run `action(store)`, and always close it."""
    if not common.uses_postgres and not common.db_path.is_file():
        # a wrong DATA_DIR must not quietly create an empty database
        raise AdminError(f"there is no database at {common.db_path}; is DATA_DIR right?")
    store = await open_store(common)
    try:
        return await action(store)
    finally:
        await store.close()


# --- backup and restore -----------------------------------------------------------------------

def backup(common: CommonConfig, dest: Path) -> Path:
    """Write a consistent copy of the live database to `dest` (a file, or a folder to put one in)."""
    if common.uses_postgres:
        raise AdminError("the store is PostgreSQL: back it up with pg_dump (see deploy/README.md)")
    if dest.is_dir():
        dest = dest / time.strftime("drawme-%Y%m%d-%H%M%S.sqlite3")
    if dest.exists():
        raise AdminError(f"{dest} already exists; choose a new name")
    dest.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(with_store(common, lambda store: store.backup(dest)))
    return dest


def running_processes(common: CommonConfig) -> list[str]:
    """Heartbeat lines of the processes that look alive (they hold the database open)."""
    return health.fresh(common, RUNNING_WINDOW)


def restore(common: CommonConfig, source: Path, force: bool = False) -> Path | None:
    """Replace the live database by the backup `source`; returns where the old one was kept.

    The backup is first copied next to the database and opened as a job store (which checks it and
    runs any migrations), then moved into place with one atomic rename.
    """
    if common.uses_postgres:
        raise AdminError("the store is PostgreSQL: restore it with pg_restore (see deploy/README.md)")
    try:
        store_admin.check_sqlite_file(source)
    except ValueError as error:
        raise AdminError(str(error)) from None
    alive = running_processes(common)
    if alive and not force:
        raise AdminError("stop the engine and the bot first (" + "; ".join(alive) + "), or pass --force")

    async def open_and_check(staged: CommonConfig) -> None:
        await with_store(staged, lambda store: store.stats())

    try:
        return asyncio.run(store_admin.restore_sqlite(common, source, open_and_check))
    except ValueError as error:
        raise AdminError(str(error)) from None


# --- data requests ------------------------------------------------------------------------------

def export_user(common: CommonConfig, user_id: int, out_dir: Path) -> tuple[Path, int]:
    """Zip a user's record (`user.json`: settings, jobs, images) with their stored files (`files/...`),
    the same archive the user's own /export gets (drawme.export).

    Returns the zip's path and how many files went in (files already purged are simply absent)."""
    data, files = asyncio.run(with_store(common, lambda store: user_archive(store, user_id)))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"drawme-user-{user_id}.zip"
    temp = target.with_suffix(".zip.tmp")
    temp.write_bytes(data)
    temp.replace(target)
    return target, files


# --- the command line -----------------------------------------------------------------------------

def _job_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a job id: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a job id: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cmd = commands.add_parser("backup", help="online copy of the database")
    cmd.add_argument("path", type=Path, help="file to write, or an existing folder to put it in")
    cmd = commands.add_parser("restore", help="replace the database by a backup")
    cmd.add_argument("path", type=Path)
    cmd.add_argument("--force", action="store_true", help="even though the engine or bot seems to run")
    cmd = commands.add_parser("retention", help="delete old inputs, previews and results now")
    cmd.add_argument("--days", type=float, default=None,
                     help="keep this many days instead of RETENTION_DAYS")
    cmd = commands.add_parser("requeue", help="put a stuck or failed job back in the queue")
    cmd.add_argument("job_id", type=_job_id)
    cmd = commands.add_parser("fail", help="end a job as failed")
    cmd.add_argument("job_id", type=_job_id)
    commands.add_parser("stats", help="queue and throughput figures")
    cmd = commands.add_parser("export", help="zip everything stored about a user")
    cmd.add_argument("user_id", type=int)
    cmd.add_argument("--out", type=Path, default=Path("."), help="folder for the zip (default: here)")
    return parser


def format_stats(stats: Any) -> str:
    """Stats as aligned `name: value` lines."""
    lines = []
    for key, value in asdict(stats).items():
        if key == "workers":
            continue
        if isinstance(value, float):
            value = f"{value:.1f}"
        lines.append(f"{key.replace('_', ' ')}: {'-' if value is None else value}")
    now = time.time()
    for worker in stats.workers:
        stale = " (stale: hung, or gone without unregistering)" if worker.stale else ""
        lines.append(f"worker {worker.worker_id}: {worker.device}, "
                     f"heartbeat {now - worker.heartbeat_at:.0f} s ago{stale}")
    return "\n".join(lines)


def run(args: argparse.Namespace, common: CommonConfig) -> str:
    """Carry out one parsed command; returns what to print."""
    if args.command == "backup":
        dest = backup(common, args.path)
        return f"backup written to {dest} ({dest.stat().st_size} bytes)"
    if args.command == "restore":
        kept = restore(common, args.path, force=args.force)
        note = f"; the previous database was kept as {kept}" if kept else ""
        return f"restored {args.path} into {common.db_path}{note}"
    if args.command == "export":
        target, files = export_user(common, args.user_id, args.out)
        return f"exported user {args.user_id} to {target} ({files} files)"
    if args.command == "retention":
        seconds = None if args.days is None else args.days * 86400
        counts = asyncio.run(with_store(common, lambda store: store.purge(older_than_seconds=seconds)))
        return "purged: " + ", ".join(f"{key} {value}" for key, value in counts.items())
    if args.command == "requeue":
        job = asyncio.run(with_store(common, lambda store: store.requeue(args.job_id)))
        return f"job {job.id} is {job.status} again (attempts {job.attempts})"
    if args.command == "fail":
        job = asyncio.run(with_store(common, lambda store: store.force_fail(args.job_id)))
        return f"job {job.id} is {job.status}: {job.error}"
    if args.command == "stats":
        return format_stats(asyncio.run(with_store(common, lambda store: store.stats())))
    raise AdminError(f"unknown command {args.command}")  # argparse already refuses these


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m engine admin` and `drawme-admin`."""
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:  # usage errors and --help: argparse already printed why
        return int(exit_.code or 0)
    try:
        common = CommonConfig.from_env(load_env())
        print(run(args, common))
    except (AdminError, ConfigError, IllegalTransition, LookupError, ValueError, OSError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"drawme admin {args.command}: {message}", file=sys.stderr)
        return EX_CONFIG if isinstance(error, ConfigError) else 1
    return 0


def console() -> int:
    """The `drawme-admin` script: `main`, with secrets kept out of every output."""
    return entry.run("drawme admin", main)


if __name__ == "__main__":
    sys.exit(console())
