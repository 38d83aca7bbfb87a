"""The bot killed at the exact moment (SIGKILL inside the fake Telegram's handler of a given call),
then restarted: nothing is lost, nothing sent twice, no status message left behind, and a broken
state file from an earlier version never stops it. The bot runs as `python -m bot`, as in production."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drawme.config import CommonConfig
from drawme.store import JobStore
from tests.bot.conftest import TEST_ENV, HandWorker, RunningBot, bot_config, photo_bytes
from tests.bot.test_bot_conversation import eventually, send_photo_and_get_keyboard
from tests.bot.test_bot_delivery import FlakyStore, delivered, order_painting, results
from tests.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]


class BotProcess:
    """`python -m bot` against the fake server, in the test's DATA_DIR."""

    def __init__(self, telegram: FakeTelegram, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.telegram, self.data_dir = telegram, data_dir
        self.env = env or {"BOT_INSTANCE": "crash-test"}
        self.process: subprocess.Popen | None = None

    @property
    def webhook_url(self) -> str:
        return self.env["WEBHOOK_URL"]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    async def start(self) -> BotProcess:
        env = {
            **os.environ,
            **TEST_ENV,
            "BOT_TOKEN": self.telegram.token,
            "TELEGRAM_API_URL": self.telegram.api_url,
            "DATA_DIR": str(self.data_dir),
            **self.env,
            "PYTHONPATH": str(ROOT),  # this checkout's code, whatever the venv's editable install says
        }
        ready = len(self.telegram.calls("setMyCommands"))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=self.data_dir, env=env, stderr=subprocess.PIPE
        )
        await self.telegram.wait_for(
            lambda: len(self.telegram.calls("setMyCommands")) > ready or self.process.poll() is not None,
            what="the bot to start",
        )
        assert self.process.poll() is None, self.process.stderr.read().decode()[-2000:]
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    async def killed(self) -> None:
        """Wait until a kill_inside hook has killed it."""
        await self.telegram.wait_for(lambda: self.process.poll() is not None, what="the kill")
        assert self.process.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr:
            self.process.stderr.close()


@pytest.fixture
async def data_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
async def shared_store(data_dir: Path) -> AsyncIterator[JobStore]:
    """The test's own connection to the bot's store (as the engine would have)."""
    store = await JobStore.open(CommonConfig.from_env({"DATA_DIR": str(data_dir), **TEST_ENV}))
    yield store
    await store.close()


@pytest.fixture
async def bots(telegram: FakeTelegram, data_dir: Path) -> AsyncIterator[list[BotProcess]]:
    started: list[BotProcess] = []
    yield started
    for bot in started:
        bot.stop()


async def _new_bot(bots: list[BotProcess], telegram: FakeTelegram, data_dir: Path) -> BotProcess:
    bot = await BotProcess(telegram, data_dir).start()
    bots.append(bot)
    return bot


async def test_a_photo_being_handled_at_a_crash_is_handled_after_the_restart(
    telegram: FakeTelegram, data_dir: Path, shared_store: JobStore, bots, user_id: int
) -> None:
    """Defects 4 and 6: the update was being handled (its photo downloading) when the bot died."""
    bot = await _new_bot(bots, telegram, data_dir)
    telegram.kill_inside("getFile", bot.pid, after=False)
    telegram.send_photo(user_id, photo_bytes("chelsea"))
    await bot.killed()
    assert not telegram.texts(user_id)

    await _new_bot(bots, telegram, data_dir)
    await telegram.wait_for(lambda: any("Got your photo" in t for t in telegram.texts(user_id)), what="ack")
    telegram.send_photo(user_id, photo_bytes("coffee"))  # the style, for the photo that survived
    await telegram.wait_for(lambda: any("Queued" in t for t in telegram.texts(user_id)), what="queued")
    (job,) = await shared_store.jobs_of(user_id, active_only=False)
    content, style = (
        await shared_store.get_image(job.content_image_id),
        await shared_store.get_image(job.style_image_id),
    )
    assert content.id < style.id, "photo and style are not swapped"


async def test_a_photo_acknowledged_at_a_crash_still_waits_for_its_style(
    telegram: FakeTelegram, data_dir: Path, shared_store: JobStore, bots, user_id: int
) -> None:
    """Defect 4: killed while Telegram delivers "Got your photo": the photo was taken all the same."""
    bot = await _new_bot(bots, telegram, data_dir)
    telegram.kill_inside("sendMessage", bot.pid, when=lambda call: call.chat_id == user_id)
    telegram.send_photo(user_id, photo_bytes("chelsea"))
    await bot.killed()

    await _new_bot(bots, telegram, data_dir)
    telegram.send_photo(user_id, photo_bytes("coffee"))
    await telegram.wait_for(lambda: any("Queued" in t for t in telegram.texts(user_id)), what="queued")
    (job,) = await shared_store.jobs_of(user_id, active_only=False)
    assert job.content_image_id < job.style_image_id, "the first photo is the photo, the second the style"


async def test_an_album_gathered_at_a_crash_is_painted_after_the_restart(
    telegram: FakeTelegram, data_dir: Path, shared_store: JobStore, bots, user_id: int
) -> None:
    """Album pairing survives: killed while downloading the album's pictures, the restarted bot
    gathers the same two parts again and queues one job, photo first."""
    bot = await _new_bot(bots, telegram, data_dir)
    telegram.kill_inside("getFile", bot.pid, after=False)
    telegram.send_album(user_id, [photo_bytes("astronaut"), photo_bytes("coffee")])
    await bot.killed()

    await _new_bot(bots, telegram, data_dir)
    await telegram.wait_for(lambda: any("Queued" in t for t in telegram.texts(user_id)), what="queued")
    (job,) = await shared_store.jobs_of(user_id, active_only=False)
    assert job.content_image_id < job.style_image_id


