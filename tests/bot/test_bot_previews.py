"""Lighter on mobile data: a painting uploads at most one preview per scale into its status message;
between previews the status is edited as text only (issue 11, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from drawme.config import CommonConfig, EngineConfig
from drawme.models import JobStatus
from engine import worker as worker_module
from engine.worker import Worker
from tests.bot.conftest import TEST_ENV, RunningBot
from tests.bot.test_bot_conversation import eventually
from tests.bot.test_bot_delivery import delivered, order_painting, results
from tests.fake_telegram import FakeTelegram
from tests.worker import sleepy_painter

UPLOADS = ("sendPhoto", "editMessageMedia")
TEXT_EDITS = ("editMessageCaption", "editMessageText")


async def test_at_most_one_preview_upload_per_scale_with_text_edits_between(
    bot: RunningBot, telegram: FakeTelegram, user_id: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Step reports every 0.2 s (not 1 s) so that each 1 s scale has several text-only updates to show.
    monkeypatch.setattr(worker_module, "PROGRESS_INTERVAL", 0.2)
    job = await order_painting(bot, telegram, user_id)
    common = CommonConfig.from_env({"DATA_DIR": str(tmp_path), **TEST_ENV})
    config = EngineConfig(common=common, device="cpu", lease_seconds=30, poll_seconds=0.05, worker_id="w")
    painter = sleepy_painter.Painter(device="cpu", steps=20, delay=0.1)  # 2 scales of 1 s each
    final = await Worker(config, bot.store, painter).run_once()
    assert final.id == job.id and final.status is JobStatus.DONE
    await eventually(lambda: delivered(bot.store, job.id))

    status = [
        call
        for call in telegram.calls(chat_id=user_id)
        if call.method in UPLOADS + TEXT_EDITS and call not in results(telegram, user_id)
    ]
    uploads = [index for index, call in enumerate(status) if call.method in UPLOADS]
    assert 1 <= len(uploads) <= sleepy_painter.SCALES, [call.method for call in status]
    assert all(status[index].files for index in uploads), "each upload carries the preview picture"
    # Text-only edits keep the progress honest between (and after) the previews.
    text_edits = [index for index, call in enumerate(status) if call.method in TEXT_EDITS]
    assert any(index > uploads[0] for index in text_edits), [call.method for call in status]
    assert len(results(telegram, user_id)) == 1
