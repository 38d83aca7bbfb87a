"""Every word the bot says to a user, in one place, so the tone stays consistent and easy to edit.

The English sentences here are the catalogs' message ids (bot/i18n.py): `N_` marks one, `NP_` one with
plural forms, and each is said in the user's language through a `Words` (`words(texts.X, name=…)`).
After changing a sentence, `make catalogs` carries the change into every language's catalog.
"""

from __future__ import annotations

import math

from babel import Locale

from bot.i18n import N_, NP_, Words
from drawme.decoding import MAX_PIXELS, MIN_SIDE, ImageCode, ImageError
from drawme.models import (
    BRUSH_SCALES,
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
    UserSettings,
)
from drawme.presets import PRESETS

START = N_(
    "Hi {name}! 👋 I paint your photos in the style of famous paintings.\n\n"
    "1. Send me a photo (a selfie works great).\n"
    "2. Pick a painting from the buttons — or send any picture to use as the style.\n"
    "3. Wait a little while I paint. ☕\n\n"
    "Example: send a selfie, tap “Starry Night · Van Gogh”, and get yourself swirled in blue and gold.\n"
    "Tip: send the photo and the style together as an album of two.\n\n"
    "/help lists everything I can do."
)

HELP = N_(
    "How it works: send a photo, then pick a style (or send a second picture as the style).\n\n"
    "/styles — the paintings you can choose from\n"
    "/weights — more style, more photo, or smoother strokes\n"
    "/size — small, medium or large paintings\n"
    "/colors — keep your photo's own colours on or off\n"
    "/faces — keep faces recognisable, or paint them like everything else\n"
    "/status — where your paintings are in the queue\n"
    "/cancel — stop your current painting\n"
    "/forget — delete everything I keep about you\n"
    "/privacy — what I keep about you, for how long, and who sees it\n"
    "/export — a zip of your pictures, paintings and settings\n"
    "/language — English or Russian\n\n"
    "Weights from the keyboard: /weights style=2 content=0.5 tv=0 "
    "(each between {low} and {high}; 1 is the default)."
)

# The bot's profile: what a new user reads before pressing Start (at most 512 characters), and the
# line on its profile page and in shared links (at most 120).
DESCRIPTION = N_(
    "I paint your photo in the style of a famous painting 🎨\n\n"
    "Send me a selfie, tap a painting — Van Gogh's Starry Night, Munch's Scream, Hokusai's Great Wave… — "
    "or send any picture as the style, and a little later your painting arrives."
)
SHORT_DESCRIPTION = N_("Your photo, painted in the style of a famous painting. Send a selfie to start 🎨")

# The command menu registered with set_my_commands; /stats is deliberately absent (admins only).
COMMANDS = (
    ("start", N_("How it works")),
    ("styles", N_("Paintings to choose from")),
    ("weights", N_("Blend of style, photo and smoothness")),
    ("size", N_("Painting size")),
    ("colors", N_("Keep my photo's colours on/off")),
    ("faces", N_("Protect faces on/off")),
    ("status", N_("My paintings in progress")),
    ("cancel", N_("Stop my painting")),
    ("forget", N_("Delete everything about me")),
    ("privacy", N_("What you keep about me")),
    ("export", N_("A copy of my data")),
    ("language", N_("English or Russian")),
    ("help", N_("All commands")),
)

GOT_PHOTO = N_("Got your photo ✅ Now pick a style:")
GOT_PHOTO_WHILE_BUSY = N_(
    "Got your photo ✅ This starts a new request — your painting in progress carries on.\nNow pick a style:"
)
SEND_STYLE_HINT = N_("…or send me any picture to use as the style.")
PICK_ANOTHER = N_("Pick another painting — or send me any picture to use as the style:")
PICK_STYLE_FIRST_PHOTO = N_("Great choice: {title}. 🎨 Now send me your photo.")
UNKNOWN_TEXT = N_("Send me a photo to get started 📷 (or /help to see what I can do).")
UNKNOWN_TEXT_WAITING = N_("Your photo is waiting for its style: tap a painting, or send me any picture. 🎨")
UNKNOWN_TEXT_BUSY = N_(
    "I'm on your painting — it arrives here when it's done (/status shows where it is). "
    "Meanwhile you can send another photo. 📷"
)
UNKNOWN_TEXT_AFTER = N_(
    "Your last painting was in the style of {style}. Tap a button to change it — "
    "or send me a new photo to start another. 📷"
)
UNKNOWN_COMMAND = N_("I don't know that command. /help lists what I can do.")
EDITED = N_("I work with new messages, so I didn't see that edit. Please send it again as a new message. ✏️")
ERROR = N_("Sorry, something went wrong on my side. 😕 Please try again in a moment.")
# The job store is away for a moment (a database restart): said once per chat per outage; the
# message is handled as soon as the store is back.
BUSY = N_("I'm busy for a moment — I'll answer as soon as I can. ⏳")
EXPIRED = N_("I no longer have that picture — please send it again. 📷")
NOT_YOURS = N_("That button belongs to someone else's painting.")
STALE_BUTTON = N_("That button has expired.")

