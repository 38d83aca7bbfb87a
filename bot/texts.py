"""Every word the bot says to a user, in one place, so the tone stays consistent and easy to edit."""

from __future__ import annotations

import math

from drawme.imaging import MAX_PIXELS, MIN_SIDE, ImageCode, ImageError
from drawme.models import (
    WEIGHT_MAX,
    WEIGHT_MIN,
    Blend,
    FailureCode,
    Job,
    JobProgress,
    Limit,
    NoteCode,
    PaintNote,
    PaintParams,
    QueueInfo,
    Refusal,
    StyleRef,
)
from drawme.presets import PRESETS

START = (
    "Hi {name}! 👋 I paint your photos in the style of famous paintings.\n\n"
    "1. Send me a photo (a selfie works great).\n"
    "2. Pick a painting from the buttons — or send any picture to use as the style.\n"
    "3. Wait a little while I paint. ☕\n\n"
    "Example: send a selfie, tap “Starry Night · Van Gogh”, and get yourself swirled in blue and gold.\n"
    "Tip: send the photo and the style together as an album of two.\n\n"
    "/help lists everything I can do."
)

HELP = (
    "How it works: send a photo, then pick a style (or send a second picture as the style).\n\n"
    "/styles — the paintings you can choose from\n"
    "/weights — more style, more photo, or smoother strokes\n"
    "/size — small, medium or large paintings\n"
    "/colors — keep your photo's own colours on or off\n"
    "/faces — protect faces (keep them like the photo) or paint them over\n"
    "/status — where your paintings are in the queue\n"
    "/cancel — stop your current painting\n"
    "/forget — delete everything I keep about you\n\n"
    "Weights from the keyboard: /weights style=2 content=0.5 tv=0 "
    f"(each between {WEIGHT_MIN:g} and {WEIGHT_MAX:g}; 1 is the default)."
)

# The command menu registered with set_my_commands; /stats is deliberately absent (admins only).
COMMANDS = (
    ("start", "How it works"),
    ("styles", "Paintings to choose from"),
    ("weights", "Blend of style, photo and smoothness"),
    ("size", "Painting size"),
    ("colors", "Keep my photo's colours on/off"),
    ("faces", "Protect faces on/off"),
    ("status", "My paintings in progress"),
    ("cancel", "Stop my painting"),
    ("forget", "Delete everything about me"),
    ("help", "All commands"),
)

GOT_PHOTO = "Got your photo ✅ Now pick a style:"
GOT_PHOTO_WHILE_BUSY = (
    "Got your photo ✅ This starts a new request — your painting in progress carries on.\nNow pick a style:"
)
SEND_STYLE_HINT = "…or send me any picture to use as the style."
PICK_ANOTHER = "Pick another painting — or send me any picture to use as the style:"
PICK_STYLE_FIRST_PHOTO = "Great choice: {title}. 🎨 Now send me your photo."
UNKNOWN_TEXT = "Send me a photo to get started 📷 (or /help to see what I can do)."
UNKNOWN_TEXT_WAITING = "Now send me a style picture, or tap one of the paintings above. 🎨"
UNKNOWN_COMMAND = "I don't know that command. /help lists what I can do."
ERROR = "Sorry, something went wrong on my side. 😕 Please try again in a moment."
EXPIRED = "I no longer have that picture — please send it again. 📷"
NOT_YOURS = "That button belongs to someone else's painting."
STALE_BUTTON = "That button has expired."

