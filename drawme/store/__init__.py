"""The durable job store: the only meeting point of the bot and the engine workers.

One module per concern, each a set of functions over an open transaction, with the SQL written once
for both engines and the few differences side by side:

- `db`          connections, transactions and change notifications (aiosqlite; psycopg_pool)
- `schema`      one DDL for both engines and versioned migrations under a lock (v1: the first release)
- `admission`   submit: fair-use limits inside the submit transaction, typed refusals
- `claims`      fair claims and batch claims, leases, heartbeats, the worker's transitions, the worker list
- `scheduling`  pure functions: claim order and ETAs (tested without a database)
- `queue`       the reads that feed `scheduling` (positions, ETAs)
- `jobs`        rows <-> models, reads, the bot's transitions
- `settings`    per-user settings and bans
- `blobs`       job files (pictures, previews, paintings) as bytes inside the database
- `retention`   retention (scheduled, one process at a time) and /forget
- `admin`       the operator's operations (requeue, fail, stats, export, SQLite backup/restore)
- `jobstore`    `JobStore`, implementing `BotBackend` and `WorkerBackend`: one transaction per method

`open_store(common)` opens SQLite under DATA_DIR, or PostgreSQL when DATABASE_URL is set.
"""

from drawme.store.db import BUSY_TIMEOUT_MS, Dialect
from drawme.store.jobstore import JobStore, open_store
from drawme.store.scheduling import DAY, DEFAULT_SECONDS_PER_PIXEL, FAIRNESS_WINDOW

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DAY",
    "DEFAULT_SECONDS_PER_PIXEL",
    "FAIRNESS_WINDOW",
    "Dialect",
    "JobStore",
    "open_store",
]
