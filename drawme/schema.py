"""The job store's schema as a list of forward migrations. Version N is reached by running steps[:N].

Never edit a released step: add a new one. `drawme.store` runs the missing steps inside one
transaction when it opens the database, so every process sees either the old or the new schema.
"""

from __future__ import annotations

# v1: the first schema (users, images, jobs, workers). Progress and notes came later.
V1 = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    settings TEXT,                          -- UserSettings JSON; NULL = defaults
    banned INTEGER NOT NULL DEFAULT 0,
    quota_day INTEGER NOT NULL DEFAULT 0,   -- days since the epoch (UTC) of quota_used
    quota_used INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL,
    path TEXT NOT NULL,                     -- relative to DATA_DIR: images/<owner>/<sha256>.<ext>
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (owner_id, sha256)
);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    chat_id INTEGER NOT NULL,
    content_image_id INTEGER NOT NULL REFERENCES images(id),
    style_preset TEXT,
    style_image_id INTEGER REFERENCES images(id),
    params TEXT NOT NULL,                   -- PaintParams JSON, frozen at submit
    status TEXT NOT NULL DEFAULT 'queued',
    priority INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires_at REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    result_path TEXT,
    error TEXT,
    status_message_id INTEGER,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    delivered_at REAL
);
CREATE INDEX jobs_status ON jobs(status);
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    device TEXT NOT NULL,
    heartbeat_at REAL NOT NULL
);
"""

# v2: live progress, notes, the painted size for ETAs, and the indexes the hot paths need.
V2 = """
ALTER TABLE jobs ADD COLUMN note TEXT;
ALTER TABLE jobs ADD COLUMN size INTEGER NOT NULL DEFAULT 384;
ALTER TABLE jobs ADD COLUMN progress_scale INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN progress_scales INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN progress_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN progress_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN eta_seconds REAL;
ALTER TABLE jobs ADD COLUMN preview_path TEXT;
ALTER TABLE jobs ADD COLUMN losses TEXT;
UPDATE jobs SET size = COALESCE(json_extract(params, '$.size'), 384);
DROP INDEX jobs_status;
-- claim: queued jobs per user in priority/age order
CREATE INDEX jobs_queue ON jobs(status, user_id, priority DESC, id);
-- fairness: each user's jobs started recently; also a user's jobs (/forget, export)
CREATE INDEX jobs_user_started ON jobs(user_id, started_at);
-- the bot's poll: only jobs whose outcome the user has not seen yet
CREATE INDEX jobs_undelivered ON jobs(id) WHERE delivered_at IS NULL;
-- ETA history and retention
CREATE INDEX jobs_finished ON jobs(finished_at);
CREATE INDEX images_created ON images(created_at);
"""

# v3: how much of the planned work is done (steps weighted by canvas area), for honest bars and ETAs.
V3 = """
ALTER TABLE jobs ADD COLUMN progress_work REAL;
"""

# v4: the bot's state (status messages' display and delivery leases, conversations, the inbox).
from drawme.botstate import SCHEMA as V4  # noqa: E402

MIGRATIONS: list[str] = [V1, V2, V3, V4]
LATEST = len(MIGRATIONS)
