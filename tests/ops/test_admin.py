"""`python -m engine admin`: backup/restore, retention, requeue, fail, stats, export — on a real store."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from drawme import health
from drawme.config import CommonConfig
from drawme.models import JobStatus
from drawme.store import JobStore
from engine import admin

from .conftest import python_m, submit


async def all_jobs(common: CommonConfig, user_ids) -> list:
    store = await JobStore.open(common)
    try:
        jobs = [job for user in user_ids for job in await store.jobs_of(user, active_only=False)]
    finally:
        await store.close()
    return sorted(jobs, key=lambda job: job.id)


async def test_backup_while_another_connection_writes_then_restore_gives_that_job_table(
    common: CommonConfig, ops_env: dict[str, str], tmp_path: Path
) -> None:
    store = await JobStore.open(common)
    writing = asyncio.Event()
    stop = asyncio.Event()

    async def writer() -> int:
        count = 0
        while not stop.is_set():
            await submit(store, user_id=1 + count % 3, color=(count % 256, 0, 0))
            count += 1
            if count == 20:
                writing.set()
            await asyncio.sleep(0)
        return count

    writing_task = asyncio.create_task(writer())
    await writing.wait()
    backup_file = tmp_path / "backups" / "drawme.sqlite3"
    # A separate process takes the backup while this process keeps submitting jobs.
    process = await asyncio.create_subprocess_exec(
        *python_m("engine", "admin", "backup", str(backup_file)),
        env=ops_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "backup written to" in out.decode()
    for _ in range(10):  # and a few more after it
        await asyncio.sleep(0.01)
    stop.set()
    written = await writing_task
    await store.close()

    live = await all_jobs(common, (1, 2, 3))
    assert len(live) == written
    copy = CommonConfig(data_dir=tmp_path / "copy")
    copy.data_dir.mkdir()
    shutil.copyfile(backup_file, copy.db_path)
    backed_up = await all_jobs(copy, (1, 2, 3))
    # A consistent snapshot: jobs 1..k, each exactly as it was, none half-written; later ones absent.
    assert 20 <= len(backed_up) < len(live)
    assert [job.id for job in backed_up] == list(range(1, len(backed_up) + 1))
    assert backed_up == live[: len(backed_up)]

    restore = await asyncio.create_subprocess_exec(
        *python_m("engine", "admin", "restore", str(backup_file)),
        env=ops_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await restore.communicate()
    assert restore.returncode == 0, err.decode()
    assert await all_jobs(common, (1, 2, 3)) == backed_up
    kept = sorted(common.data_dir.glob("drawme.sqlite3.before-restore-*"))
    assert kept and str(kept[0]) in out.decode()  # the replaced database is kept, not lost


def make_jobs(common: CommonConfig, count: int) -> list:
    async def go():
        store = await JobStore.open(common)
        try:
            return [await submit(store, user_id=7, color=(n, 1, 2)) for n in range(count)]
        finally:
            await store.close()

    return asyncio.run(go())


def test_restore_is_refused_while_the_engine_beats_unless_forced(
    common: CommonConfig, ops_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    make_jobs(common, 1)
    backup_file = tmp_path / "one-job.sqlite3"
    assert admin.main(["backup", str(backup_file)]) == 0
    make_jobs(common, 2)
    health.beat(common, health.beat_name("engine", "gpu-1"))
    capsys.readouterr()

    assert admin.main(["restore", str(backup_file)]) == 1
    err = capsys.readouterr().err
    assert "stop the engine and the bot first" in err and "--force" in err
    assert len(asyncio.run(all_jobs(common, (7,)))) == 3  # untouched

    assert admin.main(["restore", "--force", str(backup_file)]) == 0
    assert len(asyncio.run(all_jobs(common, (7,)))) == 1


def test_restore_refuses_a_file_that_is_not_a_database(
    common: CommonConfig, ops_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    make_jobs(common, 2)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"hello, not a database" * 100)
    assert admin.main(["restore", str(junk)]) == 1
    assert "is not an SQLite database" in capsys.readouterr().err
    assert admin.main(["restore", str(tmp_path / "missing.sqlite3")]) == 1
    assert "is not a file" in capsys.readouterr().err
    assert len(asyncio.run(all_jobs(common, (7,)))) == 2


def test_backup_does_not_overwrite(
    common: CommonConfig, ops_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    make_jobs(common, 1)
    folder = tmp_path / "backups"
    folder.mkdir()
    assert admin.main(["backup", str(folder)]) == 0  # a folder: a timestamped file inside it
    (written,) = folder.iterdir()
    assert written.suffix == ".sqlite3"
    assert admin.main(["backup", str(written)]) == 1
    assert "already exists" in capsys.readouterr().err


def test_fail_and_requeue_a_stuck_job(
    common: CommonConfig, ops_env: dict[str, str], capsys: pytest.CaptureFixture
) -> None:
    (job,) = make_jobs(common, 1)

    async def claim():
        store = await JobStore.open(common)
        try:
            await store.register_worker("stuck-worker", "cpu")
            return await store.claim("stuck-worker", 3600)
        finally:
            await store.close()

    assert asyncio.run(claim()).id == job.id
    assert admin.main(["fail", str(job.id)]) == 0
    assert f"job {job.id} is failed: stopped" in capsys.readouterr().out
    assert admin.main(["requeue", str(job.id)]) == 0
    assert f"job {job.id} is queued again" in capsys.readouterr().out
    (now,) = asyncio.run(all_jobs(common, (7,)))
    assert (now.status, now.error, now.lease_owner) == (JobStatus.QUEUED, None, None)

    # A queued job cannot be requeued: one line naming why, exit 1, no traceback.
    assert admin.main(["requeue", str(job.id)]) == 1
    err = capsys.readouterr().err
    assert "only running or failed jobs can be requeued" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["requeue", "999"], 1, "no job 999"),
        (["fail", "999"], 1, "no job 999"),
        (["requeue", "abc"], 2, "not a job id"),
        (["fail"], 2, "required: job_id"),
        (["export", "me"], 2, "invalid int value"),
        (["frobnicate"], 2, "invalid choice"),
        ([], 2, "required: COMMAND"),
    ],
)
def test_bad_arguments_get_one_clear_line(
    argv, code, message, common: CommonConfig, ops_env, capsys: pytest.CaptureFixture
) -> None:
    make_jobs(common, 1)
    assert admin.main(argv) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_stats_shows_the_queue(
    common: CommonConfig, ops_env: dict[str, str], capsys: pytest.CaptureFixture
) -> None:
    make_jobs(common, 3)

    async def register() -> None:
        store = await JobStore.open(common)
        try:
            await store.register_worker("gpu-box-1", "cuda")
            await store.register_worker("gpu-box-2", "cuda")
            async with store.db.transaction() as tx:  # it hung (or died) ten minutes ago
                await tx.execute(
                    "UPDATE workers SET heartbeat_at = heartbeat_at - 600 WHERE id = ?", ("gpu-box-2",)
                )
        finally:
            await store.close()

    asyncio.run(register())
    assert admin.main(["stats"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "queued: 3" in lines and "running: 0" in lines
    assert any(line.startswith("oldest queued age: ") for line in lines)
    assert any(re.fullmatch(r"worker gpu-box-1: cuda, heartbeat \d+ s ago", line) for line in lines)
    stale = r"worker gpu-box-2: cuda, heartbeat 60\d s ago \(stale: hung, or gone without unregistering\)"
    assert any(re.fullmatch(stale, line) for line in lines), lines


def finish_with_result(common: CommonConfig, job_id: int) -> None:
    """Claim and complete `job_id` with a painting."""

    async def go() -> None:
        store = await JobStore.open(common)
        try:
            await store.register_worker("w", "cpu")
            assert (await store.claim("w", 60)).id == job_id
            await store.complete(job_id, "w", b"\x89PNG fake painting")
        finally:
            await store.close()

    asyncio.run(go())


def stored(common: CommonConfig, job_id: int) -> tuple[bytes | None, bytes | None]:
    """The painting and the input photo of `job_id`, as the store has them (None: gone)."""

    async def go() -> tuple[bytes | None, bytes | None]:
        store = await JobStore.open(common)
        try:
            job = await store.get(job_id)
            photo = await store.get_image_bytes(job.content_image_id) if job else None
            return await store.get_result(job_id), photo
        finally:
            await store.close()

    return asyncio.run(go())


def test_retention_now_deletes_old_files_and_prints_counts(
    common: CommonConfig, ops_env: dict[str, str], capsys: pytest.CaptureFixture
) -> None:
    (job,) = make_jobs(common, 1)
    finish_with_result(common, job.id)
    painting, photo = stored(common, job.id)
    assert painting and photo
    assert admin.main(["retention"]) == 0  # the default 7 days: nothing is that old
    assert "purged: jobs 0, images 0, files 0" in capsys.readouterr().out
    assert admin.main(["retention", "--days", "0"]) == 0
    assert "purged: jobs 1, images 1, files 2" in capsys.readouterr().out
    assert stored(common, job.id) == (None, None)


def test_export_zips_the_users_record_and_files(
    common: CommonConfig, ops_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (job,) = make_jobs(common, 1)
    finish_with_result(common, job.id)
    out = tmp_path / "requests"
    assert admin.main(["export", "7", "--out", str(out)]) == 0
    zip_path = out / "drawme-user-7.zip"
    assert str(zip_path) in capsys.readouterr().out
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        record = json.loads(archive.read("user.json"))
        assert archive.read(f"files/results/{job.id}.png") == b"\x89PNG fake painting"
    assert record["user_id"] == 7
    assert [exported["id"] for exported in record["jobs"]] == [job.id]
    (image,) = record["images"]
    assert f"files/{image['key']}" in names

    # Someone we know nothing about: an empty record, not an error.
    assert admin.main(["export", "8", "--out", str(out)]) == 0
    with zipfile.ZipFile(out / "drawme-user-8.zip") as archive:
        assert json.loads(archive.read("user.json"))["jobs"] == []


def test_commands_refuse_a_missing_database_instead_of_creating_one(
    common: CommonConfig, ops_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    for argv in (["stats"], ["retention"], ["requeue", "1"], ["backup", str(tmp_path / "b.sqlite3")]):
        assert admin.main(argv) == 1
        assert "there is no database at" in capsys.readouterr().err
    assert not common.db_path.exists()
