"""The vocabulary the bot and the engine share through the job store. Plain data, no I/O.

A job's parameters are frozen at submit time as `PaintParams` (stored as JSON), so a later change of
the user's settings never alters a job already queued.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

# Bounds for the user's relative weights; documented in /weights and the README.
WEIGHT_MIN = 0.0
WEIGHT_MAX = 10.0
# The brush sizes a user steps through (`style_scale`: the style picture's size relative to the painting;
# larger = bigger strokes), one rung per tap. A rung doubles or halves the style picture's area, so a
# tap is visible, two reach either end, and the opposite tap lands exactly back on the default. Below 0.5
# the painting's motifs shrink to a few pixels and mostly its colours remain; beyond 2 a preset (about
# 1000 px) is enlarged past its own pixels at the CPU's large size, and the style's memory grows as the
# square (engine/memory.py: at 2 a 512 px painting needs about 3.2 GB instead of 2.5; a worker with less
# room paints it smaller and says so).
BRUSH_SCALES = (0.5, 0.7, 1.0, 1.4, 2.0)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DELIVERED = "delivered"  # set by the bot once the painting reached the user

    @property
    def finished(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.DELIVERED)


class Term(StrEnum):
    """A weighted term of the painter's loss, named as the `Blend` field that weighs it (`Blend.style`
    weighs STYLE); the engine keys and orders each painting's weights by it (engine.objective)."""

    CONTENT = "content"
    STYLE = "style"
    TV = "tv"


@dataclass(frozen=True)
class Blend:
    """The user's blend: relative multipliers of the recipe's own content, style and TV weights."""

    content: float = 1.0
    style: float = 1.0
    tv: float = 1.0

    def __post_init__(self) -> None:
        for term in Term:
            value = getattr(self, term)
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(f"{term} must be a finite number")
            if not WEIGHT_MIN <= value <= WEIGHT_MAX:
                raise ValueError(f"{term} must be between {WEIGHT_MIN:g} and {WEIGHT_MAX:g}")


@dataclass(frozen=True)
class UserSettings:
    """What a user chose with /weights, /size and /colors; copied into each new job."""

    blend: Blend = field(default_factory=Blend)
    size: str = "medium"  # small | medium | large
    preserve_colors: bool = False
    last_preset: str | None = None
    protect_faces: bool = True
    language: str | None = None  # the catalog the bot last spoke to them in (its later messages too)
    style_scale: float = 1.0  # brush size for new paintings (/weights brush=), within BRUSH_SCALES' ends
    chosen_language: str | None = None  # picked with /language; None: their Telegram app's language

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UserSettings:
        data = dict(data)
        data["blend"] = Blend(**data.get("blend", {}))
        return cls(**data)


@dataclass(frozen=True)
class StyleRef:
    """A style to paint with: a preset id or a stored picture's id (exactly one)."""

    preset: str | None = None
    image_id: int | None = None

    def __post_init__(self) -> None:
        if (self.preset is None) == (self.image_id is None):
            raise ValueError("a style is exactly one of a preset id and an image id")


@dataclass(frozen=True)
class PaintParams:
    """Everything the engine needs besides the pixels, frozen into the job at submit time; also what
    the painter takes (`drawme.painting.Painter.paint`), with `size` the one it paints at (`with_size`).

    `mix` and `protect_faces` live here, in the params' JSON, so that mixing styles needed no new column. The
    painter reads all but `mix` and `seed`: the worker turns `mix` into style pictures.
    """

    size: int = 384  # output long side, px
    blend: Blend = field(default_factory=Blend)
    preserve_colors: bool = False
    recipe: str = "default"
    style_scale: float = 1.0
    seed: int = 0
    protect_faces: bool = True  # keep faces close to the photo (engine.guidance); False paints them over
    mix: tuple[StyleRef, ...] = ()  # further styles, blended with the job's own
    # One weight per style painted, () = equal: a job's own style, then each of `mix`. Without `mix`
    # (the engine's command line, whose styles are files) the painter checks them against its pictures.
    mix_blend: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.mix and self.mix_blend and len(self.mix_blend) != 1 + len(self.mix):
            raise ValueError("mix_blend needs one weight for the job's style and one per mixed style")
        if any(not (math.isfinite(w) and w >= 0) for w in self.mix_blend) or (
            self.mix_blend and sum(self.mix_blend) <= 0
        ):
            raise ValueError("mix_blend weights must be non-negative and not all zero")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PaintParams:
        data = dict(data)
        data["blend"] = Blend(**data.get("blend", {}))
        data["mix"] = tuple(StyleRef(**style) for style in data.get("mix", ()))
        data["mix_blend"] = tuple(data.get("mix_blend", ()))
        return cls(**data)

    def with_size(self, size: int) -> PaintParams:
        return replace(self, size=size)


