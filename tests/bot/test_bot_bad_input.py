"""Every kind of bad upload gets its own answer in words, and nothing is queued or lost."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from bot import texts
from bot.i18n import ENGLISH
from drawme.decoding import ImageCode
from tests.bot.conftest import RunningBot, bot_config, photo_bytes
from tests.fake_telegram import FakeTelegram

ANIMATED = texts.image_code(ENGLISH, ImageCode.ANIMATED)


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height pixels: a decompression bomb without the memory."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 64), color) for color in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    """An upload cut off two thirds of the way through the picture data."""
    data = photo_bytes("chelsea")
    return data[: len(data) * 2 // 3]


def tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "green").save(buffer, format="PNG")
    return buffer.getvalue()


CASES = {
    "pdf document": (
        lambda t, u: t.send_document(
            u, b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\n", "cv.pdf", "application/pdf"
        ),
        texts.image_code(ENGLISH, ImageCode.NOT_AN_IMAGE),
        False,
    ),
    "text document": (
        lambda t, u: t.send_document(u, b"just words", "notes.txt", "text/plain"),
        texts.image_code(ENGLISH, ImageCode.NOT_AN_IMAGE),
        False,
    ),
    "text named .jpg": (
        lambda t, u: t.send_document(u, b"not a jpeg at all", "photo.jpg", "image/jpeg"),
        texts.image_code(ENGLISH, ImageCode.NOT_AN_IMAGE),
        True,
    ),
    "animation": (lambda t, u: t.send_animation(u, animated_gif()), ANIMATED, False),
    "video": (lambda t, u: t.send_video(u, b"\x00\x00\x00\x18ftypmp42"), ANIMATED, False),
    "gif document": (
        lambda t, u: t.send_document(u, animated_gif(), "loop.gif", "image/gif"),
        texts.image_code(ENGLISH, ImageCode.ANIMATED),
        True,
    ),
    "tiny image": (
        lambda t, u: t.send_document(u, tiny_png(), "tiny.png", "image/png"),
        texts.image_code(ENGLISH, ImageCode.TOO_SMALL),
        True,
    ),
    "decompression bomb": (
        lambda t, u: t.send_document(u, png_declaring(50_000, 50_000), "bomb.png", "image/png"),
        texts.image_code(ENGLISH, ImageCode.TOO_LARGE),
        True,
    ),
    "truncated jpeg": (
        lambda t, u: t.send_document(u, truncated_jpeg(), "cut.jpg", "image/jpeg"),
        texts.image_code(ENGLISH, ImageCode.CORRUPT),
        True,
    ),
    "huge file": (
        lambda t, u: t.send_document(u, b"", "huge.png", "image/png", declared_size=25 * 1024 * 1024),
        "I can only take files up to 20 MB",
        False,
    ),
    "huge file of unknown size": (
        lambda t, u: t.send_document(
            u, b"", "huge.png", "image/png", declared_size=25 * 1024 * 1024, size_in_update=False
        ),
        "I can only take files up to 20 MB",
        True,  # only getFile tells: Telegram refuses, and the bot explains the same way
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_upload_is_explained(
    case: str, bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    send, expected, downloads = CASES[case]
    send(telegram, user_id)
    reply = await telegram.wait_for(lambda: telegram.texts(user_id), what=f"an answer to the {case}")
    assert expected in reply[0]
    assert bool(telegram.calls("getFile", ok=None)) == downloads  # refused from the update where possible
    assert await bot.store.jobs_of(user_id, active_only=False) == []
    # Nothing was lost: the conversation carries on with a good photo.
    telegram.send_photo(user_id, photo_bytes())
    await telegram.wait_for(lambda: any("Got your photo" in t for t in telegram.texts(user_id)))


OTHER_MESSAGES = {
    "voice": "voice message",
    "audio": "music",
    "video_note": texts.image_code(ENGLISH, ImageCode.ANIMATED),
    "sticker": "Stickers can't be painted",
    "location": "location",
    "venue": "location",
    "contact": "contact card",
    "poll": "polls",
    "dice": "Lucky you",
}


@pytest.mark.parametrize("kind", list(OTHER_MESSAGES))
async def test_every_other_message_gets_a_reply(
    kind: str, bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    """Nothing a user can send meets silence, and nothing is downloaded to find out."""
    telegram.send_photo(user_id, photo_bytes())
    await telegram.wait_for(lambda: telegram.texts(user_id))
    downloads = len(telegram.calls("getFile", ok=None))
    telegram.send_other(user_id, kind)
    replies = await telegram.wait_for(lambda: telegram.texts(user_id)[1:], what=f"an answer to a {kind}")
    assert OTHER_MESSAGES[kind] in replies[0] and "photo" in replies[0]
    assert len(telegram.calls("getFile", ok=None)) == downloads
    # The photo waiting for its style still waits: a style picture now queues the painting.
    telegram.send_photo(user_id, photo_bytes("coffee"))
    await telegram.wait_for(lambda: any("Queued" in t for t in telegram.texts(user_id)))


async def test_bad_style_keeps_the_waiting_photo(
    bot: RunningBot, telegram: FakeTelegram, user_id: int
) -> None:
    telegram.send_photo(user_id, photo_bytes())
    await telegram.wait_for(lambda: telegram.texts(user_id))
    telegram.send_document(user_id, tiny_png(), "tiny.png", "image/png")
    await telegram.wait_for(lambda: len(telegram.texts(user_id)) == 2)
    telegram.send_photo(user_id, photo_bytes("coffee"))  # the style, for the photo still waiting
    await telegram.wait_for(lambda: any("Queued" in t for t in telegram.texts(user_id)))
    (job,) = await bot.store.jobs_of(user_id, active_only=False)
    assert job.style_image_id is not None


async def test_album_with_a_bad_part_names_it(bot: RunningBot, telegram: FakeTelegram, user_id: int) -> None:
    group = "777"
    telegram.send_photo(user_id, photo_bytes(), media_group_id=group)
    telegram.send_document(user_id, truncated_jpeg(), "cut.jpg", "image/jpeg", media_group_id=group)
    reply = await telegram.wait_for(lambda: telegram.texts(user_id))
    assert (
        reply[0].startswith("The style picture: ")
        and texts.image_code(ENGLISH, ImageCode.CORRUPT) in reply[0]
    )
    assert await bot.store.jobs_of(user_id, active_only=False) == []


async def test_the_download_limit_is_configurable(
    telegram: FakeTelegram, store, tmp_path, user_id: int
) -> None:
    running = await RunningBot(bot_config(telegram, tmp_path, MAX_DOWNLOAD_MB="1"), store).start()
    try:
        telegram.send_document(user_id, b"", "big.png", "image/png", declared_size=3 * 1024 * 1024)
        reply = await telegram.wait_for(lambda: telegram.texts(user_id), what="the size refusal")
        assert "That file is 3 MB, and I can only take files up to 1 MB" in reply[0]
        assert not telegram.calls("getFile", ok=None)
    finally:
        await running.stop()


def test_local_mode_reaches_python_telegram_bot(telegram: FakeTelegram, store, tmp_path) -> None:
    config = bot_config(telegram, tmp_path, TELEGRAM_LOCAL_MODE="1")
    assert RunningBot(config, store).application.bot.local_mode is True
    assert RunningBot(bot_config(telegram, tmp_path), store).application.bot.local_mode is False