TOO_BIG = N_(
    "That file is {mb:.0f} MB, and I can only take files up to {limit} MB. "
    "Please send a smaller one — sending it as a photo (not a file) works too."
)
STICKER = N_("Stickers can't be painted. Please send a photo. 📷")
NOT_STILL = N_("Animations and videos can't be painted. Please send a still photo.")
NOT_A_FILE_I_READ = N_("That file is not a picture I can read. Please send a JPEG, PNG, WebP or HEIC photo.")
A_LOCATION = N_("Thanks, but I don't need a location 📍 — just send me a photo. 📷")
# The answer to each kind of message that is not a picture; the first kind the message carries wins
# (an animation also carries a document, so it comes first).
NOT_A_PICTURE = {
    "animation": NOT_STILL,
    "video": NOT_STILL,
    "video_note": NOT_STILL,
    "sticker": STICKER,
    "voice": N_("I can't paint a voice message 🎙 — but I'd love a photo. 📷"),
    "audio": N_("I can't paint music 🎵 — send me a photo instead. 📷"),
    "location": A_LOCATION,
    "venue": A_LOCATION,
    "contact": N_("I can't paint a contact card 👤 — send me a photo instead. 📷"),
    "poll": N_("I'll stay out of polls 🗳 — send me a photo to paint. 📷"),
    "dice": N_("Lucky you! 🎲 Now send me a photo to paint. 📷"),
    "document": NOT_A_FILE_I_READ,
}
SLOW_DOWN = N_(
    "Whoa, that's a lot at once! 🐢 I'll work on what I've got so far — "
    "please send the rest one at a time, in a few seconds."
)
NOT_A_PICTURE_OTHER = N_("I can only paint pictures. Send me a photo 📷 (or /help to see what I can do).")
ALBUM_TOO_MANY = NP_(
    "That album has {n} picture, but I need exactly two: your photo first, then the style. "
    "Send an album of two, or the photo and the style one after the other.",
    "That album has {n} pictures, but I need exactly two: your photo first, then the style. "
    "Send an album of two, or the photo and the style one after the other.",
)
ALBUM_PART = {0: N_("Your photo: {reason}"), 1: N_("The style picture: {reason}")}

