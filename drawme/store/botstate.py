"""The bot's own state in the job store: what each job's status message shows, who delivers it,
the paintings a user can share, the conversation (a photo waiting for its style), and the durable
inbox of Telegram updates.

Portable SQL with `?` placeholders: the same statements serve SQLite and PostgreSQL (the tables are
in schema.py, v5 and later, in both dialects).
"""

from __future__ import annotations

import json
from typing import Any

from drawme.models import Conversation, Display, SharedPainting
from drawme.store import jobs
from drawme.store.db import Tx

INBOX_KEEP_SECONDS = 24 * 3600  # handled updates are remembered this long (Telegram resends for less)


# --- delivery: a lease per job, and what its messages show ----------------------------------------


def _display(row: Any) -> Display:
    return Display(
        status_message_id=row["status_message_id"],
        is_photo=bool(row["is_photo"]),
        text=row["text"],
        preview_key=row["preview_key"],
        result_message_id=row["result_message_id"],
        stale_message_ids=tuple(json.loads(row["stale_message_ids"] or "[]")),
        result_file_id=row["result_file_id"],
        edited_at=row["edited_at"],
        unconfirmed=bool(row["unconfirmed"]),
    )


async def claim_deliveries(
    tx: Tx, owner: str, job_ids: list[int], lease_seconds: float, now: float
) -> dict[int, Display]:
    """Take (or extend) the delivery lease of each job nobody else holds; their displays."""
    for job_id in job_ids:
        await tx.execute(
            "INSERT INTO deliveries (job_id, owner, lease_expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (job_id) DO UPDATE SET owner = excluded.owner,"
            " lease_expires_at = excluded.lease_expires_at"
            " WHERE deliveries.owner IS NULL OR deliveries.owner = excluded.owner"
            " OR deliveries.lease_expires_at < ?",
            (job_id, owner, now + lease_seconds, now),
        )
    if not job_ids:
        return {}
    marks = ", ".join("?" for _ in job_ids)
    rows = await tx.rows(
        f"SELECT * FROM deliveries WHERE owner = ? AND job_id IN ({marks})", (owner, *job_ids)
    )
    return {row["job_id"]: _display(row) for row in rows}


async def release_deliveries(tx: Tx, owner: str) -> None:
    """A bot stopping cleanly hands its jobs to the other instances at once."""
    await tx.execute("UPDATE deliveries SET owner = NULL, lease_expires_at = NULL WHERE owner = ?", (owner,))


async def save_display(tx: Tx, job_id: int, display: Display) -> None:
    await tx.execute(
        "INSERT INTO deliveries (job_id, status_message_id, is_photo, text, preview_key,"
        " result_message_id, stale_message_ids, result_file_id, edited_at, unconfirmed)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (job_id) DO UPDATE SET status_message_id = excluded.status_message_id,"
        " is_photo = excluded.is_photo, text = excluded.text,"
        " preview_key = excluded.preview_key, result_message_id = excluded.result_message_id,"
        " stale_message_ids = excluded.stale_message_ids, result_file_id = excluded.result_file_id,"
        " edited_at = excluded.edited_at, unconfirmed = excluded.unconfirmed",
        (
            job_id,
            display.status_message_id,
            int(display.is_photo),
            display.text,
            display.preview_key,
            display.result_message_id,
            json.dumps(list(display.stale_message_ids)),
            display.result_file_id,
            display.edited_at,
            int(display.unconfirmed),
        ),
    )
    await tx.execute(
        "UPDATE jobs SET status_message_id = ? WHERE id = ?", (display.status_message_id, job_id)
    )


async def mark_unreachable(tx: Tx, chat_id: int, now: float) -> None:
    """The chat blocked the bot or is gone: nothing more is sent to it until it writes again."""
    await tx.execute(
        "INSERT INTO unreachable_chats (chat_id, since) VALUES (?, ?) ON CONFLICT (chat_id) DO NOTHING",
        (chat_id, now),
    )


async def unreachable_among(tx: Tx, chat_ids: list[int]) -> set[int]:
    if not chat_ids:
        return set()
    marks = ", ".join("?" for _ in chat_ids)
    rows = await tx.rows(f"SELECT chat_id FROM unreachable_chats WHERE chat_id IN ({marks})", chat_ids)
    return {row["chat_id"] for row in rows}


