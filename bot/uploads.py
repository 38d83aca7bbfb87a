"""Turn a user's photo or image document into a stored, validated picture — or a clear refusal.

Only photos and image files reach this module (`PICTURES`); everything else a user can send gets its
answer from the catch-all in bot/commands.py. Files over the download limit (20 MB on the public Bot
API) are refused from the update alone.
"""

from __future__ import annotations

import asyncio

from telegram import Message
from telegram.error import BadRequest
from telegram.ext import filters

from bot.context import BotContext, services
from drawme.decoding import ImageCode, ImageError, NotAnImage, load_image
from drawme.models import Conversation, StoredImage

# What may be a picture: photos and image files (an untyped file may be one too). Animations come
# with a video/mp4 document attached, so they fall to the catch-all with videos and stickers.
PICTURES = (
    filters.PHOTO | filters.Document.IMAGE | filters.Document.MimeType("application/octet-stream")
) & ~filters.ANIMATION


MB = 1024 * 1024


class FileTooBig(ImageError):
    """Over the bot's download limit; texts.image_refused words it with both sizes."""

    code = ImageCode.FILE_TOO_BIG

    def __init__(self, size: int, limit_mb: int) -> None:
        self.english = f"the file has {size / MB:.1f} MB, over the {limit_mb} MB limit"
        super().__init__()
        self.size_mb = size / MB
        self.limit_mb = limit_mb


def _file_to_download(message: Message) -> tuple[str, int | None]:
    """(file_id, declared size) of the picture in `message`; raises ImageError when it can't be one."""
    if message.photo:
        largest = message.photo[-1]
        return largest.file_id, largest.file_size
    document = message.document
    if document is None:
        raise NotAnImage()
    return document.file_id, document.file_size


async def receive_picture(
    context: BotContext, message: Message, conversation: Conversation | None = None
) -> StoredImage:
    """Download, validate and store the picture in `message`. Raises ImageError (see texts.image_refused).
    With `conversation`, the user's conversation is saved in the same transaction as the picture."""
    assert message.from_user is not None
    svc = services(context)
    limit_mb = svc.config.max_download_mb
    file_id, size = _file_to_download(message)
    if size is not None and size > limit_mb * MB:
        raise FileTooBig(size, limit_mb)  # Telegram would refuse the download; don't even ask
    try:
        telegram_file = await context.bot.get_file(file_id)
    except BadRequest as error:
        if "too big" in error.message.lower():
            raise FileTooBig(size or limit_mb * MB + 1, limit_mb) from None
        raise
    data = bytes(await telegram_file.download_as_bytearray())
    # Decoding a large photo takes a moment of CPU: keep the event loop free for other users.
    image = await asyncio.to_thread(load_image, data)
    return await svc.backend.store_image(message.from_user.id, data, image.width, image.height, conversation)