@dataclass(frozen=True)
class JobRequest:
    """What the bot submits. Exactly one of `style_preset` and `style_image_id` is set."""

    user_id: int
    chat_id: int
    content_image_id: int
    params: PaintParams
    style_preset: str | None = None
    style_image_id: int | None = None
    priority: int = 0

    def __post_init__(self) -> None:
        if (self.style_preset is None) == (self.style_image_id is None):
            raise ValueError("a job needs exactly one style: a preset id or an image id")


@dataclass(frozen=True)
class StoredImage:
    id: int
    owner_id: int
    sha256: str
    key: str  # the key of its bytes in the store (opaque outside drawme.store)
    width: int
    height: int


@dataclass(frozen=True)
class JobProgress:
    """What the worker reports while painting; the bot renders it."""

    scale: int = 0  # 1-based index of the current scale
    scales: int = 0
    step: int = 0  # steps done so far, over all scales
    total: int = 0  # steps planned, over all scales
    eta_seconds: float | None = None
    # The store's key of the latest scale-end preview; it changes whenever a new preview arrives.
    # Workers leave it None and hand the JPEG bytes to `report_progress`; read them with `get_preview`.
    preview_key: str | None = None
    losses: dict[str, float] = field(default_factory=dict)
    work: float | None = None  # fraction of the planned work done (steps weighted by canvas area)

    @property
    def fraction(self) -> float:
        """How far along the painting is: the work done when the worker reports it, else steps."""
        if self.work is not None:
            return min(1.0, max(0.0, self.work))
        return min(1.0, self.step / self.total) if self.total else 0.0


@dataclass(frozen=True)
class Job:
    id: int
    user_id: int
    chat_id: int
    status: JobStatus
    params: PaintParams
    content_image_id: int
    style_preset: str | None
    style_image_id: int | None
    priority: int
    attempts: int
    progress: JobProgress
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    delivered_at: float | None = None  # also set when a failure/cancel was reported to the user
    result_key: str | None = None  # set once the painting's bytes are stored; read with `get_result`
    error: str | None = None  # a FailureCode or an ImageCode (the bot words it), never a traceback
    status_message_id: int | None = None
    cancel_requested: bool = False
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    note: str | None = None  # e.g. "painted at 384 px after running out of GPU memory"


@dataclass(frozen=True)
class Display:
    """What the bot last showed the user for one job, recorded the moment Telegram answered, so a
    restarted (or another) bot instance edits the right message correctly."""

    status_message_id: int | None = None
    is_photo: bool = False  # the status became a preview photo: edit its caption
    text: str | None = None  # the status message's text (a preview photo's caption)
    preview_key: str | None = None  # the store's key of the preview it shows (`JobProgress.preview_key`)
    result_message_id: int | None = None  # the painting is sent: never send it again
    stale_message_ids: tuple[int, ...] = ()  # superseded status messages still to delete
    result_file_id: str | None = None  # Telegram's file id of the sent painting, to share it inline
    edited_at: float | None = None  # wall-clock time of the status message's last post or edit
    # An edit to `text`/`preview_key` went out and its answer was never heard (a crash, a timeout): the
    # message shows either this or what it showed before. Recorded before the call, cleared after it.
    unconfirmed: bool = False


@dataclass(frozen=True)
class SharedPainting:
    """A painting the user has received, as inline mode offers it: sent again by Telegram's file id."""

    job_id: int
    file_id: str
    style_preset: str | None  # the one preset it was painted in; None for a picture's style or a mix
    finished_at: float | None = None