LIMIT = N_("I can't take that one yet: {message}")
BANNED = N_("Sorry, you can't order paintings here any more.")
DAILY_QUOTA = NP_(
    "You have used all {n} painting of your daily quota. It resets at 00:00 UTC, in {wait}.",
    "You have used all {n} paintings of your daily quota. It resets at 00:00 UTC, in {wait}.",
)
PER_USER = NP_(
    "You already have {n} painting in progress (the limit is {allowed} at a time). "
    "Please wait until one is done.",
    "You already have {n} paintings in progress (the limit is {allowed} at a time). "
    "Please wait until one is done.",
)
PER_USER_NEXT = N_(" Your next one should be ready in {wait}.")
QUEUE_FULL = N_(
    "The painting queue is full right now ({count} waiting, the limit is {allowed}). "
    "Please try again in {wait}."
)
CRASHED = NP_(
    "This painting failed {n} time because the painter stopped unexpectedly. "
    "Please try again, perhaps with a smaller size.",
    "This painting failed {n} times because the painter stopped unexpectedly. "
    "Please try again, perhaps with a smaller size.",
)
FAILURES = {
    FailureCode.PAINT_ERROR: N_(
        "Something went wrong while painting this one. Please try again in a moment."
    ),
    FailureCode.MISSING_INPUT: N_(
        "The picture for this painting is gone (perhaps deleted). Please send it again."
    ),
    FailureCode.UNKNOWN_PRESET: N_("That painting style is no longer available. Please pick another one."),
    FailureCode.OUT_OF_MEMORY: N_(
        "This painting needs more memory than the painter has. Please try a smaller /size."
    ),
    FailureCode.STOPPED: N_("This painting was stopped by the bot's operator. Sorry! Please try again."),
}
NOTES = {
    NoteCode.SIZE_CAPPED: N_("Painted at {size} px, the largest this painter makes."),
    NoteCode.OOM_SHRUNK: N_("Painted at {size} px because the full size ran out of GPU memory."),
}
# SIZE_CAPPED when the brush is bigger than the default: the bigger brush is why (the worker's memory).
CAPPED_BY_BRUSH = N_("Painted at {size} px, the largest this painter makes with brush strokes this big.")
IMAGE_REFUSED = {
    ImageCode.UNREADABLE: N_("That file could not be read as a picture."),
    ImageCode.NOT_AN_IMAGE: NOT_A_FILE_I_READ,
    ImageCode.CORRUPT: N_("That picture looks damaged or cut off. Could you send it again?"),
    ImageCode.TOO_LARGE: N_(
        "That picture has far too many pixels for me to handle. "
        "Please send a smaller one (under {megapixels} megapixels)."
    ),
    ImageCode.TOO_SMALL: N_("That picture is tiny. Please send one at least {side}×{side} pixels."),
    ImageCode.ANIMATED: NOT_STILL,
    ImageCode.FILE_TOO_BIG: N_("That file is too big for me to download. Please send a smaller one."),
}

STYLES_INTRO = N_("These are the paintings I know. Tap one to use it:")
STYLES_INTRO_WITH_PHOTO = N_("Tap a painting to paint your photo in its style:")
# Each preset's title and artist as the user reads them (drawme.presets has the files and ids).
PRESET_NAMES = {
    "starry_night": (N_("Starry Night"), N_("Van Gogh")),
    "the_scream": (N_("The Scream"), N_("Munch")),
    "great_wave": (N_("The Great Wave"), N_("Hokusai")),
    "composition_vii": (N_("Composition VII"), N_("Kandinsky")),
    "shipwreck": (N_("The Shipwreck"), N_("Turner")),
    "udnie": (N_("Udnie"), N_("Picabia")),
}
PRESET_LABEL = N_("{title} · {artist}")
PRESET_CAPTION = N_("{title} · {artist}, {year}")
YOUR_STYLE_PICTURE = N_("your style picture")
YOUR_PICTURE = N_("your picture")

WEIGHTS = N_(
    "Your blend:\n"
    "🎨 Style ×{style:g}\n"
    "🖼 Photo (content) ×{content:g}\n"
    "🧽 Smoothness ×{tv:g}\n\n"
    "More style = bolder brushwork; more photo = a more recognisable you; more smoothness = calmer strokes."
)
WEIGHTS_USAGE = N_(
    "Usage: /weights style=2 content=0.5 tv=0\n"
    "Each value is a number between {low} and {high} (1 is the default). "
    "content_weight, style_weight and tv_weight work too."
)
WEIGHTS_SAVED = N_("Saved ✅ New paintings use this blend.")
WEIGHT_NAMES = {"style": N_("🎨 Style"), "content": N_("🖼 Photo"), "tv": N_("🧽 Smoothness")}
WEIGHT_DOWN = N_("{name} −")
WEIGHT_UP = N_("{name} +")
WEIGHTS_RESET = N_("↩️ Reset")
BRUSH_NAME = N_("🖌 Brush")
WEIGHTS_BRUSH = N_("🖌 Brush ×{scale:g}: bigger = broader strokes, smaller = finer detail.")
WEIGHTS_USAGE_BRUSH = N_("brush=1.4 sets the brush size, from {low} (finest strokes) to {high} (biggest).")

SIZE = N_("How big should your paintings be? (longer side, in pixels)\nNow: {current}.")
SIZE_NOW = N_("{name} ({px} px)")
SIZE_BUTTON = N_("{name} · {px} px")
SIZE_NAMES = {"small": N_("Small"), "medium": N_("Medium"), "large": N_("Large")}
SIZE_GPU_NOTE = N_("A GPU is painting for me today, so larger sizes are available.")
SIZE_SAVED = N_("Size set to {name} ✅")
SIZE_LIMIT_NOTE = N_("The painters here make pictures up to {px} px, so no size is larger than that.")

