"""Inline keyboards and their callback data.

Callback data is short ASCII (Telegram allows 64 bytes) and carries everything a tap needs, e.g.
`p:starry_night:42` (preset for content image 42) or `r:more:123` (more style, from job 123), so a
button still works after a bot restart: no conversation state is needed to act on it.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, SwitchInlineQueryChosenChat

from bot import texts
from drawme.config import Sizes
from drawme.models import Job, StyleRef
from drawme.presets import PRESETS

# Callback prefixes; the handlers register one CallbackQueryHandler per pattern.
PRESET = "p"  # p:<preset_id>:<content_image_id, 0 = no photo yet>
RESULT = "r"  # r:<action>:<job_id>
WEIGHT = "w"  # w:<style|content|tv>:<up|down>  or  w:reset
SIZE = "s"  # s:<small|medium|large>
FORGET = "f"  # f:<yes|no>
MIX = "x"  # x:<preset_id>:<job_id>: mix that job's painting with a preset

# faces: repaint with face protection flipped; mix: pick a style to mix in; mixa/mixb: shift a two-style
# mix toward its first or second style.
RESULT_ACTIONS = ("more", "less", "colors", "another", "full", "faces", "mix", "mixa", "mixb")
WEIGHT_NAMES = {"style": "🎨 Style", "content": "🖼 Photo", "tv": "🧽 Smoothness"}


def pattern(prefix: str) -> str:
    """The CallbackQueryHandler pattern matching one prefix."""
    return rf"^{prefix}:"


def fields(data: str) -> tuple[str, str]:
    """The two fields after the prefix of `x:<first>:<second>`; missing ones are "" (forged data)."""
    _, first, second, *_ = [*data.split(":"), "", ""]
    return first, second


def preset_label(preset_id: str | None) -> str | None:
    """ "Starry Night · Van Gogh" for a preset id; None for an unknown one."""
    preset = PRESETS.get(preset_id) if preset_id else None
    return f"{preset.title} · {preset.artist}" if preset else None


def presets(content_image_id: int | None) -> InlineKeyboardMarkup:
    """The preset paintings, two per row; tapping one paints `content_image_id` in that style."""
    buttons = [
        InlineKeyboardButton(
            preset_label(preset_id), callback_data=f"{PRESET}:{preset_id}:{content_image_id or 0}"
        )
        for preset_id in PRESETS
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def result(job: Job, *, share: bool) -> InlineKeyboardMarkup:
    """The buttons under a finished painting; most queue a new job from the same inputs. `share`:
    the Share button too (only when inline mode is on, or Telegram would list nothing)."""
    colours = "✅ Keep my colours" if job.params.preserve_colors else "Keep my colours"
    faces = "🙂 Paint my face over" if job.params.faces else "🙂 Protect my face"
    rows = [
        [
            InlineKeyboardButton("➕ More style", callback_data=f"{RESULT}:more:{job.id}"),
            InlineKeyboardButton("➖ Less style", callback_data=f"{RESULT}:less:{job.id}"),
        ],
        [
            InlineKeyboardButton(colours, callback_data=f"{RESULT}:colors:{job.id}"),
            InlineKeyboardButton(faces, callback_data=f"{RESULT}:faces:{job.id}"),
        ],
        [
            InlineKeyboardButton("🎨 Another style", callback_data=f"{RESULT}:another:{job.id}"),
            InlineKeyboardButton("🧪 Mix with another style", callback_data=f"{RESULT}:mix:{job.id}"),
        ],
    ]
    if len(job.params.mix) == 1:  # a two-style mix: shift the blend either way
        first = texts.style_label(StyleRef(preset=job.style_preset, image_id=job.style_image_id))
        rows.append(
            [
                InlineKeyboardButton(f"◀️ More {first}", callback_data=f"{RESULT}:mixa:{job.id}"),
                InlineKeyboardButton(
                    f"More {texts.style_label(job.params.mix[0])} ▶️", callback_data=f"{RESULT}:mixb:{job.id}"
                ),
            ]
        )
    full = InlineKeyboardButton("⬇️ Full resolution", callback_data=f"{RESULT}:full:{job.id}")
    rows.append([full, share_button()] if share else [full])
    return InlineKeyboardMarkup(rows)


def share_button() -> InlineKeyboardButton:
    """Share: Telegram lets the user pick a chat, then lists their paintings there (inline mode)."""
    anywhere = SwitchInlineQueryChosenChat(
        query="", allow_user_chats=True, allow_group_chats=True, allow_channel_chats=True
    )
    return InlineKeyboardButton(texts.SHARE, switch_inline_query_chosen_chat=anywhere)


def mix_presets(job_id: int) -> InlineKeyboardMarkup:
    """The preset paintings to mix into job `job_id`'s painting, two per row."""
    buttons = [
        InlineKeyboardButton(preset_label(preset_id), callback_data=f"{MIX}:{preset_id}:{job_id}")
        for preset_id in PRESETS
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def weights() -> InlineKeyboardMarkup:
    """± for each weight, then Reset."""
    rows = [
        [
            InlineKeyboardButton(f"{label} −", callback_data=f"{WEIGHT}:{name}:down"),
            InlineKeyboardButton(f"{label} +", callback_data=f"{WEIGHT}:{name}:up"),
        ]
        for name, label in WEIGHT_NAMES.items()
    ]
    rows.append([InlineKeyboardButton("↩️ Reset", callback_data=f"{WEIGHT}:reset")])
    return InlineKeyboardMarkup(rows)


def sizes(available: Sizes, current: str) -> InlineKeyboardMarkup:
    """small / medium / large with their pixel sizes; the current one ticked."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    f"{'✅ ' if name == current else ''}{name.capitalize()} · {px} px",
                    callback_data=f"{SIZE}:{name}",
                )
                for name, px in available.as_dict().items()
            ]
        ]
    )


def forget() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("🗑 Yes, delete everything", callback_data=f"{FORGET}:yes"),
                InlineKeyboardButton("Keep", callback_data=f"{FORGET}:no"),
            ]
        ]
    )
