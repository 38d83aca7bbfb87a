"""Inline keyboards and their callback data.

Callback data is short ASCII (Telegram allows 64 bytes) and carries everything a tap needs, e.g.
`p:starry_night:42` (preset for content image 42) or `r:more:123:7` (more style, from job 123 of user
7), so a button still works after a bot restart: no conversation state is needed to act on it. Labels
are in the user's language (`Words`); the data never is.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, SwitchInlineQueryChosenChat

from bot import texts
from bot.i18n import Words, languages
from drawme.config import Sizes
from drawme.models import Job, StyleRef
from drawme.presets import PRESETS

# Callback prefixes; the handlers register one CallbackQueryHandler per pattern.
PRESET = "p"  # p:<preset_id>:<content_image_id, 0 = no photo yet>
RESULT = "r"  # r:<action>:<job_id>:<owner user id>
WEIGHT = "w"  # w:<style|content|tv>:<up|down>  or  w:reset
SIZE = "s"  # s:<small|medium|large>
FORGET = "f"  # f:<yes|no>  or  f:ask (ask first)
EXPORT = "e"  # e:me: a zip of the user's data
MIX = "x"  # x:<preset_id>:<job_id>:<owner user id>: mix that job's painting with a preset
BRUSH = "brush"  # w:brush:<up|down>: the brush size in /weights, beside the weights
CANCEL = "c"  # c:<job_id>:<owner user id>: cancel that job only
LANGUAGE = "l"  # l:<language code>  or  l:app (follow the Telegram app's language)
LANGUAGE_APP = "app"

# faces: repaint with face protection flipped; mix: pick a style to mix in; mixa/mixb: shift a two-style
# mix toward its first or second style; bigger/finer: one brush size up or down (BRUSH_SCALES).
RESULT_ACTIONS = (
    "more", "less", "colors", "another", "full", "faces", "mix", "mixa", "mixb", "bigger", "finer"
)
WEIGHT_NAMES = tuple(texts.WEIGHT_NAMES)  # style, content, tv


def pattern(prefix: str) -> str:
    """The CallbackQueryHandler pattern matching one prefix."""
    return rf"^{prefix}:"


def fields(data: str) -> tuple[str, str, str]:
    """The fields after the prefix of `x:<first>:<second>[:<owner>]`; missing ones are "" (forged
    data, or a button made before the owner was part of it)."""
    _, first, second, owner, *_ = [*data.split(":"), "", "", ""]
    return first, second, owner


def _preset(w: Words, preset_id: str, callback_data: str) -> InlineKeyboardButton:
    """A button labelled with one of PRESETS."""
    label = texts.preset_label(w, preset_id)
    assert label is not None, preset_id
    return InlineKeyboardButton(label, callback_data=callback_data)


def presets(w: Words, content_image_id: int | None) -> InlineKeyboardMarkup:
    """The preset paintings, two per row; tapping one paints `content_image_id` in that style."""
    buttons = [
        _preset(w, preset_id, f"{PRESET}:{preset_id}:{content_image_id or 0}") for preset_id in PRESETS
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def result(w: Words, job: Job, *, share: bool) -> InlineKeyboardMarkup:
    """The buttons under a finished painting; most queue a new job from the same inputs. They carry
    the owner's id, so a tap by anyone else is answered before the store is asked. `share`: the
    Share button too (only when inline mode is on, or Telegram would list nothing)."""

    def button(label: str, action: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(label, callback_data=f"{RESULT}:{action}:{job.id}:{job.user_id}")

    colours = texts.KEEP_COLOURS_ON if job.params.preserve_colors else texts.KEEP_COLOURS
    faces = texts.PAINT_FACE_OVER if job.params.protect_faces else texts.PROTECT_FACE
    rows = [
        [button(w(texts.MORE_STYLE), "more"), button(w(texts.LESS_STYLE), "less")],
        [button(w(texts.BIGGER_STROKES), "bigger"), button(w(texts.FINER_STROKES), "finer")],
        [button(w(colours), "colors"), button(w(faces), "faces")],
        [button(w(texts.ANOTHER_STYLE), "another"), button(w(texts.MIX_STYLE), "mix")],
    ]
    if len(job.params.mix) == 1:  # a two-style mix: shift the blend either way
        first = texts.style_label(w, StyleRef(preset=job.style_preset, image_id=job.style_image_id))
        second = texts.style_label(w, job.params.mix[0])
        rows.append(
            [
                button(w(texts.MORE_FIRST, style=first), "mixa"),
                button(w(texts.MORE_SECOND, style=second), "mixb"),
            ]
        )
    full = button(w(texts.FULL_RESOLUTION), "full")
    rows.append([full, share_button(w)] if share else [full])
    return InlineKeyboardMarkup(rows)


def cancel(w: Words, job: Job) -> InlineKeyboardMarkup:
    """✖ Cancel under a job's status message: that job only (/cancel stops them all)."""
    data = f"{CANCEL}:{job.id}:{job.user_id}"
    return InlineKeyboardMarkup([[InlineKeyboardButton(w(texts.CANCEL_BUTTON), callback_data=data)]])


