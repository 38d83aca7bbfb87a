"""Two bot instances behind a load balancer (webhooks) on one store: each painting is sent once, to
the right chat (delivery is leased per job), and when one stops the other carries on alone."""

from __future__ import annotations

from drawme.store import JobStore
from tests.bot.conftest import HandWorker, RunningBot, bot_config, photo_bytes, webhook_env
from tests.bot.test_bot_conversation import eventually
from tests.bot.test_bot_delivery import delivered, results
from tests.fake_telegram import FakeTelegram


async def test_two_instances_never_send_the_same_painting(
    telegram: FakeTelegram, store: JobStore, tmp_path, user_id: int
) -> None:
    bots = []
    for name in ("bot-a", "bot-b"):
        config = bot_config(telegram, tmp_path, BOT_INSTANCE=name, **webhook_env())
        own_store = await JobStore.open(config.common)  # each instance its own connection
        bots.append(await RunningBot(config, own_store).start())
    telegram.balance([bot.config.webhook_url for bot in bots])  # the load balancer
    users = [user_id + n for n in range(4)]
    try:
        for user in users:  # photo and style: two updates, most likely handled by different bots
            telegram.send_photo(user, photo_bytes("chelsea"))
            await telegram.wait_for(lambda u=user: telegram.texts(u), what="the photo's answer")
            telegram.send_photo(user, photo_bytes("coffee"))
        worker = HandWorker(store, tmp_path)
        jobs = []
        for _ in users:
            job = await worker.claim()
            await worker.progress(job, step=10, preview_color="red")
            await worker.finish(job)
            jobs.append(job)
        for job in jobs:
            assert await eventually(lambda j=job: delivered(store, j.id), timeout=20)
        # The second bot stops (releasing its leases); the first carries on alone.
        await bots[1].stop()
        telegram.balance([bots[0].config.webhook_url])
        telegram.send_photo(users[0], photo_bytes("astronaut"))
        await telegram.wait_for(lambda: sum("Got your photo" in t for t in telegram.texts(users[0])) == 2)
    finally:
        for bot in bots:
            if bot.application.running:
                await bot.stop()
            await bot.store.close()
    for job in jobs:
        assert len(results(telegram, job.chat_id)) == 1, "each painting sent once, to its own chat"
    assert {address for _, address, status in telegram.webhook_answers if status == 200} == {
        bot.config.webhook_url for bot in bots
    }, "both instances took updates"
