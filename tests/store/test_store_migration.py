"""Schema migrations: a v1 database file with data opens, upgrades to the latest schema, keeps its data;
a v7 store (either engine) gains v8's batch keys, its old rows keep NULL and never batch; a v8 store
gains v9's worker capacities, its registered workers count as one job at a time until they register
again."""

from __future__ import annotations

import contextlib
import json
import sqlite3

import pytest

from drawme.models import JobStatus, PaintParams
from drawme.store import DEFAULT_SECONDS_PER_PIXEL, Dialect, JobStore, queue, schema

from .helpers import jpeg_bytes, submit

# The v1 tests are SQLite's: PostgreSQL's schema starts at v4.


def make_v1_database(path, now: float) -> None:
    """A database as the first release wrote it: the v1 DDL, one user, an image, a queued and a done job."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript(schema.V1)
    db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (1, ?)", (now,))
    db.execute(
        "INSERT INTO users (id, settings, created_at) VALUES (7, ?, ?)",
        (json.dumps({"blend": {"content": 2.0, "style": 1.0, "tv": 1.0}, "size": "small"}), now),
    )
    db.execute(
        "INSERT INTO images (id, owner_id, sha256, path, width, height, bytes, created_at)"
        " VALUES (1, 7, 'abc', 'images/ab/abc.jpg', 640, 480, 1234, ?)",
        (now,),
    )
    params = json.dumps(PaintParams(size=256).to_json())
    db.execute(
        "INSERT INTO jobs (id, user_id, chat_id, content_image_id, style_preset, params, status,"
        " created_at) VALUES (1, 7, 70, 1, 'udnie', ?, 'queued', ?)",
        (params, now),
    )
    db.execute(
        "INSERT INTO jobs (id, user_id, chat_id, content_image_id, style_preset, params, status,"
        " result_path, created_at, started_at, finished_at) VALUES (2, 7, 70, 1, 'great_wave', ?,"
        " 'done', 'results/2.png', ?, ?, ?)",
        (params, now - 100, now - 90, now - 30),
    )
    db.commit()
    db.close()


@pytest.mark.sqlite_only
async def test_v1_database_upgrades_and_keeps_its_data(common, clock):
    make_v1_database(common.db_path, clock.now)
    store = await JobStore.open(common, clock=clock)
    try:
        assert await store.schema_version() == schema.LATEST
        settings = await store.get_settings(7)
        assert settings.blend.content == 2.0 and settings.size == "small"
        image = await store.get_image(1)
        assert (image.owner_id, image.width, image.height, image.path) == (7, 640, 480, "images/ab/abc.jpg")
        queued, done = await store.get(1), await store.get(2)
        assert queued.status == JobStatus.QUEUED and queued.params == PaintParams(size=256)
        assert queued.note is None and queued.progress.step == 0 and queued.progress.work is None
        assert done.status == JobStatus.DONE and done.result_key == "results/2.png"
        # The new columns work: the old queued job is claimable and reports progress.
        claimed = await store.claim("w", 30)
        assert claimed.id == 1
        # v2 back-filled the painted size from the frozen params, so the ETA uses 256 px history.
        stats = await store.stats()
        assert stats.running == 1
    finally:
        await store.close()

    # Opening again runs nothing twice.
    again = await JobStore.open(common, clock=clock)
    try:
        assert await again.schema_version() == schema.LATEST
        assert (await again.get(1)).status == JobStatus.RUNNING
    finally:
        await again.close()
    db = sqlite3.connect(common.db_path)
    try:
        assert db.execute("SELECT size FROM jobs ORDER BY id").fetchall() == [(256,), (256,)]
        versions = db.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert [row[0] for row in versions] == list(range(1, schema.LATEST + 1))
    finally:
        db.close()


@pytest.mark.sqlite_only
async def test_a_newer_database_is_refused(common, clock):
    store = await JobStore.open(common, clock=clock)
    await store.close()
    db = sqlite3.connect(common.db_path)
    db.execute("INSERT INTO schema_version VALUES (99, 0)")
    db.commit()
    db.close()
    try:
        await JobStore.open(common, clock=clock)
    except RuntimeError as error:
        assert "v99" in str(error)
    else:
        raise AssertionError("a database from the future must not be opened")


V7_JOB = (
    "INSERT INTO jobs (user_id, chat_id, content_image_id, style_preset, params, size, created_at)"
    " VALUES (?, ?, ?, 'udnie', ?, 64, ?) RETURNING id"
)
HAS_BATCH_INDEX = {
    Dialect.SQLITE: "SELECT COUNT(*) = 1 FROM sqlite_master WHERE type = 'index' AND name = 'jobs_batch'",
    Dialect.POSTGRES: "SELECT to_regclass('jobs_batch') IS NOT NULL",
}


@contextlib.asynccontextmanager
async def store_at(version: int, common, clock, monkeypatch):
    """An open store (either engine) whose migrations stop at `version`, as that version left it."""
    with monkeypatch.context() as old:
        steps = {d: {n: ddl for n, ddl in ms.items() if n <= version} for d, ms in schema.MIGRATIONS.items()}
        old.setattr(schema, "MIGRATIONS", steps)
        old.setattr(schema, "LATEST", version)
        store = await JobStore.open(common, clock=clock)
        try:
            assert await store.schema_version() == version
            yield store
        finally:
            await store.close()


async def make_v7_store(common, clock, monkeypatch) -> list[int]:
    """A store as v7 left it (either engine), with two users' queued jobs of one shape; their ids."""
    async with store_at(7, common, clock, monkeypatch) as store:
        ids = []
        for user in (7, 8):
            image = await store.store_image(user, jpeg_bytes((user, 1, 2)), 64, 64)
            params = json.dumps(PaintParams(size=64).to_json())
            async with store.db.transaction() as tx:
                ids.append(await tx.value(V7_JOB, (user, user, image.id, params, clock.now)))
        return ids


