"""An iPhone's HEIC photo sent as a file is taken like any photo and painted from what it shows."""

from __future__ import annotations

import io

from PIL import Image

from drawme.decoding import load_image
from tests.bot.conftest import RunningBot, photo_bytes
from tests.bot.test_bot_conversation import queued_job
from tests.fake_telegram import FakeTelegram


def iphone_heic() -> bytes:
    with Image.open(io.BytesIO(photo_bytes("chelsea", short_side=96))) as photo:
        buffer = io.BytesIO()
        photo.save(buffer, format="HEIF", quality=90)  # pillow-heif's encoder (drawme.decoding registers it)
    return buffer.getvalue()


async def test_a_heic_file_is_a_photo(bot: RunningBot, telegram: FakeTelegram, user_id: int) -> None:
    data = iphone_heic()
    telegram.send_document(user_id, data, "IMG_4711.HEIC", "image/heic")
    await telegram.wait_for(lambda: any("Got your photo" in t for t in telegram.texts(user_id)), what="ack")
    message_id, _ = telegram.last_message(user_id, "Got your photo")
    telegram.press(user_id, message_id, telegram.buttons(user_id, message_id)[0][1])
    job = await queued_job(bot, user_id)
    stored = await bot.store.get_image(job.content_image_id)
    assert stored is not None and (stored.width, stored.height) == load_image(data).size