def share_button(w: Words) -> InlineKeyboardButton:
    """Share: Telegram lets the user pick a chat, then lists their paintings there (inline mode)."""
    anywhere = SwitchInlineQueryChosenChat(
        query="", allow_user_chats=True, allow_group_chats=True, allow_channel_chats=True
    )
    return InlineKeyboardButton(w(texts.SHARE), switch_inline_query_chosen_chat=anywhere)


def mix_presets(w: Words, job: Job) -> InlineKeyboardMarkup:
    """The preset paintings to mix into `job`'s painting, two per row."""
    buttons = [_preset(w, preset_id, f"{MIX}:{preset_id}:{job.id}:{job.user_id}") for preset_id in PRESETS]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def weights(w: Words) -> InlineKeyboardMarkup:
    """± for each weight and the brush, then Reset."""
    rows = [
        [
            InlineKeyboardButton(w(texts.WEIGHT_DOWN, name=w(label)), callback_data=f"{WEIGHT}:{name}:down"),
            InlineKeyboardButton(w(texts.WEIGHT_UP, name=w(label)), callback_data=f"{WEIGHT}:{name}:up"),
        ]
        for name, label in [*texts.WEIGHT_NAMES.items(), (BRUSH, texts.BRUSH_NAME)]
    ]
    rows.append([InlineKeyboardButton(w(texts.WEIGHTS_RESET), callback_data=f"{WEIGHT}:reset")])
    return InlineKeyboardMarkup(rows)


def sizes(w: Words, available: Sizes, current: str) -> InlineKeyboardMarkup:
    """small / medium / large with their pixel sizes; the current one ticked."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    ("✅ " if name == current else "")
                    + w(texts.SIZE_BUTTON, name=texts.size_name(w, name), px=px),
                    callback_data=f"{SIZE}:{name}",
                )
                for name, px in available.as_dict().items()
            ]
        ]
    )


def language_choices(w: Words, chosen: str | None) -> InlineKeyboardMarkup:
    """Each language in its own name, then "my Telegram app's"; the user's choice ticked."""

    def ticked(label: str, choice: str | None) -> str:
        return f"✅ {label}" if choice == chosen else label

    row = [
        InlineKeyboardButton(ticked(texts.language_name(code), code), callback_data=f"{LANGUAGE}:{code}")
        for code in languages()
    ]
    app_label = ticked(w(texts.LANGUAGE_APP), None)
    app = InlineKeyboardButton(app_label, callback_data=f"{LANGUAGE}:{LANGUAGE_APP}")
    return InlineKeyboardMarkup([row, [app]])


def privacy(w: Words) -> InlineKeyboardMarkup:
    """Under /privacy: get a copy of it all, or delete it all (asked first)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(w(texts.EXPORT_BUTTON), callback_data=f"{EXPORT}:me"),
                InlineKeyboardButton(w(texts.FORGET_BUTTON), callback_data=f"{FORGET}:ask"),
            ]
        ]
    )


def forget(w: Words) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(w(texts.FORGET_YES), callback_data=f"{FORGET}:yes"),
                InlineKeyboardButton(w(texts.FORGET_NO), callback_data=f"{FORGET}:no"),
            ]
        ]
    )