async def test_a_v7_store_gains_batch_keys_and_its_old_jobs_never_batch(common, clock, monkeypatch):
    old = await make_v7_store(common, clock, monkeypatch)
    store = await JobStore.open(common, clock=clock)
    try:
        assert await store.schema_version() == schema.LATEST
        async with store.db.transaction(write=False) as tx:
            assert await tx.value(HAS_BATCH_INDEX[tx.dialect])
            rows = await tx.rows("SELECT id, batch_key FROM jobs ORDER BY id")
        assert [(row["id"], row["batch_key"]) for row in rows] == [(old[0], None), (old[1], None)]
        new = [await submit(store, user) for user in (9, 10)]  # the same 64 px square shape
        # The old rows are claimed as before, one at a time (NULL never batches); new ones batch.
        assert [job.id for job in await store.claim_batch("w", 30, 4)] == [old[0]]
        assert [job.id for job in await store.claim_batch("w", 30, 4)] == [old[1]]
        assert [job.id for job in await store.claim_batch("w", 30, 4)] == [job.id for job in new]
    finally:
        await store.close()

    again = await JobStore.open(common, clock=clock)  # opening again runs nothing twice
    try:
        versions = [row["version"] for row in await again.db.rows("SELECT version FROM schema_version")]
        assert {7, 8, 9} <= set(versions) and len(versions) == len(set(versions))
    finally:
        await again.close()


async def make_v8_store(common, clock, monkeypatch) -> None:
    """A store as v8 left it (either engine), with a GPU worker and a CPU worker registered as v8
    registered them (no capacity), both live."""
    async with store_at(8, common, clock, monkeypatch) as store, store.db.transaction() as tx:
        for worker, device in (("gpu-1", "cuda"), ("cpu-1", "cpu")):
            await tx.execute(
                "INSERT INTO workers (id, device, heartbeat_at) VALUES (?, ?, ?)", (worker, device, clock.now)
            )


async def test_a_v8_store_gains_worker_capacities(common, clock, monkeypatch):
    await make_v8_store(common, clock, monkeypatch)
    store = await JobStore.open(common, clock=clock)
    try:
        assert await store.schema_version() == schema.LATEST
        # The workers registered before v9 paint one job at a time, as v8's ETAs assumed.
        assert {(w.worker_id, w.device, w.capacity) for w in await store.workers()} == {
            ("gpu-1", "cuda", 1),
            ("cpu-1", "cpu", 1),
        }
        async with store.db.transaction(write=False) as tx:
            assert await queue.worker_capacity(tx, clock.now) == 2
        # The GPU worker's next beat (new code) records its batch size; ETAs count it at once.
        job = await submit(store, 7)
        others = [await submit(store, user) for user in range(8, 28)]
        before = (await store.position(others[-1].id)).eta_seconds
        await store.register_worker("gpu-1", "cuda", capacity=16)
        assert {(w.worker_id, w.capacity) for w in await store.workers()} == {("gpu-1", 16), ("cpu-1", 1)}
        async with store.db.transaction(write=False) as tx:
            assert await queue.worker_capacity(tx, clock.now) == 17
        per_job = DEFAULT_SECONDS_PER_PIXEL * 64 * 64  # no history: the default per pixel
        assert before == pytest.approx(20 * per_job / 2 + per_job)
        assert (await store.position(others[-1].id)).eta_seconds == pytest.approx(20 * per_job / 17 + per_job)
        assert (await store.position(job.id)).ahead == 0
    finally:
        await store.close()

    again = await JobStore.open(common, clock=clock)  # opening again runs nothing twice
    try:
        versions = [row["version"] for row in await again.db.rows("SELECT version FROM schema_version")]
        assert {8, 9} <= set(versions) and len(versions) == len(set(versions))
        assert {(w.worker_id, w.capacity) for w in await again.workers()} == {("gpu-1", 16), ("cpu-1", 1)}
    finally:
        await again.close()


async def test_a_v9_inbox_learns_whose_updates_it_holds(common, clock, monkeypatch):
    """v10: the inbox keeps each update's user, so /forget deletes a user's raw updates; rows from
    before (no user) stay until the inbox drops them."""
    async with store_at(9, common, clock, monkeypatch) as store, store.db.transaction() as tx:
        await tx.execute(
            "INSERT INTO inbox (update_id, body, owner, received_at) VALUES (1, '{}', 'bot', ?)", (clock.now,)
        )
    store = await JobStore.open(common, clock=clock)
    try:
        assert await store.schema_version() == schema.LATEST
        assert await store.inbox_add(2, '{"update_id": 2}', "bot", 7)
        assert await store.inbox_add(3, '{"update_id": 3}', "bot", 8)
        await store.forget(7)
        async with store.db.transaction(write=False) as tx:
            rows = await tx.rows("SELECT update_id, user_id FROM inbox ORDER BY update_id")
        assert [(row["update_id"], row["user_id"]) for row in rows] == [(1, None), (3, 8)]
    finally:
        await store.close()
