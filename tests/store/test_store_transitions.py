"""A job's life in the store: each legal transition, and the illegal ones raising."""

from __future__ import annotations

import asyncio

import pytest

from drawme.models import (
    Blend,
    Display,
    FailureCode,
    IllegalTransition,
    JobProgress,
    JobStatus,
    LeaseLost,
    UserSettings,
)

from .helpers import jpeg_bytes, submit


def write_result(store, job_id: int) -> bytes:
    """The painting's bytes, as a worker hands them to `complete`."""
    return b"\x89PNG\r\n\x1a\n" + f"painting {job_id}".encode()


async def test_happy_path_queued_running_done_delivered(store, clock):
    job = await submit(store, 1)
    assert job.status == JobStatus.QUEUED and job.created_at == clock.now

    clock.advance(5)
    claimed = await store.claim("w1", lease_seconds=30)
    assert claimed.id == job.id and claimed.status == JobStatus.RUNNING
    assert claimed.lease_owner == "w1" and claimed.lease_expires_at == clock.now + 30
    assert claimed.started_at == clock.now

    progress = JobProgress(
        scale=1, scales=2, step=5, total=10, eta_seconds=12.5, losses={"total": 3.0}, work=0.2
    )
    await store.report_progress(job.id, "w1", progress)
    assert (await store.get(job.id)).progress == progress
    assert progress.fraction == 0.2  # the work done, not the 5 of 10 steps

    clock.advance(20)
    done = await store.complete(job.id, "w1", write_result(store, job.id), note="a note")
    assert done.status == JobStatus.DONE and done.finished_at == clock.now and done.note == "a note"
    assert done.lease_owner is None
    assert await store.get_result(job.id) == write_result(store, job.id)

    delivered = await store.mark_delivered(job.id, message_id=77)
    assert delivered.status == JobStatus.DELIVERED and delivered.status_message_id == 77
    assert delivered.delivered_at == clock.now
    assert job.id not in [j.id for j in await store.undelivered()]


async def test_illegal_transitions_raise(store):
    job = await submit(store, 1)
    with pytest.raises(IllegalTransition):
        await store.mark_delivered(job.id, None)  # queued
    with pytest.raises(IllegalTransition):
        await store.requeue(job.id)  # queued is not stuck
    with pytest.raises(LeaseLost):
        await store.complete(job.id, "w1", write_result(store, job.id))  # never claimed

    await store.claim("w1", 30)
    with pytest.raises(LeaseLost):
        await store.heartbeat(job.id, "w2", 30)  # someone else's lease
    with pytest.raises(LeaseLost):
        await store.fail(job.id, "w2", "no")
    await store.complete(job.id, "w1", write_result(store, job.id))
    with pytest.raises(IllegalTransition):
        await store.complete(job.id, "w1", write_result(store, job.id))  # done -> done
    with pytest.raises(IllegalTransition):
        await store.cancel(job.id)  # done cannot be cancelled
    with pytest.raises(IllegalTransition):
        await store.release(job.id, "w1")
    await store.mark_delivered(job.id, 1)
    with pytest.raises(IllegalTransition):
        await store.mark_delivered(job.id, 1)  # delivered twice
    assert (await store.get(job.id)).status == JobStatus.DELIVERED


async def test_complete_refuses_an_empty_result(store):
    job = await submit(store, 1)
    await store.claim("w1", 30)
    with pytest.raises(ValueError):
        await store.complete(job.id, "w1", b"")
    assert (await store.get(job.id)).status == JobStatus.RUNNING
    assert await store.get_result(job.id) is None


async def test_a_new_preview_replaces_the_previous_one(store):
    job = await submit(store, 1)
    await store.claim("w1", 30)
    assert await store.get_preview(job.id) is None
    await store.report_progress(job.id, "w1", JobProgress(scale=1, scales=2, step=5, total=10), b"first")
    first = (await store.get(job.id)).progress.preview_key
    assert await store.get_preview(job.id) == b"first"
    await store.report_progress(job.id, "w1", JobProgress(scale=1, scales=2, step=6, total=10))
    assert (await store.get(job.id)).progress.preview_key == first  # a report without a preview keeps it
    await store.report_progress(job.id, "w1", JobProgress(scale=2, scales=2, step=8, total=10), b"second")
    second = (await store.get(job.id)).progress.preview_key
    assert second != first and await store.get_preview(job.id) == b"second"
    # The old one is gone from the store, not just unreferenced.
    assert (await store.export_files([first, second])) == {second: b"second"}