async def recent_paintings(tx: Tx, user_id: int, limit: int) -> list[SharedPainting]:
    """The user's paintings that reached them (Telegram gave each a file id), newest first. They go
    with their job: /forget and retention delete the delivery rows by cascade."""
    rows = await tx.rows(
        "SELECT jobs.id, jobs.style_preset, jobs.params, jobs.finished_at, deliveries.result_file_id"
        " FROM jobs JOIN deliveries ON deliveries.job_id = jobs.id"
        " WHERE jobs.user_id = ? AND deliveries.result_file_id IS NOT NULL"
        " ORDER BY jobs.finished_at DESC, jobs.id DESC LIMIT ?",
        (user_id, limit),
    )
    return [
        SharedPainting(
            job_id=row["id"],
            file_id=row["result_file_id"],
            style_preset=None if jobs.parse_params(row["params"]).mix else row["style_preset"],
            finished_at=row["finished_at"],
        )
        for row in rows
    ]


# --- the conversation: what is still being decided ---------------------------------------------------


async def get_conversation(tx: Tx, user_id: int) -> Conversation:
    row = await tx.row("SELECT * FROM conversations WHERE user_id = ?", (user_id,))
    if row is None:
        return Conversation()
    return Conversation(
        pending_photo=row["pending_photo"],
        pending_preset=row["pending_preset"],
        pending_mix=row["pending_mix"],
    )


async def save_conversation(tx: Tx, user_id: int, conversation: Conversation, now: float) -> None:
    if conversation == Conversation():
        await tx.execute("DELETE FROM conversations WHERE user_id = ?", (user_id,))
        return
    await tx.execute(
        "INSERT INTO conversations (user_id, pending_photo, pending_preset, pending_mix, updated_at)"
        " VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET pending_photo = excluded.pending_photo,"
        " pending_preset = excluded.pending_preset, pending_mix = excluded.pending_mix,"
        " updated_at = excluded.updated_at",
        (user_id, conversation.pending_photo, conversation.pending_preset, conversation.pending_mix, now),
    )


async def forget(tx: Tx, user_id: int) -> None:
    """The user's conversation and every update of theirs the inbox still holds (the raw updates)."""
    await tx.execute("DELETE FROM conversations WHERE user_id = ?", (user_id,))
    await tx.execute("DELETE FROM inbox WHERE user_id = ?", (user_id,))
    await tx.execute("DELETE FROM unreachable_chats WHERE chat_id = ?", (user_id,))


# --- submits: idempotent by the update that asked ------------------------------------------------------


async def submitted(
    tx: Tx,
    job_id: int,
    user_id: int,
    chat_id: int,
    origin: int | None,
    conversation: Conversation | None,
    now: float,
) -> None:
    """Inside the submit's transaction: which update made the job, and the conversation after it.
    The chat asked for a painting, so it is reachable again (a user who blocked the bot came back)."""
    await tx.execute("DELETE FROM unreachable_chats WHERE chat_id = ?", (chat_id,))
    if origin is not None:
        await tx.execute("INSERT INTO job_origins (update_id, job_id) VALUES (?, ?)", (origin, job_id))
    if conversation is not None:
        await save_conversation(tx, user_id, conversation, now)


async def job_of_origin(tx: Tx, update_id: int) -> int | None:
    row = await tx.row("SELECT job_id FROM job_origins WHERE update_id = ?", (update_id,))
    return row["job_id"] if row is not None else None


# --- the inbox: no update lost, none handled twice ----------------------------------------------------


async def inbox_add(tx: Tx, update_id: int, body: str, owner: str, user_id: int | None, now: float) -> bool:
    """Record an update (from `user_id`, whose /forget deletes it) before Telegram hears it was
    received. False: already handled (a resend)."""
    await tx.execute(
        "INSERT INTO inbox (update_id, body, owner, user_id, received_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (update_id) DO NOTHING",
        (update_id, body, owner, user_id, now),
    )
    row = await tx.one("SELECT done_at FROM inbox WHERE update_id = ?", (update_id,))
    return row["done_at"] is None


async def inbox_done(tx: Tx, update_id: int, now: float) -> None:
    await tx.execute("UPDATE inbox SET done_at = ? WHERE update_id = ?", (now, update_id))
    await tx.execute("DELETE FROM inbox WHERE done_at < ?", (now - INBOX_KEEP_SECONDS,))


async def inbox_leftovers(tx: Tx, owner: str, stale_after: float, now: float) -> list[tuple[int, str]]:
    """Updates received but never handled: this instance's from before a crash, and any other
    instance's that have waited longer than `stale_after` seconds. They become `owner`'s."""
    rows = await tx.rows(
        "SELECT update_id, body FROM inbox WHERE done_at IS NULL AND (owner = ? OR received_at < ?)"
        " ORDER BY update_id",
        (owner, now - stale_after),
    )
    for row in rows:
        await tx.execute("UPDATE inbox SET owner = ? WHERE update_id = ?", (owner, row["update_id"]))
    return [(row["update_id"], row["body"]) for row in rows]
