"""Turn a user's photo or image document into a stored, validated picture — or a clear refusal.

Everything that can be refused without downloading (animations, videos, stickers, PDFs, files over
Telegram's 20 MB bot download limit) is refused from the update alone.
"""

from __future__ import annotations

import asyncio

from telegram import Message
from telegram.error import BadRequest
from telegram.ext import ContextTypes, filters

from bot import texts
from drawme.backend import JobBackend
from drawme.imaging import AnimatedImage, ImageError, NotAnImage, load_image
from drawme.models import StoredImage

MAX_DOWNLOAD_BYTES = texts.MAX_DOWNLOAD_MB * 1024 * 1024

# Everything that looks like a picture to the user; the ones we cannot paint get a specific answer.
PICTURES = (
    filters.PHOTO
    | filters.Document.ALL
    | filters.ANIMATION
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.Sticker.ALL
)


class FileTooBig(ImageError):
    def __init__(self, size: int) -> None:
        super().__init__(texts.TOO_BIG.format(mb=size / 1024 / 1024))


class StickerRefused(ImageError):
    user_message = texts.STICKER


def _file_to_download(message: Message) -> tuple[str, int | None]:
    """(file_id, declared size) of the picture in `message`; raises ImageError when it can't be one."""
    if message.animation or message.video or message.video_note:
        raise AnimatedImage()
    if message.sticker:
        raise StickerRefused()
    if message.photo:
        largest = message.photo[-1]
        return largest.file_id, largest.file_size
    document = message.document
    if document is None:
        raise NotAnImage()
    mime = (document.mime_type or "").lower()
    if mime.startswith(("video/", "audio/")):
        raise AnimatedImage() if mime.startswith("video/") else NotAnImage()
    if mime and not mime.startswith("image/") and mime != "application/octet-stream":
        raise NotAnImage()  # a PDF, a text file...: no need to download it to know
    return document.file_id, document.file_size


async def receive_picture(
    context: ContextTypes.DEFAULT_TYPE, message: Message, backend: JobBackend
) -> StoredImage:
    """Download, validate and store the picture in `message`. Raises ImageError with a user_message."""
    file_id, size = _file_to_download(message)
    if size is not None and size > MAX_DOWNLOAD_BYTES:
        raise FileTooBig(size)  # Telegram refuses bots such downloads; don't even ask
    try:
        telegram_file = await context.bot.get_file(file_id)
    except BadRequest as error:
        if "too big" in error.message.lower():
            raise FileTooBig(size or MAX_DOWNLOAD_BYTES + 1) from None
        raise
    data = bytes(await telegram_file.download_as_bytearray())
    # Decoding a large photo takes a moment of CPU: keep the event loop free for other users.
    image = await asyncio.to_thread(load_image, data)
    return await backend.store_image(message.from_user.id, data, image.width, image.height)