async def test_cancel_queued_is_immediate(store):
    job = await submit(store, 1)
    cancelled = await store.cancel(job.id)
    assert cancelled.status == JobStatus.CANCELLED and cancelled.finished_at is not None
    assert await store.claim("w1", 30) is None
    # The user still has to be told: it stays undelivered until the bot reports it.
    assert [j.id for j in await store.undelivered()] == [job.id]
    told = await store.mark_delivered(job.id, None)
    assert told.status == JobStatus.CANCELLED and told.delivered_at is not None
    assert await store.undelivered() == []


async def test_cancel_running_is_requested_then_honoured(store):
    job = await submit(store, 1)
    await store.claim("w1", 30)
    assert await store.heartbeat(job.id, "w1", 30) is False
    requested = await store.cancel(job.id)
    assert requested.status == JobStatus.RUNNING and requested.cancel_requested
    assert await store.heartbeat(job.id, "w1", 30) is True
    cancelled = await store.mark_cancelled(job.id, "w1")
    assert cancelled.status == JobStatus.CANCELLED


async def test_release_requeues_without_an_attempt(store):
    job = await submit(store, 1)
    await store.claim("w1", 30)
    released = await store.release(job.id, "w1")
    assert released.status == JobStatus.QUEUED and released.attempts == 0 and released.lease_owner is None
    assert (await store.claim("w2", 30)).id == job.id


async def test_fail_and_admin_requeue_and_force_fail(store):
    job = await submit(store, 1)
    await store.claim("w1", 30)
    failed = await store.fail(job.id, "w1", str(FailureCode.MISSING_INPUT))
    assert failed.status == JobStatus.FAILED and failed.error == FailureCode.MISSING_INPUT
    again = await store.requeue(job.id)
    assert again.status == JobStatus.QUEUED and again.error is None and again.attempts == 0
    forced = await store.force_fail(job.id)
    assert forced.status == JobStatus.FAILED and forced.error == FailureCode.STOPPED
    with pytest.raises(IllegalTransition):
        await store.force_fail(job.id)


async def test_settings_round_trip_and_status_message(store):
    assert await store.get_settings(5) == UserSettings()
    chosen = UserSettings(
        blend=Blend(content=2.0, style=0.5), size="large", preserve_colors=True, last_preset="udnie"
    )
    await store.save_settings(5, chosen)
    assert await store.get_settings(5) == chosen
    job = await submit(store, 5)
    await store.save_display(job.id, Display(status_message_id=1234))
    assert (await store.get(job.id)).status_message_id == 1234
    assert [j.id for j in await store.jobs_of(5)] == [job.id]
    await store.cancel(job.id)
    assert await store.jobs_of(5) == []
    assert [j.id for j in await store.jobs_of(5, active_only=False)] == [job.id]


async def test_same_picture_is_stored_once_per_owner(store):
    first = await store.store_image(1, jpeg_bytes(), 64, 64)
    second = await store.store_image(1, jpeg_bytes(), 64, 64)
    other = await store.store_image(2, jpeg_bytes(), 64, 64)
    assert first.id == second.id and other.id != first.id
    assert first.key == f"images/1/{first.sha256}.jpg" and other.key == f"images/2/{first.sha256}.jpg"
    assert await store.get_image_bytes(first.id) == jpeg_bytes()
    assert await store.get_image_bytes(10_000) is None
    assert await store.get_image(first.id) == first


async def test_wait_for_change_wakes_on_a_commit(store, second_store, backend):
    """PostgreSQL: another connection's submit wakes a waiter (LISTEN/NOTIFY). SQLite: this process's
    own commits do; other processes' are seen by polling (the wait times out)."""
    while await store.wait_for_change(0.3):  # starts listening; drains the signals until quiet
        pass
    waiter = asyncio.ensure_future(store.wait_for_change(10))
    await asyncio.sleep(0.2)
    submitter = second_store if backend == "postgres" else store
    await submit(submitter, 1)
    assert await asyncio.wait_for(waiter, 5) is True
    assert await store.wait_for_change(0.05) is False  # nothing new since