TOO_BIG = (
    "That file is {mb:.0f} MB, and I can only take files up to {limit} MB. "
    "Please send a smaller one — sending it as a photo (not a file) works too."
)
STICKER = "Stickers can't be painted. Please send a photo. 📷"
NOT_STILL = "Animations and videos can't be painted. Please send a still photo."
NOT_A_FILE_I_READ = "That file is not a picture I can read. Please send a JPEG, PNG or WebP photo."
# The answer to each kind of message that is not a picture; the first kind the message carries wins
# (an animation also carries a document, so it comes first).
NOT_A_PICTURE = {
    "animation": NOT_STILL,
    "video": NOT_STILL,
    "video_note": NOT_STILL,
    "sticker": STICKER,
    "voice": "I can't paint a voice message 🎙 — but I'd love a photo. 📷",
    "audio": "I can't paint music 🎵 — send me a photo instead. 📷",
    "location": "Thanks, but I don't need a location 📍 — just send me a photo. 📷",
    "venue": "Thanks, but I don't need a location 📍 — just send me a photo. 📷",
    "contact": "I can't paint a contact card 👤 — send me a photo instead. 📷",
    "poll": "I'll stay out of polls 🗳 — send me a photo to paint. 📷",
    "dice": "Lucky you! 🎲 Now send me a photo to paint. 📷",
    "document": NOT_A_FILE_I_READ,
}
SLOW_DOWN = (
    "Whoa, that's a lot at once! 🐢 I'll work on what I've got so far — "
    "please send the rest one at a time, in a few seconds."
)
NOT_A_PICTURE_OTHER = "I can only paint pictures. Send me a photo 📷 (or /help to see what I can do)."
ALBUM_TOO_MANY = (
    "That album has {count} pictures, but I need exactly two: your photo first, then the style. "
    "Send an album of two, or the photo and the style one after the other."
)
ALBUM_PART = {0: "Your photo", 1: "The style picture"}

LIMIT = "I can't take that one yet: {message}"
BANNED = "Sorry, you can't order paintings here any more."
DAILY_QUOTA = "You have used all {allowed} paintings of your daily quota. It resets at 00:00 UTC, in {wait}."
PER_USER = (
    "You already have {count} paintings in progress (the limit is {allowed} at a time). "
    "Please wait until one is done."
)
PER_USER_NEXT = " Your next one should be ready in {wait}."
QUEUE_FULL = (
    "The painting queue is full right now ({count} waiting, the limit is {allowed}). "
    "Please try again in {wait}."
)
CRASHED = (
    "This painting failed {attempts} times because the painter stopped unexpectedly. "
    "Please try again, perhaps with a smaller size."
)
FAILURES = {
    FailureCode.PAINT_ERROR: "Something went wrong while painting this one. Please try again in a moment.",
    FailureCode.MISSING_INPUT: (
        "The picture for this painting is gone (perhaps deleted). Please send it again."
    ),
    FailureCode.UNKNOWN_PRESET: "That painting style is no longer available. Please pick another one.",
    FailureCode.OUT_OF_MEMORY: (
        "This painting needs more memory than the painter has. Please try a smaller /size."
    ),
}
NOTES = {
    NoteCode.SIZE_CAPPED: "Painted at {size} px, the largest this painter makes.",
    NoteCode.OOM_SHRUNK: "Painted at {size} px because the full size ran out of GPU memory.",
}
IMAGE_REFUSED = {
    ImageCode.UNREADABLE: "That file could not be read as a picture.",
    ImageCode.NOT_AN_IMAGE: "That file is not a picture I can read. Please send a JPEG, PNG or WebP photo.",
    ImageCode.CORRUPT: "That picture looks damaged or cut off. Could you send it again?",
    ImageCode.TOO_LARGE: (
        "That picture has far too many pixels for me to handle. "
        f"Please send a smaller one (under {MAX_PIXELS // 1_000_000} megapixels)."
    ),
    ImageCode.TOO_SMALL: f"That picture is tiny. Please send one at least {MIN_SIDE}×{MIN_SIDE} pixels.",
    ImageCode.ANIMATED: "Animations and videos can't be painted. Please send a still photo.",
    ImageCode.FILE_TOO_BIG: "That file is too big for me to download. Please send a smaller one.",
}

STYLES_INTRO = "These are the paintings I know. Tap one to use it:"
STYLES_INTRO_WITH_PHOTO = "Tap a painting to paint your photo in its style:"