@dataclass(frozen=True)
class Conversation:
    """What a user is still deciding: a photo waiting for its style, or a style chosen first."""

    pending_photo: int | None = None  # image id
    pending_preset: str | None = None
    pending_mix: int | None = None  # job id: the next picture is mixed into its painting


@dataclass(frozen=True)
class QueueInfo:
    """Where a queued job stands: how many jobs are ahead and roughly how long until it is done."""

    ahead: int
    eta_seconds: float | None


class Limit(StrEnum):
    """Which fair-use limit refused a submit."""

    PER_USER = "per_user"
    QUEUE_FULL = "queue_full"
    DAILY_QUOTA = "daily_quota"
    BANNED = "banned"


@dataclass(frozen=True)
class Refusal:
    """Why a submit was refused, as data: the bot words it (bot/texts.py), the store never does."""

    limit: Limit
    allowed: int = 0  # the configured limit (jobs at a time, queue length, paintings a day)
    count: int = 0  # how many the user (or the queue) has now
    wait_seconds: float | None = None  # roughly how long until it frees up; None: unknown
    retry_at: float | None = None  # the same as epoch seconds


class LimitExceeded(Exception):
    """A submit was refused; `refusal` says which limit and when it frees."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"{refusal.limit}: {refusal.count} of {refusal.allowed}")
        self.refusal = refusal

    @property
    def limit(self) -> Limit:
        return self.refusal.limit

    @property
    def retry_at(self) -> float | None:
        return self.refusal.retry_at


class FailureCode(StrEnum):
    """Why a job failed. `Job.error` holds the code (or an `ImageCode`), never words: the bot words it."""

    CRASHED = "painter_crashed"  # the store: the lease expired max_attempts times
    PAINT_ERROR = "paint_error"  # the painter raised something unexpected
    MISSING_INPUT = "missing_input"  # a stored picture of the job is gone
    UNKNOWN_PRESET = "unknown_preset"  # the preset was removed since the job was queued
    OUT_OF_MEMORY = "out_of_memory"  # even the smaller retry did not fit
    STOPPED = "stopped"  # an operator ended it (`drawme-admin fail`)


class NoteCode(StrEnum):
    """Why a painting came out smaller than asked."""

    SIZE_CAPPED = "size_capped"  # the painter's largest size is below the job's
    OOM_SHRUNK = "oom_shrunk"  # the full size ran out of GPU memory; painted smaller


@dataclass(frozen=True)
class PaintNote:
    """A note on a finished painting; `Job.note` stores it as "code:size" (see `encode`)."""

    code: NoteCode
    size: int

    def encode(self) -> str:
        return f"{self.code}:{self.size}"

    @classmethod
    def parse(cls, text: str | None) -> PaintNote | None:
        """The note in `text`, or None for no note (or a text that is none)."""
        code, _, size = (text or "").partition(":")
        if code not in {member.value for member in NoteCode} or not size.isdigit():
            return None
        return cls(NoteCode(code), int(size))


class IllegalTransition(Exception):
    """A job was asked to move between states that do not connect (e.g. done -> running)."""


class LeaseLost(IllegalTransition):
    """A worker acted on a job whose lease is no longer its own (expired and requeued, cancelled...)."""


class StoreUnavailable(Exception):
    """The job store cannot answer right now (e.g. locked by another process past its timeout).

    Callers retry later; whatever the backend, this is the one error that means "try again"."""


@dataclass(frozen=True)
class WorkerInfo:
    worker_id: str
    device: str  # "cuda" | "mps" | "cpu"
    heartbeat_at: float
    capacity: int = 1  # jobs it paints at once (its batch size)
    max_size: int | None = None  # the largest long side it paints (None: not said)
    stale: bool = False  # no heartbeat for a while (scheduling.WORKER_FRESH): hung, or died unregistered


@dataclass(frozen=True)
class Stats:
    queued: int
    running: int
    oldest_queued_age: float | None
    done_last_hour: int
    failed_last_hour: int
    avg_duration_seconds: float | None
    users_today: int
    workers: list[WorkerInfo] = field(default_factory=list)
