"""Reading the queue for positions and ETAs: the SQL half of `scheduling`'s pure functions."""

from __future__ import annotations

from drawme.models import QueueInfo
from drawme.store import scheduling
from drawme.store.db import Tx
from drawme.store.scheduling import ETA_HISTORY, FAIRNESS_WINDOW, WORKER_FRESH, Queued, Running


async def recent_durations(tx: Tx) -> tuple[float | None, float | None]:
    """(seconds, output pixels) of the last ETA_HISTORY finished jobs, summed; (None, None) without any."""
    row = await tx.one(
        "SELECT SUM(finished_at - started_at), SUM(size * size) FROM"
        " (SELECT finished_at, started_at, size FROM jobs WHERE status IN ('done', 'delivered')"
        " AND started_at IS NOT NULL AND finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?)"
        " AS recent",
        (ETA_HISTORY,),
    )
    return row[0], row[1]


async def seconds_per_pixel(tx: Tx) -> float:
    """Recent painting time per output pixel, from the last ETA_HISTORY finished jobs (else the default)."""
    return scheduling.seconds_per_pixel(*await recent_durations(tx))


async def measured_seconds_per_pixel(tx: Tx) -> float | None:
    """`seconds_per_pixel` as measured: None before the first finished job."""
    return scheduling.measured_seconds_per_pixel(*await recent_durations(tx))


async def worker_capacity(tx: Tx, now: float) -> int:
    """Jobs the live workers paint at once: the sum of the fresh workers' capacities (batch sizes),
    at least 1 (with no live worker, ETAs assume one will come)."""
    total = await tx.value(
        "SELECT COALESCE(SUM(capacity), 0) FROM workers WHERE heartbeat_at >= ?", (now - WORKER_FRESH,)
    )
    return max(1, int(total or 0))


async def etas(tx: Tx, now: float) -> dict[int, tuple[int, float]]:
    """job id -> (jobs ahead, seconds until done) for every active job."""
    queued = [
        Queued(row["id"], row["user_id"], row["priority"], row["size"])
        for row in await tx.rows("SELECT id, user_id, priority, size FROM jobs WHERE status = 'queued'")
    ]
    started = {
        row[0]: row[1]
        for row in await tx.rows(
            "SELECT user_id, COUNT(*) FROM jobs WHERE started_at >= ? AND user_id IN"
            " (SELECT user_id FROM jobs WHERE status = 'queued') GROUP BY user_id",
            (now - FAIRNESS_WINDOW,),
        )
    }
    running = [
        Running(row["id"], row["size"], row["started_at"], row["eta_seconds"])
        for row in await tx.rows(
            "SELECT id, size, started_at, eta_seconds FROM jobs WHERE status = 'running'"
        )
    ]
    return scheduling.etas(
        queued, started, running, now, await seconds_per_pixel(tx), await worker_capacity(tx, now)
    )


def as_queue_info(etas: dict[int, tuple[int, float]]) -> dict[int, QueueInfo]:
    return {job_id: QueueInfo(ahead=ahead, eta_seconds=seconds) for job_id, (ahead, seconds) in etas.items()}