WEIGHTS = (
    "Your blend:\n"
    "🎨 Style ×{style:g}\n"
    "🖼 Photo (content) ×{content:g}\n"
    "🧽 Smoothness ×{tv:g}\n\n"
    "More style = bolder brushwork; more photo = a more recognisable you; more smoothness = calmer strokes."
)
WEIGHTS_USAGE = (
    "Usage: /weights style=2 content=0.5 tv=0\n"
    f"Each value is a number between {WEIGHT_MIN:g} and {WEIGHT_MAX:g} (1 is the default). "
    "content_weight, style_weight and tv_weight work too."
)
WEIGHTS_SAVED = "Saved ✅ New paintings use this blend."

SIZE = "How big should your paintings be? (longer side, in pixels)\nNow: {current}."
SIZE_GPU_NOTE = "A GPU is painting for me today, so larger sizes are available."
SIZE_SAVED = "Size set to {name} ✅"

COLORS_ON = "Keep my colours: on ✅ — paintings keep your photo's own colours and take only the brushwork."
COLORS_OFF = "Keep my colours: off — paintings take the painting's colours too."
FACES_ON = "Protect faces: on ✅ — faces stay recognisable, with lighter brushwork on them."
FACES_OFF = "Protect faces: off — the brushwork goes over faces like everywhere else."
PICK_MIX = (
    "Pick a painting to mix in, or send me a picture. I'll start half and half; "
    "the buttons under the result shift the mix."
)

STATUS_NONE = "Nothing in progress. Send me a photo to start one. 📷"
STATUS_HEADER = "Your paintings:"

CANCEL_NONE = "There's nothing to cancel."
CANCEL_DONE = "OK, cancelled. ❌"
CANCEL_RUNNING = "Stopping your painting… ✋"

FORGET_ASK = (
    "This deletes your photos, paintings, settings and history from my server. It can't be undone. Sure?"
)
FORGET_DONE = "Done. Everything about you is deleted ({files} files). 🧹"
FORGET_KEPT = "OK, I kept everything."

FAILED = "Sorry, I couldn't paint that one. 😕 {error}"
CANCELLED = "❌ Cancelled."
FULL_RES_CAPTION = "Full resolution PNG"

STATS = (
    "📊 Queue: {queued} waiting, {running} painting\n"
    "Oldest waiting: {oldest}\n"
    "Last hour: {done} done, {failed} failed\n"
    "Average painting: {avg}\n"
    "Users today: {users}\n"
    "Workers: {workers}"
)


def duration(seconds: float | None) -> str:
    """A rough human duration: "about 20 s", "about 3 min"."""
    if seconds is None or not math.isfinite(seconds):
        return "a little while"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"about {max(5, round(seconds / 5) * 5)} s"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


def progress_bar(fraction: float, width: int = 8) -> str:
    """▓▓▓▓░░░░ for 0.5."""
    filled = min(width, max(0, int(fraction * width)))
    return "▓" * filled + "░" * (width - filled)


def queued(info: QueueInfo) -> str:
    if info.ahead == 0:
        head = "⏳ Queued: you're next"
    elif info.ahead == 1:
        head = "⏳ Queued: 1 job ahead of you"
    else:
        head = f"⏳ Queued: {info.ahead} jobs ahead of you"
    return f"{head}, {duration(info.eta_seconds)}."


def painting(progress: JobProgress) -> str:
    """The status line while painting: "🎨 Painting… ▓▓▓▓░░░░ 45% · about 20 s left"."""
    if not progress.total:
        return "🎨 Painting… getting the brushes ready."
    percent = int(progress.fraction * 100)
    line = f"🎨 Painting… {progress_bar(progress.fraction)} {percent}%"
    if progress.eta_seconds is not None:
        line += f" · {duration(progress.eta_seconds)} left"
    if progress.scales > 1:
        line += f"\nPass {progress.scale} of {progress.scales}"
    return line


def style_name(job: Job, preset_label: str | None) -> str:
    return preset_label if job.style_preset else "your style picture"