LANGUAGE = N_("Which language should I speak? Now: {current}.")
LANGUAGE_APP = N_("📱 My Telegram app's")
LANGUAGE_SAVED = N_("Done: I speak {language} with you from now on. ✅")
LANGUAGE_FOLLOWS_APP = N_("Done: I follow your Telegram app's language ({language}). ✅")

COLORS_ON = N_(
    "Keep my colours: on ✅ — paintings keep your photo's own colours and take only the brushwork."
)
COLORS_OFF = N_("Keep my colours: off — paintings take the painting's colours too.")
FACES_ON = N_("Protect faces: on ✅ — faces stay recognisable, with lighter brushwork on them.")
FACES_OFF = N_("Protect faces: off — the brushwork goes over faces like everywhere else.")
PICK_MIX = N_(
    "Pick a painting to mix in, or send me a picture. I'll start half and half; "
    "the buttons under the result shift the mix."
)

# The buttons under a painting.
MORE_STYLE = N_("➕ More style")
LESS_STYLE = N_("➖ Less style")
KEEP_COLOURS = N_("Keep my colours")
KEEP_COLOURS_ON = N_("✅ Keep my colours")
PAINT_FACE_OVER = N_("🙂 Paint my face over")
PROTECT_FACE = N_("🙂 Protect my face")
ANOTHER_STYLE = N_("🎨 Another style")
MIX_STYLE = N_("🧪 Mix with another style")
MORE_FIRST = N_("◀️ More {style}")
MORE_SECOND = N_("More {style} ▶️")
FULL_RESOLUTION = N_("⬇️ Full resolution")
BIGGER_STROKES = N_("🖌 Bigger strokes")
FINER_STROKES = N_("🖌 Finer strokes")
# A tap on Bigger / Finer strokes under a painting whose brush is at that end already (BRUSH_SCALES).
BRUSH_AT_END = {
    "bigger": N_("That painting already has the biggest brush strokes I paint. 🖌 Try “Finer strokes”."),
    "finer": N_("That painting already has the finest brush strokes I paint. 🖌 Try “Bigger strokes”."),
}
FORGET_YES = N_("🗑 Yes, delete everything")
FORGET_NO = N_("Keep")

STATUS_NONE = N_("Nothing in progress. Send me a photo to start one. 📷")
STATUS_HEADER = N_("Your paintings:")
STATUS_LINE = N_("• #{id} {style}\n  {state}")

CANCEL_NONE = N_("There's nothing to cancel.")
CANCEL_DONE = N_("OK, cancelled. ❌")
CANCEL_RUNNING = N_("Stopping your painting… ✋")
CANCEL_BUTTON = N_("✖ Cancel")
STOPPING = N_("✋ Stopping this painting…")
ALREADY_FINISHED = N_("That painting is already finished — nothing to cancel. 🎨")
ALREADY_CANCELLED = N_("That painting is already cancelled.")

FORGET_ASK = N_(
    "This deletes your photos, paintings, settings and history from my server. It can't be undone. Sure?"
)
FORGET_DONE = NP_(
    "Done. Everything about you is deleted ({n} file). 🧹",
    "Done. Everything about you is deleted ({n} files). 🧹",
)
FORGET_KEPT = N_("OK, I kept everything.")
FORGET_BUTTON = N_("🗑 Delete everything")

PRIVACY = N_(
    "🔒 What I keep about you\n"
    "• the photos and style pictures you send me, and the paintings I make from them;\n"
    "• your settings (blend, size, colours, faces, language);\n"
    "• your messages and button taps, for a day, so that nothing is lost if I restart.\n\n"
    "How long: pictures and paintings are deleted {kept} after they are painted; "
    "settings stay until you delete them.\n"
    "Who sees it: only you, and the people who run this bot's server. I share nothing with anyone; "
    "a painting goes to another chat only when you tap Share.\n\n"
    "/export sends you a copy of it all as a zip; /forget deletes it all now."
)
RETENTION_DAYS = NP_("{n} day", "{n} days")
RETENTION_HOURS = NP_("{n} hour", "{n} hours")
EXPORT_BUTTON = N_("📦 Export my data")
EXPORT_CAPTION = NP_(
    "Everything I keep about you: settings and history in user.json, and {n} picture.",
    "Everything I keep about you: settings and history in user.json, and {n} pictures.",
)
EXPORT_TOO_BIG = N_(
    "Your data comes to {mb:.0f} MB, more than Telegram lets me send in one file (50 MB). "
    "The people who run this bot can send it to you another way — or /forget deletes it all."
)

