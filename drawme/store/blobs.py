"""Blobs: the bytes of job files (input pictures, previews, paintings), kept inside the job store.

One table on both engines (BLOB in SQLite, BYTEA in PostgreSQL), keyed by a path-like name that
stays inside the store. So a GPU host needs only DATABASE_URL, with no shared disk, and a backup of
the database is a backup of everything.
"""

from __future__ import annotations

from drawme.store.db import Tx


def image_key(owner_id: int, digest: str, data: bytes) -> str:
    """One folder per owner: /forget and retention never touch a picture another user still needs."""
    return f"images/{owner_id}/{digest}{sniff_extension(data)}"


def result_key(job_id: int) -> str:
    return f"results/{job_id}.png"


def preview_key(job_id: int, scale: int, step: int) -> str:
    """A new name per preview, so readers see that it changed."""
    return f"previews/{job_id}-{scale}-{step}.jpg"


def previews_of(job_id: int) -> str:
    """LIKE pattern of a job's previews ("previews/12-%" never matches job 123's)."""
    return f"previews/{job_id}-%"


def sniff_extension(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return ".bin"


async def put(tx: Tx, key: str, data: bytes, now: float) -> None:
    await tx.execute(
        "INSERT INTO blobs (key, data, bytes, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE"
        " SET data = excluded.data, bytes = excluded.bytes, created_at = excluded.created_at",
        (key, data, len(data), now),
    )


async def get(tx: Tx, key: str) -> bytes | None:
    """The bytes under `key`, or None when there are none."""
    data = await tx.value("SELECT data FROM blobs WHERE key = ?", (key,))
    return None if data is None else bytes(data)


async def delete(tx: Tx, keys: list[str]) -> tuple[int, int]:
    """Delete blobs; returns how many there were and their bytes."""
    count = size = 0
    for key in keys:
        row = await tx.row("DELETE FROM blobs WHERE key = ? RETURNING bytes", (key,))
        if row is not None:
            count, size = count + 1, size + row[0]
    return count, size


async def delete_like(tx: Tx, pattern: str, keep: str | None = None) -> tuple[int, int]:
    row = await tx.one(
        "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM blobs WHERE key LIKE ? AND key <> ?",
        (pattern, keep or ""),
    )
    await tx.execute("DELETE FROM blobs WHERE key LIKE ? AND key <> ?", (pattern, keep or ""))
    return row[0], row[1]
