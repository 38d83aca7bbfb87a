"""Per-user settings (/weights, /size, /colors) and the ban flag."""

from __future__ import annotations

import json

from drawme.models import UserSettings
from drawme.store import jobs
from drawme.store.db import Tx


async def get(tx: Tx, user_id: int) -> UserSettings:
    text = await tx.value("SELECT settings FROM users WHERE id = ?", (user_id,))
    return UserSettings.from_json(json.loads(text)) if text else UserSettings()


async def save(tx: Tx, user_id: int, settings: UserSettings, now: float) -> None:
    await jobs.ensure_user(tx, user_id, now)
    await tx.execute("UPDATE users SET settings = ? WHERE id = ?", (json.dumps(settings.to_json()), user_id))


async def set_banned(tx: Tx, user_id: int, banned: bool, now: float) -> None:
    """Ban (or unban) a user: their submits are refused; jobs already queued still run."""
    await jobs.ensure_user(tx, user_id, now)
    await tx.execute("UPDATE users SET banned = ? WHERE id = ?", (int(banned), user_id))