FAILED = N_("Sorry, I couldn't paint that one. 😕 {error}")
CANCELLED = N_("❌ Cancelled.")
FULL_RES_CAPTION = N_("Full resolution PNG")

QUEUED_NEXT = N_("⏳ Queued: you're next, {eta}.")
QUEUED_BEHIND = NP_("⏳ Queued: {n} job ahead of you, {eta}.", "⏳ Queued: {n} jobs ahead of you, {eta}.")
GETTING_READY = N_("🎨 Painting… getting the brushes ready.")
PAINTING = N_("🎨 Painting… {bar} {percent}%")
TIME_LEFT = N_(" · {duration} left")
PASS = N_("Pass {scale} of {scales}")

ABOUT_SECONDS = N_("about {n} s")
ABOUT_MINUTES = N_("about {n} min")
ABOUT_HOURS = N_("about {n} h")
SECONDS = N_("{n} s")
MINUTES = N_("{n} min")
HOURS = N_("{n} h")
A_LITTLE_WHILE = N_("a little while")
NONE = N_("none")

IN_THE_STYLE_OF = N_("🖼 In the style of {style}")
MIX_OF = N_("🖼 Mix: {parts}")
MIX_PART = N_("{percent}% {style}")
# The caption's second line names only what the user changed from the default, in words.
STRONGER_STYLE = N_("stronger style")
LIGHTER_STYLE = N_("lighter style")
CLOSER_TO_PHOTO = N_("closer to your photo")
FREER_FROM_PHOTO = N_("freer from your photo")
SMOOTHER = N_("smoother strokes")
FINER_DETAIL = N_("finer detail")
YOUR_COLOURS = N_("your own colours")
FACES_PAINTED_OVER = N_("faces painted over")
BIGGER_BRUSH = N_("bigger brush strokes")
FINER_BRUSH = N_("finer brush strokes")
SIZE_AND_TIME = N_("{size} px")
SIZE_AND_TOOK = N_("{size} px · {took}")

STATS = N_(
    "📊 Queue: {queued} waiting, {running} painting\n"
    "Oldest waiting: {oldest}\n"
    "Last hour: {done} done, {failed} failed\n"
    "Average painting: {avg}\n"
    "Users today: {users}\n"
    "Workers: {workers}"
)
STALE_WORKERS = N_("⚠️ Stale workers (no heartbeat): {workers}")
WORKER_SILENT = N_("{worker} ({ago})")


def duration(w: Words, seconds: float | None, *, about: bool = True) -> str:
    """A rough human duration: "about 20 s", "about 3 min" (`about=False`: "20 s", "3 min")."""
    if seconds is None or not math.isfinite(seconds):
        return w(A_LITTLE_WHILE)
    seconds = max(0.0, seconds)
    if seconds < 60:
        text, n = (ABOUT_SECONDS, SECONDS), str(max(5, round(seconds / 5) * 5))
    elif seconds < 3600:
        text, n = (ABOUT_MINUTES, MINUTES), str(round(seconds / 60))
    else:
        text, n = (ABOUT_HOURS, HOURS), f"{seconds / 3600:.1f}"
    return w(text[0] if about else text[1], n=n)


def progress_bar(fraction: float, width: int = 8) -> str:
    """▓▓▓▓░░░░ for 0.5."""
    filled = min(width, max(0, int(fraction * width)))
    return "▓" * filled + "░" * (width - filled)


def queued(w: Words, info: QueueInfo) -> str:
    eta = duration(w, info.eta_seconds)
    if info.ahead == 0:
        return w(QUEUED_NEXT, eta=eta)
    return w.plural(QUEUED_BEHIND, info.ahead, eta=eta)