async def test_a_tap_handled_at_a_crash_makes_one_job(
    telegram: FakeTelegram, data_dir: Path, shared_store: JobStore, bots, user_id: int
) -> None:
    """Handling is idempotent by update id: the job made before the crash is not made twice."""
    bot = await _new_bot(bots, telegram, data_dir)
    message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
    telegram.kill_inside("sendMessage", bot.pid, after=False, when=lambda call: "Queued" in call.text)
    telegram.press(user_id, message_id, buttons[0][1])
    await bot.killed()

    await _new_bot(bots, telegram, data_dir)
    await telegram.wait_for(lambda: any("Queued" in t for t in telegram.texts(user_id)), what="a status")
    jobs = await shared_store.jobs_of(user_id, active_only=False)
    assert len(jobs) == 1


async def test_a_status_message_superseded_at_a_crash_is_removed(
    telegram: FakeTelegram, data_dir: Path, shared_store: JobStore, bots, user_id: int
) -> None:
    """Defect 3: killed after the preview replaced the text status, before the old one was deleted."""
    bot = await _new_bot(bots, telegram, data_dir)
    message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
    telegram.press(user_id, message_id, buttons[0][1])
    await telegram.wait_for(lambda: any("Queued" in t for t in telegram.texts(user_id)), what="queued")
    worker = HandWorker(shared_store, data_dir)
    job = await worker.claim()
    telegram.kill_inside("deleteMessage", bot.pid, after=False)
    await worker.progress(job, step=10, preview_color="red")
    await bot.killed()
    statuses = [m for m in telegram.messages.values() if m.get("text", "").startswith(("⏳", "🎨"))]
    assert statuses, "the old text status is still there at the crash"

    await _new_bot(bots, telegram, data_dir)
    await worker.finish(job)
    assert await eventually(lambda: delivered(shared_store, job.id), timeout=20)
    assert len(results(telegram, user_id)) == 1
    left = [
        m
        for m in telegram.messages.values()
        if (m.get("text") or m.get("caption") or "").startswith(("⏳", "🎨"))
    ]
    assert not left, "no status message is left behind"


async def test_the_painting_is_sent_once_even_if_the_bot_dies_before_recording_delivery(
    telegram: FakeTelegram, data_dir: Path, shared_store: JobStore, bots, user_id: int
) -> None:
    """Defect 2: killed after Telegram answered the painting's sendPhoto (the next call is the
    status message's deletion): the restarted bot does not send it again."""
    bot = await _new_bot(bots, telegram, data_dir)
    message_id, buttons = await send_photo_and_get_keyboard(telegram, user_id)
    telegram.press(user_id, message_id, buttons[0][1])
    await telegram.wait_for(lambda: any("Queued" in t for t in telegram.texts(user_id)), what="queued")
    worker = HandWorker(shared_store, data_dir)
    job = await worker.claim()
    telegram.kill_inside("deleteMessage", bot.pid, after=False)
    await worker.finish(job)
    await bot.killed()
    assert len(results(telegram, user_id)) == 1

    await _new_bot(bots, telegram, data_dir)
    assert await eventually(lambda: delivered(shared_store, job.id), timeout=20)
    assert len(results(telegram, user_id)) == 1, "sent once"
    assert not [m for m in telegram.messages.values() if (m.get("text") or "").startswith(("⏳", "🎨"))]


async def test_a_failed_delivery_record_and_a_restart_do_not_send_twice(
    telegram: FakeTelegram, tmp_path: Path, user_id: int
) -> None:
    """Defect 2, in process: recording the delivery fails, then the bot restarts (memory gone)."""
    config = bot_config(telegram, tmp_path)
    store = await JobStore.open(config.common)
    flaky = FlakyStore(store)
    flaky.failures = 1000  # the store refuses to record the delivery until the restart
    first = await RunningBot(config, store, flaky).start()
    try:
        await order_painting(first, telegram, user_id)
        worker = HandWorker(store, tmp_path)
        job = await worker.claim()
        await worker.finish(job)
        await telegram.wait_for(lambda: results(telegram, user_id), what="the painting")
    finally:
        await first.stop()
    flaky.failures = 0
    second = await RunningBot(config, store, flaky).start()
    try:
        assert await eventually(lambda: delivered(store, job.id))
    finally:
        await second.stop()
        await store.close()
    assert len(results(telegram, user_id)) == 1


async def test_a_restarted_bot_edits_the_preview_it_finds(
    telegram: FakeTelegram, store: JobStore, worker: HandWorker, tmp_path: Path, user_id: int
) -> None:
    """Defect 9: the new process knows what the status message shows: no refused edits."""
    config = bot_config(telegram, tmp_path)
    first = await RunningBot(config, store).start()
    try:
        await order_painting(first, telegram, user_id)
        job = await worker.claim()
        await worker.progress(job, step=10, preview_color="red")
        await telegram.wait_for(lambda: telegram.calls("sendPhoto", chat_id=user_id), what="the preview")
    finally:
        await first.stop()
    second = await RunningBot(config, store).start()
    try:
        await worker.progress(job, step=20)
        await telegram.wait_for(lambda: telegram.calls("editMessageCaption", chat_id=user_id), what="edit")
        await worker.finish(job)
        assert await eventually(lambda: delivered(store, job.id))
    finally:
        await second.stop()
    # (A delete repeated after a failed store write may be refused harmlessly; an edit never is.)
    refused = [c for c in telegram.calls(chat_id=user_id, ok=False) if c.method.startswith("edit")]
    assert not refused, [(c.method, c.status, c.params.get("message_id")) for c in refused]