def blend_line(params: PaintParams) -> str:
    blend = params.blend
    line = f"style ×{blend.style:g} · photo ×{blend.content:g} · smoothness ×{blend.tv:g}"
    if params.preserve_colors:
        line += " · your colours"
    if not params.faces:
        line += " · faces painted over"
    return line


def style_label(style: StyleRef) -> str:
    """A mixed style's short name: the preset's title, or "your picture"."""
    preset = PRESETS.get(style.preset) if style.preset else None
    return preset.title if preset else "your picture"


def mix_line(job: Job) -> str:
    """ "Mix: 70% Starry Night + 30% The Scream" for a mixed job."""
    styles = [StyleRef(preset=job.style_preset, image_id=job.style_image_id), *job.params.mix]
    weights = job.params.mix_blend or (1.0,) * len(styles)
    total = sum(weights)
    parts = [f"{round(100 * w / total)}% {style_label(s)}" for w, s in zip(weights, styles, strict=True)]
    return "Mix: " + " + ".join(parts)


def result_caption(job: Job, preset_label: str | None) -> str:
    """The painting's caption: style (or the mix), weights, size and time taken."""
    took = ""
    if job.started_at is not None and job.finished_at is not None:
        took = f" · {duration(job.finished_at - job.started_at).removeprefix('about ')}"
    style = f"🖼 In the style of {style_name(job, preset_label)}"
    if job.params.mix:
        style = f"🖼 {mix_line(job)}"
    caption = f"{style}\n{blend_line(job.params)}\n{job.params.size} px{took}"
    if job.note:
        caption += f"\n{note(job.note)}"
    return caption


def note(stored: str) -> str:
    """A painting's note in words; an older database's English sentence as it is."""
    parsed = PaintNote.parse(stored)
    return stored if parsed is None else NOTES[parsed.code].format(size=parsed.size)


def image_refused(error: ImageError) -> str:
    """Why a picture was refused, in words."""
    if error.code is ImageCode.FILE_TOO_BIG:
        return TOO_BIG.format(mb=getattr(error, "size_mb", 0.0), limit=getattr(error, "limit_mb", 0))
    return IMAGE_REFUSED[error.code]


def weights(blend: Blend) -> str:
    return WEIGHTS.format(style=blend.style, content=blend.content, tv=blend.tv)


def age(seconds: float | None) -> str:
    return "none" if seconds is None else duration(seconds).removeprefix("about ")


def refusal(refused: Refusal) -> str:
    """Why a submit was refused, in words (the store says it as a `Refusal`)."""
    wait = duration(refused.wait_seconds)
    if refused.limit is Limit.BANNED:
        return BANNED
    if refused.limit is Limit.DAILY_QUOTA:
        return DAILY_QUOTA.format(allowed=refused.allowed, wait=wait)
    if refused.limit is Limit.QUEUE_FULL:
        return QUEUE_FULL.format(count=refused.count, allowed=refused.allowed, wait=wait)
    text = PER_USER.format(count=refused.count, allowed=refused.allowed)
    return text + PER_USER_NEXT.format(wait=wait) if refused.wait_seconds is not None else text


def failure(job: Job) -> str:
    """What went wrong with a failed job: the store's and the worker's codes in words; an older
    database's English sentence as it is."""
    error = job.error or ""
    if error == FailureCode.CRASHED:
        return CRASHED.format(attempts=job.attempts)
    if error in FAILURES:
        return FAILURES[FailureCode(error)]
    if error in {code.value for code in ImageCode}:
        return IMAGE_REFUSED[ImageCode(error)]
    return error


# --- sharing: the Share button and inline mode (bot/sharing.py) ----------------------------------------
SHARE = "📤 Share"
SHARE_NONE = "No paintings yet: make one 🎨"  # the button over an empty inline list; opens the bot
SHARE_CAPTION = "🖼 {style}"  # a shared painting's caption; a mix or a picture's style goes without


def share_caption(preset_label: str | None) -> str | None:
    """The caption of a painting sent from inline mode: its preset's name, or none at all."""
    return SHARE_CAPTION.format(style=preset_label) if preset_label else None