def painting(w: Words, progress: JobProgress) -> str:
    """The status line while painting: "🎨 Painting… ▓▓▓▓░░░░ 45% · about 20 s left"."""
    if not progress.total:
        return w(GETTING_READY)
    line = w(PAINTING, bar=progress_bar(progress.fraction), percent=int(progress.fraction * 100))
    if progress.eta_seconds is not None:
        line += w(TIME_LEFT, duration=duration(w, progress.eta_seconds))
    if progress.scales > 1:
        line += "\n" + w(PASS, scale=progress.scale, scales=progress.scales)
    return line


def preset_title(w: Words, preset_id: str) -> str:
    """ "Starry Night", in the user's language."""
    return w(PRESET_NAMES[preset_id][0])


def preset_label(w: Words, preset_id: str | None) -> str | None:
    """ "Starry Night · Van Gogh" for a preset id; None for an unknown one."""
    if preset_id not in PRESETS:
        return None
    title, artist = PRESET_NAMES[preset_id]
    return w(PRESET_LABEL, title=w(title), artist=w(artist))


def preset_caption(w: Words, preset_id: str) -> str:
    """ "Starry Night · Van Gogh, 1889": a thumbnail's caption in /styles."""
    title, artist = PRESET_NAMES[preset_id]
    return w(PRESET_CAPTION, title=w(title), artist=w(artist), year=PRESETS[preset_id].year)


def style_name(w: Words, job: Job) -> str:
    """The style of a job: the preset's label, or "your style picture"."""
    return preset_label(w, job.style_preset) or w(YOUR_STYLE_PICTURE)


# Each weight's words when the user raised it above the default (1) or lowered it below.
BLEND_WORDS = {
    "style": (STRONGER_STYLE, LIGHTER_STYLE),
    "content": (CLOSER_TO_PHOTO, FREER_FROM_PHOTO),
    "tv": (SMOOTHER, FINER_DETAIL),
}


def blend_line(w: Words, params: PaintParams) -> str | None:
    """What this painting does differently from the defaults, in words ("stronger style · your own
    colours"); None when it is painted just as it comes."""
    default = Blend()
    changes = [
        w(more if getattr(params.blend, name) > getattr(default, name) else less)
        for name, (more, less) in BLEND_WORDS.items()
        if getattr(params.blend, name) != getattr(default, name)
    ]
    if params.preserve_colors:
        changes.append(w(YOUR_COLOURS))
    if not params.protect_faces:
        changes.append(w(FACES_PAINTED_OVER))
    if params.style_scale != PaintParams.style_scale:
        changes.append(w(BIGGER_BRUSH if params.style_scale > PaintParams.style_scale else FINER_BRUSH))
    return " · ".join(changes) or None


def style_label(w: Words, style: StyleRef) -> str:
    """A mixed style's short name: the preset's title, or "your picture"."""
    return preset_title(w, style.preset) if style.preset in PRESETS else w(YOUR_PICTURE)


def mix_line(w: Words, job: Job) -> str:
    """ "🖼 Mix: 70% Starry Night + 30% The Scream" for a mixed job."""
    styles = [StyleRef(preset=job.style_preset, image_id=job.style_image_id), *job.params.mix]
    weights = job.params.mix_blend or (1.0,) * len(styles)
    total = sum(weights)
    parts = [
        w(MIX_PART, percent=round(100 * weight / total), style=style_label(w, style))
        for weight, style in zip(weights, styles, strict=True)
    ]
    return w(MIX_OF, parts=" + ".join(parts))


def result_caption(w: Words, job: Job) -> str:
    """The painting's caption: style (or the mix), weights, size and time taken."""
    style = mix_line(w, job) if job.params.mix else w(IN_THE_STYLE_OF, style=style_name(w, job))
    if job.started_at is not None and job.finished_at is not None:
        took = duration(w, job.finished_at - job.started_at, about=False)
        size = w(SIZE_AND_TOOK, size=job.params.size, took=took)
    else:
        size = w(SIZE_AND_TIME, size=job.params.size)
    changes = blend_line(w, job.params)
    caption = "\n".join(line for line in (style, changes, size) if line)
    if said := note(w, job.note, job.params):
        caption += f"\n{said}"
    return caption


