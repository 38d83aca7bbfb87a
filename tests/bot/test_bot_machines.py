"""Several machines, simulated: PostgreSQL as the one store, 3 workers each with its own DATA_DIR
(no shared disk), 2 bot processes on webhooks behind a load balancer, 6 users and 30 jobs, and random
SIGKILLs of bots and workers. Every accepted job reaches its own chat; none is lost or stuck; none is
sent twice except a send in flight at the instant of a kill."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from drawme.config import CommonConfig, Limits
from drawme.models import JobProgress, JobStatus
from drawme.store import open_store
from tests.bot.conftest import TEST_ENV, photo_bytes, webhook_env
from tests.bot.test_bot_crashes import BotProcess
from tests.bot.test_bot_delivery import results
from tests.fake_telegram import FakeTelegram

USERS, JOBS_PER_USER = 6, 5


async def worker_loop(name: str, url: str, data_dir: Path, stop: asyncio.Event, rng: random.Random) -> int:
    """A worker that sometimes dies mid-job (its lease then expires and the job is painted again)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    # Dying workers cost attempts; allow enough that a job is never failed for it here.
    store = await open_store(
        CommonConfig(data_dir=data_dir, database_url=url, limits=Limits(max_attempts=50))
    )
    deaths = 0
    try:
        await store.register_worker(name, "cpu")
        while not stop.is_set():
            await store.requeue_expired()
            job = await store.claim(name, lease_seconds=2)
            if job is None:
                await asyncio.sleep(0.05)
                continue
            await store.report_progress(job.id, name, JobProgress(scale=1, scales=1, step=5, total=10))
            if rng.random() < 0.15:  # killed: the job is abandoned with its lease
                deaths += 1
                continue
            await store.complete(job.id, name, photo_bytes("astronaut", fmt="PNG"))
    finally:
        await store.close()
    return deaths


async def test_several_machines_with_random_kills(
    telegram: FakeTelegram, postgres_url: str, tmp_path: Path
) -> None:
    rng = random.Random(9)
    env = {**TEST_ENV, "DATABASE_URL": postgres_url, "MAX_QUEUED_PER_USER": "50", "DAILY_QUOTA": "500"}
    bots = []
    for name in ("bot-a", "bot-b"):
        bot_dir = tmp_path / name
        bot_dir.mkdir()
        bots.append(BotProcess(telegram, bot_dir, {**env, **webhook_env(), "BOT_INSTANCE": name}))
    for bot in bots:
        await bot.start()
    telegram.balance([bot.webhook_url for bot in bots])
    stop = asyncio.Event()
    workers = [
        asyncio.create_task(worker_loop(f"w{n}", postgres_url, tmp_path / f"w{n}", stop, rng))
        for n in range(3)
    ]
    store = await open_store(CommonConfig(data_dir=tmp_path / "observer", database_url=postgres_url))
    kills = 0
    try:
        users = [7000 + n for n in range(USERS)]
        for _ in range(JOBS_PER_USER):
            for user in users:
                acks = sum("Got your photo" in t for t in telegram.texts(user))
                telegram.send_photo(user, photo_bytes("chelsea"))
                await telegram.wait_for(
                    lambda u=user, a=acks: sum("Got your photo" in t for t in telegram.texts(u)) > a,
                    timeout=60,
                    what="the photo's answer",
                )
                telegram.send_photo(user, photo_bytes("coffee"))
            await asyncio.sleep(0.3)
            victim = bots[rng.randrange(2)]  # a bot dies at a random moment and comes back
            victim.kill()
            kills += 1
            await victim.start()
        expected = USERS * JOBS_PER_USER

        async def statuses() -> list[JobStatus]:
            return [j.status for u in users for j in await store.jobs_of(u, active_only=False)]

        deadline = asyncio.get_running_loop().time() + 120
        while (now := await statuses()) != [JobStatus.DELIVERED] * expected:
            assert asyncio.get_running_loop().time() < deadline, f"every job delivered: {sorted(now)}"
            await asyncio.sleep(0.2)
        for user in users:
            sent = results(telegram, user)
            assert JOBS_PER_USER <= len(sent) <= JOBS_PER_USER + kills, "each painting once (but in-flight)"
        others = {c.chat_id for c in telegram.calls("sendPhoto") if "In the style of" in c.text}
        assert others == set(users), "to the right chats only"
    finally:
        stop.set()
        await asyncio.gather(*workers)
        for bot in bots:
            bot.stop()
        await store.close()
