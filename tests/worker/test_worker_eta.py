"""The time left a worker reports while painting (issue 25): from its own measured seconds per pixel,
else the fleet's history in the store, never from a first step's extrapolation alone. A fake painter
reports set elapsed times and work, and the store runs on a fake clock, so no test waits on time."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from PIL import Image

from drawme.models import JobProgress, JobStatus, PaintParams
from drawme.painting import PaintResult, Progress
from drawme.store import JobStore
from drawme.store.scheduling import painting_remaining
from engine.worker import Worker
from tests.sides import WorkerSide

from .helpers import submit

FIRST = Progress(scale=1, scales=3, step=1, total=140, losses={}, elapsed=1.1, preview=None, work=0.0024)


class FixedPacePainter:
    """Reports one early step (FIRST), then finishes in `seconds` of painting time."""

    device = "cpu"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def paint(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        params: PaintParams = PaintParams(),
        *,
        on_progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        cache_styles: bool = False,
        iterations: int | None = None,
        preview_every: int = 0,
    ) -> PaintResult:
        assert on_progress is not None
        on_progress(FIRST)
        image = content.resize((params.size, params.size))
        return PaintResult(image, {}, 140, self.seconds, False, "cpu")


class RecordingStore(JobStore):
    """The real store, keeping every progress report it is given."""

    reports: list[JobProgress]

    async def report_progress(
        self, job_id: int, worker_id: str, progress: JobProgress, preview: bytes | None = None
    ) -> None:
        self.reports.append(progress)
        await super().report_progress(job_id, worker_id, progress, preview)


@pytest.fixture
async def recording(common):
    now = [1000.0]
    opened = await RecordingStore.open(common, clock=lambda: now[0])
    assert isinstance(opened, RecordingStore)
    opened.reports = []
    yield opened, now
    await opened.close()


async def test_first_estimate_comes_from_measured_times_not_from_the_first_step(config, recording):
    store, _ = recording  # the clock stands still: the store's history holds no time
    params = PaintParams(size=64)

    # Nothing painted anywhere yet: no estimate rather than a wrong one (the first step alone says
    # 1.1 s × 0.9976 / 0.0024 ≈ 457 s).
    await submit(store, params=params)
    worker = Worker(config, WorkerSide(store), FixedPacePainter(seconds=30.0))
    assert (await worker.run_once()).status == JobStatus.DONE
    assert store.reports[0].eta_seconds is None

    # This worker has now painted 64 px in 30 s: its next painting's first estimate is about 30 s.
    await submit(store, user_id=2, params=params)
    assert (await worker.run_once()).status == JobStatus.DONE
    assert store.reports[-1].eta_seconds == pytest.approx(painting_remaining(1.1, 0.0024, 30.0))
    assert store.reports[-1].eta_seconds == pytest.approx(30.0 - 1.1, rel=0.1)  # not 457 s


async def test_a_fresh_worker_expects_the_fleets_measured_time(config, recording):
    store, now = recording
    params = PaintParams(size=64)
    done = await submit(store, params=params)
    claimed = await store.claim("another-worker", 60.0)
    assert claimed is not None and claimed.id == done.id
    now[0] += 50.0  # the store's history: 50 s for a 64 px painting
    await store.complete(done.id, "another-worker", b"png")

    await submit(store, user_id=2, params=params)
    worker = Worker(config, WorkerSide(store), FixedPacePainter(seconds=30.0))
    assert (await worker.run_once()).status == JobStatus.DONE
    assert store.reports[0].eta_seconds == pytest.approx(painting_remaining(1.1, 0.0024, 50.0))