def note(w: Words, stored: str | None, params: PaintParams | None = None) -> str:
    """A painting's note in words ("" for none; `params`: the job's, to say when its bigger brush capped
    the size)."""
    parsed = PaintNote.parse(stored)
    if parsed is None:
        return ""
    bigger_brush = params is not None and params.style_scale > PaintParams.style_scale
    if parsed.code is NoteCode.SIZE_CAPPED and bigger_brush:
        return w(CAPPED_BY_BRUSH, size=parsed.size)
    return w(NOTES[parsed.code], size=parsed.size)


def image_refused(w: Words, error: ImageError) -> str:
    """Why a picture was refused, in words."""
    if error.code is ImageCode.FILE_TOO_BIG:
        return w(TOO_BIG, mb=getattr(error, "size_mb", 0.0), limit=getattr(error, "limit_mb", 0))
    return image_code(w, error.code)


def image_code(w: Words, code: ImageCode) -> str:
    return w(IMAGE_REFUSED[code], megapixels=MAX_PIXELS // 1_000_000, side=MIN_SIDE)


def help_text(w: Words) -> str:
    return w(HELP, low=f"{WEIGHT_MIN:g}", high=f"{WEIGHT_MAX:g}")


def weights_usage(w: Words) -> str:
    brush = w(WEIGHTS_USAGE_BRUSH, low=f"{BRUSH_SCALES[0]:g}", high=f"{BRUSH_SCALES[-1]:g}")
    return f"{w(WEIGHTS_USAGE, low=f'{WEIGHT_MIN:g}', high=f'{WEIGHT_MAX:g}')}\n{brush}"


def weights(w: Words, settings: UserSettings) -> str:
    blend = settings.blend
    text = w(WEIGHTS, style=blend.style, content=blend.content, tv=blend.tv)
    return f"{text}\n{w(WEIGHTS_BRUSH, scale=settings.style_scale)}"


def language_name(language: str) -> str:
    """A language's name in that language itself ("English", "Русский"), as language menus show it."""
    name = Locale.parse(language).get_display_name(language) or language
    return name[:1].upper() + name[1:]


def retention(w: Words, days: float) -> str:
    """How long pictures are kept (RETENTION_DAYS): "7 days", or "12 hours" under a day."""
    if days >= 1:
        return w.plural(RETENTION_DAYS, round(days))
    return w.plural(RETENTION_HOURS, max(1, round(days * 24)))


def size_name(w: Words, name: str) -> str:
    """ "Medium" for "medium", in the user's language."""
    return w(SIZE_NAMES[name])


def age(w: Words, seconds: float | None) -> str:
    return w(NONE) if seconds is None else duration(w, seconds, about=False)


def refusal(w: Words, refused: Refusal) -> str:
    """Why a submit was refused, in words (the store says it as a `Refusal`)."""
    wait = duration(w, refused.wait_seconds)
    if refused.limit is Limit.BANNED:
        return w(BANNED)
    if refused.limit is Limit.DAILY_QUOTA:
        return w.plural(DAILY_QUOTA, refused.allowed, wait=wait)
    if refused.limit is Limit.QUEUE_FULL:
        return w(QUEUE_FULL, count=refused.count, allowed=refused.allowed, wait=wait)
    text = w.plural(PER_USER, refused.count, allowed=refused.allowed)
    return text + w(PER_USER_NEXT, wait=wait) if refused.wait_seconds is not None else text


def failure(w: Words, job: Job) -> str:
    """What went wrong with a failed job: the store's and the worker's codes in words (a code this
    version does not know, or none, as an unexpected error)."""
    error = job.error or ""
    if error == FailureCode.CRASHED:
        return w.plural(CRASHED, job.attempts)
    if error in {code.value for code in ImageCode}:
        return image_code(w, ImageCode(error))
    return w(FAILURES[FailureCode(error) if error in FAILURES else FailureCode.PAINT_ERROR])


# --- sharing: the Share button and inline mode (bot/sharing.py) ----------------------------------------
SHARE = N_("📤 Share")
SHARE_NONE = N_("No paintings yet: make one 🎨")  # the button over an empty inline list; opens the bot
SHARE_CAPTION = N_("🖼 {style}")  # a shared painting's caption; a mix or a picture's style goes without


def share_caption(w: Words, preset_id: str | None) -> str | None:
    """The caption of a painting sent from inline mode: its preset's name, or none at all."""
    label = preset_label(w, preset_id)
    return w(SHARE_CAPTION, style=label) if label else None
