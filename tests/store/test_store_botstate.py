"""The bot's state in the store, on both backends: delivery leases and displays, conversations saved
with the upload or the submit, submits idempotent by update id, the inbox, and the paintings a user
can share (their Telegram file ids)."""

from __future__ import annotations

from dataclasses import replace

from drawme.models import Conversation, Display, JobRequest, PaintParams, SharedPainting, StyleRef
from drawme.store import DAY

from .helpers import jpeg_bytes, submit

BIG = 5_000_000_000  # Telegram ids beyond 32 bits


async def test_a_delivery_lease_is_held_by_one_instance_until_it_expires_or_is_released(
    store, second_store, clock
):
    job = await submit(store, BIG)
    mine = await store.claim_deliveries("a", [job.id], 10)
    assert mine == {job.id: Display()}
    assert await second_store.claim_deliveries("b", [job.id], 10) == {}, "held by a"
    shown = Display(
        status_message_id=BIG + 1,
        is_photo=True,
        text="🎨",
        preview_key="k",
        stale_message_ids=(7,),
        edited_at=1234.5,
        unconfirmed=True,
    )
    await store.save_display(job.id, shown)
    assert (await store.get(job.id)).status_message_id == BIG + 1
    assert await store.claim_deliveries("a", [job.id], 10) == {job.id: shown}, "renewed by its holder"
    clock.advance(11)
    assert await second_store.claim_deliveries("b", [job.id], 10) == {job.id: shown}, "expired: b takes over"
    await second_store.release_deliveries("b")
    assert await store.claim_deliveries("a", [job.id], 10) == {job.id: shown}, "released: a at once"


async def test_the_conversation_is_saved_with_the_upload_and_cleared_with_the_submit(store):
    assert await store.get_conversation(BIG) == Conversation()
    photo = await store.store_image(BIG, jpeg_bytes(), 64, 64, Conversation(pending_photo=0))
    assert await store.get_conversation(BIG) == Conversation(pending_photo=photo.id)
    style = await store.store_image(BIG, jpeg_bytes((0, 0, 255)), 64, 64)
    request = JobRequest(BIG, BIG, photo.id, PaintParams(size=64), style_image_id=style.id)
    job = await store.submit(request, origin=BIG + 7, conversation=Conversation())
    assert await store.get_conversation(BIG) == Conversation()
    again = await store.submit(replace(request), origin=BIG + 7, conversation=Conversation())
    assert again.id == job.id and len(await store.jobs_of(BIG)) == 1, "the same update makes one job"
    assert (await store.job_of_origin(BIG + 7)).id == job.id and await store.job_of_origin(1) is None
    # "Mix with another style" waits for its picture across a restart, as a job id.
    await store.save_conversation(BIG, Conversation(pending_mix=job.id))
    assert await store.get_conversation(BIG) == Conversation(pending_mix=job.id)
    await store.save_conversation(BIG, Conversation(pending_preset="udnie"))
    assert await store.get_conversation(BIG) == Conversation(pending_preset="udnie")
    await store.forget(BIG)
    assert await store.get_conversation(BIG) == Conversation()


async def test_the_inbox_keeps_what_is_not_handled_and_drops_what_is(store, second_store, clock):
    assert await store.inbox_add(BIG, '{"update_id": 1}', "a")
    assert await store.inbox_add(BIG + 1, '{"update_id": 2}', "a")
    await store.inbox_done(BIG)
    assert not await store.inbox_add(BIG, '{"update_id": 1}', "a"), "handled: a resend is dropped"
    assert await store.inbox_add(BIG + 1, '{"update_id": 2}', "a"), "not handled yet: still to do"
    assert await second_store.inbox_leftovers("b", stale_after=60) == [], "a may still be on it"
    assert await store.inbox_leftovers("a", stale_after=60) == [(BIG + 1, '{"update_id": 2}')]
    clock.advance(61)
    assert await second_store.inbox_leftovers("b", stale_after=60) == [(BIG + 1, '{"update_id": 2}')]


async def _paint_and_send(store, clock, user_id: int, file_id: str | None, params=None):
    """A job of `user_id` painted and sent; Telegram gave the sent photo `file_id` (None: not sent)."""
    image = await store.store_image(user_id, jpeg_bytes((user_id % 256, 1, 2)), 64, 64)
    job = await store.submit(
        JobRequest(user_id, user_id, image.id, params or PaintParams(size=64), style_preset="udnie")
    )
    assert (await store.claim("w", 30)).id == job.id
    await store.complete(job.id, "w", b"png")
    if file_id is not None:
        await store.save_display(job.id, Display(result_message_id=9, result_file_id=file_id))
        await store.mark_delivered(job.id, 9)
    clock.advance(60)
    return job


async def test_recent_paintings_are_the_users_own_sent_ones_newest_first(store, second_store, clock):
    first = await _paint_and_send(store, clock, BIG, "file-a")
    other = await _paint_and_send(store, clock, BIG + 1, "file-other")
    unsent = await _paint_and_send(store, clock, BIG, None)
    mixed = PaintParams(size=64, mix=(StyleRef(preset="great_wave"),))
    second = await _paint_and_send(store, clock, BIG, "file-b", mixed)

    recent = await second_store.recent_paintings(BIG, 10)
    assert [(p.job_id, p.file_id) for p in recent] == [(second.id, "file-b"), (first.id, "file-a")]
    assert unsent.id not in {p.job_id for p in recent}, "no file id: never reached the user"
    assert recent[1] == SharedPainting(first.id, "file-a", "udnie", recent[1].finished_at)
    assert recent[0].style_preset is None, "a mix is not one preset"
    assert [p.file_id for p in await store.recent_paintings(BIG, 1)] == ["file-b"]
    assert [(p.job_id, p.file_id) for p in await store.recent_paintings(BIG + 1, 10)] == [
        (other.id, "file-other")
    ]
    assert await store.recent_paintings(BIG + 2, 10) == []
    # The file id is part of what the delivery shows: a restarted bot reads it back.
    assert (await store.claim_deliveries("a", [first.id], 10))[first.id].result_file_id == "file-a"

    await store.forget(BIG)
    assert await store.recent_paintings(BIG, 10) == []
    assert len(await store.recent_paintings(BIG + 1, 10)) == 1, "another user's stay"
    clock.advance(30 * DAY)
    await store.purge()
    assert await store.recent_paintings(BIG + 1, 10) == [], "retention takes them with their job"


async def test_the_blocked_mark_is_shared_and_cleared_when_the_chat_asks_again(store, second_store):
    job = await submit(store, BIG)
    assert await store.unreachable_among([BIG, BIG + 1]) == set()
    await store.mark_unreachable(BIG)
    await store.mark_unreachable(BIG)  # twice is once
    assert await second_store.unreachable_among([BIG, BIG + 1]) == {BIG}, "another instance knows it"
    assert await store.unreachable_among([]) == set()
    await submit(store, BIG)  # the user came back and asked for a painting
    assert await second_store.unreachable_among([BIG]) == set()
    await store.mark_unreachable(job.chat_id)
    await store.forget(BIG)
    assert await store.unreachable_among([BIG]) == set(), "/forget removes it with the rest"
