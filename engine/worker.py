"""`python -m engine serve`: the painting worker. Claims jobs from the store, paints them, reports.

One worker owns one device. It loads the network once, then loops: put expired leases back in the
queue, claim the fairest job with a lease, keep the lease alive while painting (which is also how it
learns that the user cancelled), report progress and scale-end previews, and hand the painting's
bytes to the store with the job's final transition. All job files cross the store as bytes, so a
worker needs no shared disk (with PostgreSQL, only DATABASE_URL). When idle it waits for the store's
change notification (NOTIFY), with polling as the fallback; a background task applies retention on
schedule whether the worker is busy or not (one process at a time, the store decides which).
SIGTERM/SIGINT stop the painting after the current step and hand the job back to the queue, so it
resumes on the next start.

The worker depends only on the painter's contract (`drawme.painting`); `engine.painter`, and torch with
it, is imported when `serve` builds the real one, so tests inject a fake painter instead
(tests/worker/sleepy_painter.py).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from drawme import health
from drawme.backend import WorkerBackend
from drawme.config import CPU_SIZES, GPU_SIZES, ConfigError, EngineConfig
from drawme.decoding import ImageCode, ImageError, load_image
from drawme.entry import handle_loop_exceptions
from drawme.logs import setup_logging
from drawme.metrics import QUEUE_REFRESH
from drawme.models import (
    FailureCode,
    Job,
    JobProgress,
    JobStatus,
    LeaseLost,
    NoteCode,
    PaintNote,
    PaintParams,
    StoreUnavailable,
    StyleRef,
)
from drawme.painting import BatchPainter, Painter, PaintRequest, PaintResult, Progress
from drawme.presets import get_preset
from drawme.privacy import secure_data_dir
from drawme.store import open_store
from drawme.store.scheduling import painting_remaining
from engine import memory
from engine.encoding import to_jpeg_bytes, to_png_bytes
from engine.metrics import EngineMetrics
from engine.recipes import get_recipe

log = logging.getLogger("engine.worker")

OOM_SHRINK = 0.7  # a job that ran out of GPU memory is retried once at this fraction of its size
PROGRESS_INTERVAL = 1.0  # seconds between progress writes (previews are always written)
HEALTH_INTERVAL = 5.0
MAX_HEARTBEAT_INTERVAL = 2.0  # also how fast a cancel is noticed
STORAGE_BACKOFF = 30.0  # after a result could not be stored (disk full), claim nothing for this long
STORE_RETRY = 1.0  # seconds between tries to store a finished painting while the store is away
RETENTION_INTERVAL = 3600.0  # retention runs this often, by whichever worker's turn it is
RETENTION_CHECK = 60.0  # how often each worker asks whether retention is due


def max_size_for(config: EngineConfig, device: str) -> int:
    """The largest output the device may paint: MAX_SIZE, else the device's "large" size."""
    if config.max_size:
        return config.max_size
    return (GPU_SIZES if device == "cuda" else CPU_SIZES).large


def fitting_max_size(config: EngineConfig, device: str, available: int) -> int:
    """max_size_for, within what fits in `available` bytes; a setting that cannot fit is a ConfigError.

    MAX_SIZE and PAINT_SIZES' "large" are the operator's promises: refused at start with the largest size
    that fits, before any job allocates. The default "large" size is quietly lowered instead.
    """
    fits = memory.largest_size(available)
    settings = [("MAX_SIZE", config.max_size)]
    if config.paint_sizes is not None:
        settings.append(("PAINT_SIZES (large)", config.paint_sizes.large))
    for name, size in settings:
        if size and size > fits:
            raise ConfigError(
                f"{name} {size} px needs about {memory.describe(memory.estimate_bytes(size))} of memory "
                f"and {device} has {memory.describe(available)} free: the largest size that fits is {fits} px"
            )
    return min(max_size_for(config, device), fits)


def is_out_of_memory(error: BaseException) -> bool:
    """torch.OutOfMemoryError, recognised without importing torch ourselves."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(error, torch.OutOfMemoryError)


class PaintFailed(Exception):
    """The job cannot be painted; `code` says why (the bot words it)."""

    def __init__(self, code: FailureCode | ImageCode) -> None:
        super().__init__(code)
        self.code = code


class ProgressReporter:
    """The painter's `on_progress`: runs in the painting thread and hands the writes to the event loop.

    Painting never waits for the database; a step report is dropped while the previous one is still
    being written, but previews are always reported (as JPEG bytes). The time left comes from
    `scheduling.painting_remaining`, with `expected` (the painting's whole time as this worker
    measured it, set once its size is known) leading at first.
    """

    def __init__(self, worker: Worker, job: Job, loop: asyncio.AbstractEventLoop) -> None:
        self._worker = worker
        self._job = job
        self._loop = loop
        self.expected: float | None = None
        self._pending: list[concurrent.futures.Future] = []
        self._last_report = 0.0
        self._order = asyncio.Lock()  # writes land in the order the painter reported them

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        busy = any(not future.done() for future in self._pending)
        if progress.preview is None and (busy or now - self._last_report < PROGRESS_INTERVAL):
            return
        self._last_report = now
        self._pending = [future for future in self._pending if not future.done()]
        self._pending.append(asyncio.run_coroutine_threadsafe(self._report(progress), self._loop))

    async def _report(self, progress: Progress) -> None:
        async with self._order:
            preview = None
            if progress.preview is not None:
                preview = await asyncio.to_thread(to_jpeg_bytes, progress.preview)
            # By work, not steps: the full-size steps at the end cost far more than the coarse ones.
            work = progress.work
            report = JobProgress(
                scale=progress.scale,
                scales=progress.scales,
                step=progress.step,
                total=progress.total,
                eta_seconds=painting_remaining(progress.elapsed, work, self.expected),
                losses={key: float(value) for key, value in progress.losses.items()},
                work=work,
            )
            try:
                await self._worker.store.report_progress(
                    self._job.id, self._worker.worker_id, report, preview
                )
            except LeaseLost:
                self._worker.lease_lost(self._job)
            except StoreUnavailable as error:  # the store logs the outage; the next report will do
                log.debug("progress of job %d not saved: %s", self._job.id, error)

    async def drain(self) -> None:
        """Wait for the writes still in flight (before the job's final transition)."""
        for future in self._pending:
            try:
                await asyncio.wrap_future(future)
            except Exception:
                log.exception("progress report of job %d failed", self._job.id)


# A painted job: the result, the size it was painted at, and the note for the user (or None).
_Painted = tuple[PaintResult, int, str | None]


@dataclass
class _Run:
    """The flags of the job being painted, shared with the painting thread."""

    job: Job
    cancel: threading.Event
    lost: threading.Event


class Worker:
    """Claims and paints jobs until `stop()` with any `drawme.painting.Painter`."""

    def __init__(
        self,
        config: EngineConfig,
        store: WorkerBackend,
        painter: Painter,
        *,
        worker_id: str | None = None,
        metrics: EngineMetrics | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.painter = painter
        self.metrics = metrics  # served on config.metrics_port while `serve` runs
        self.worker_id = worker_id or config.worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.beat_name = health.beat_name("engine", self.worker_id)  # its own heartbeat file
        self.device = getattr(painter.device, "type", str(painter.device))
        # The painter's own weights are already loaded, and the estimate counts them: add them back.
        self.memory_budget = memory.available_bytes(painter.device) + memory.BASE_BYTES
        self.max_size = fitting_max_size(config, self.device, self.memory_budget)
        if self.max_size < max_size_for(config, self.device):
            log.warning("only %s free on %s: painting at most %d px", memory.describe(self.memory_budget),
                        self.device, self.max_size)
        self._stopping = threading.Event()  # read by the painting thread between steps
        self._wake = asyncio.Event()
        self._runs: dict[int, _Run] = {}  # by job id: the jobs being painted (several in a batch)
        self._batch_cap = config.max_batch  # halved after a batch runs out of GPU memory
        self._last_beat = 0.0
        self._pause_until = 0.0
        # Seconds per output pixel (long side squared) of this worker's last finished painting.
        self._seconds_per_pixel: float | None = None

    # --- control -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Finish the current step, hand the job back, and leave `serve()` (safe from a signal handler)."""
        self._stopping.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def lease_lost(self, job: Job) -> None:
        run = self._runs.get(job.id)
        if run is not None:
            run.lost.set()

    # --- the loop ----------------------------------------------------------------------------

    async def serve(self) -> None:
        """Claim and paint jobs until stopped; when idle, look for work every poll_seconds."""
        await self.store.register_worker(
            self.worker_id, self.device, capacity=self.batch_limit(), max_size=self.max_size
        )
        log.info(
            "worker %s ready on %s (max %d px)",
            self.worker_id,
            self.device,
            self.max_size,
            extra={"worker_id": self.worker_id},
        )
        retention = asyncio.create_task(self._retention_loop())
        metrics = asyncio.create_task(self._metrics_loop()) if self.metrics is not None else None
        try:
            while not self.stopping:
                try:
                    await self._idle_beat()
                    job = await self.run_once()
                except StoreUnavailable as error:  # the store logs the outage once; try again
                    log.debug("job store unavailable: %s", error)
                    job = None
                if job is None and not self.stopping:
                    await self._sleep(self.config.poll_seconds)
        finally:
            for task in (retention, metrics):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if self.metrics is not None:
                self.metrics.close()
            await self.store.unregister_worker(self.worker_id)
            health.forget(self.config.common, self.beat_name)
            log.info("worker %s stopped", self.worker_id, extra={"worker_id": self.worker_id})

    async def run_once(self) -> Job | None:
        """Requeue expired leases, then claim the fairest job (with other users' jobs of its shape, on a
        GPU) and paint it. Returns the fairest job as it ended, or None."""
        await self.store.requeue_expired()
        if time.monotonic() < self._pause_until:
            return None
        limit = self.batch_limit()
        if limit > 1:
            jobs = await self.store.claim_batch(self.worker_id, self.config.lease_seconds, limit)
        else:
            job = await self.store.claim(self.worker_id, self.config.lease_seconds)
            jobs = [job] if job is not None else []
        if not jobs:
            return None
        if self.metrics is not None:
            for job in jobs:
                self.metrics.job_wait.observe(max(0.0, (job.started_at or job.created_at) - job.created_at))
        return (await self.process_batch(jobs))[0]

    def batch_limit(self) -> int:
        """Jobs to claim at once: what fits in free memory at the largest size, within MAX_BATCH."""
        if self._batch_cap <= 1 or not isinstance(self.painter, BatchPainter):
            return 1
        fits = self.painter.batch_limit(PaintParams(size=self.max_size))
        return max(1, min(self._batch_cap, fits))

    async def apply_retention(self) -> dict[str, int] | None:
        """Delete old pictures and paintings (RETENTION_DAYS) if it is this worker's turn."""
        removed = await self.store.purge_if_due(self.worker_id, RETENTION_INTERVAL)
        if removed and any(removed.values()):
            log.info("retention removed %s", removed, extra={"event": "retention"})
        return removed

    async def _retention_loop(self) -> None:
        """Retention on a schedule, painting or not: a busy fleet must still delete old files."""
        while True:
            try:
                await self.apply_retention()
            except StoreUnavailable as error:
                log.debug("retention postponed: %s", error)
            except Exception:
                log.exception("retention failed")
            await asyncio.sleep(RETENTION_CHECK)

    async def _metrics_loop(self) -> None:
        """Serve /metrics (when a port is set) and keep its queue figures fresh."""
        assert self.metrics is not None
        if self.config.metrics_port is not None:
            self.metrics.serve(self.config.metrics_port)
        if self.device == "cuda":
            self.metrics.device_memory.labels("cuda").set_function(memory.cuda_allocated)
        else:
            self.metrics.device_memory.labels(self.device).set_function(memory.resident_bytes)
        while True:
            try:
                self.metrics.observe_stats(await self.store.stats())
            except StoreUnavailable:
                pass  # the store logs the outage; the figures stay as they were
            except Exception:
                log.warning("could not read the queue figures", exc_info=True)
            await asyncio.sleep(QUEUE_REFRESH)

    async def _sleep(self, seconds: float) -> None:
        """Idle: wait for the store to announce a change (a new job), a stop, or the poll interval."""
        self._wake.clear()
        changed = asyncio.ensure_future(self.store.wait_for_change(seconds))
        stopped = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((changed, stopped), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (changed, stopped):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, StoreUnavailable):
                await changed

    def _beat(self, job_id: int | None = None) -> None:
        """Refresh the health file (throttled when idle; every lease beat while painting)."""
        now = time.monotonic()
        if job_id is not None or now - self._last_beat >= HEALTH_INTERVAL:
            self._last_beat = now
            health.beat(self.config.common, self.beat_name, device=self.device, job_id=job_id)

    async def _idle_beat(self) -> None:
        if time.monotonic() - self._last_beat < HEALTH_INTERVAL:
            return
        self._beat()
        # While painting, the lease heartbeat keeps the worker row fresh; when idle, this does.
        await self.store.register_worker(
            self.worker_id, self.device, capacity=self.batch_limit(), max_size=self.max_size
        )

    # --- one job -----------------------------------------------------------------------------

    def _log(self, job: Job, status: str, started: float, size: int | None = None, **details: Any) -> None:
        extra = {
            "job_id": job.id,
            "user_id": job.user_id,
            "status": status,
            "size": size or job.params.size,
            "duration": round(time.monotonic() - started, 2),
            "worker_id": self.worker_id,
        }
        level = logging.WARNING if status in (JobStatus.FAILED, "lease_lost") else logging.INFO
        log.log(
            level,
            "job %d %s%s",
            job.id,
            status,
            "".join(f" {key}={value}" for key, value in details.items()),
            extra=extra,
        )

    async def process(self, job: Job) -> Job | None:
        """Paint a claimed job and make its final transition. Returns the job; None if the lease was lost."""
        return (await self.process_batch([job]))[0]

    async def process_batch(self, jobs: list[Job]) -> list[Job | None]:
        """Paint claimed jobs together; each keeps its own lease, progress, cancel and final transition."""
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        runs = [_Run(job, threading.Event(), threading.Event()) for job in jobs]
        for run in runs:
            self._runs[run.job.id] = run
            self._log(run.job, JobStatus.RUNNING, started, attempts=run.job.attempts, batch=len(jobs))
            self._beat(run.job.id)
        keepers = [asyncio.create_task(self._keep_lease(run)) for run in runs]
        if self.metrics is not None:
            self.metrics.busy.inc(len(runs))
        reporters = [ProgressReporter(self, run.job, loop) for run in runs]
        try:
            try:
                outcomes = await self._paint_all(runs, reporters)
            finally:
                for keeper in keepers:
                    keeper.cancel()
                for reporter in reporters:
                    await reporter.drain()
            pairs = zip(runs, outcomes, strict=True)
            return [await self._finish(run, outcome, started) for run, outcome in pairs]
        finally:
            if self.metrics is not None:
                self.metrics.busy.dec(len(runs))
            for run in runs:
                self._runs.pop(run.job.id, None)
            for keeper in keepers:
                if not keeper.done():
                    keeper.cancel()

    async def _finish(self, run: _Run, outcome: _Painted | BaseException, started: float) -> Job | None:
        """One job's final transition after painting (or failing to)."""
        job = run.job
        try:
            if isinstance(outcome, BaseException):
                raise outcome
            result, size, note = outcome
            if run.lost.is_set():
                raise LeaseLost(f"job {job.id} was taken away while painting")
            if result.cancelled and run.cancel.is_set():
                final = await self.store.mark_cancelled(job.id, self.worker_id)
            elif result.cancelled:  # shutting down: someone else paints it later, from the start
                final = await self.store.release(job.id, self.worker_id)
            else:
                self._seconds_per_pixel = result.seconds / (size * size)
                painting = await asyncio.to_thread(to_png_bytes, result.image)
                try:
                    final = await self._complete(job, painting, note)
                except StoreUnavailable as error:
                    # A full or unreachable store is not the job's fault: hand it back if we can (else
                    # its lease expires) and pause claiming.
                    log.error(
                        "cannot store the result of job %d (%s); pausing %.0f s",
                        job.id,
                        error,
                        STORAGE_BACKOFF,
                        extra={"job_id": job.id},
                    )
                    self._pause_until = time.monotonic() + STORAGE_BACKOFF
                    final = await self.store.release(job.id, self.worker_id)
            self._log(job, final.status if final.status != JobStatus.QUEUED else "released", started, size)
            if self.metrics is not None and final.status is JobStatus.DONE:
                self.metrics.job_duration.observe(time.monotonic() - started)
            return final
        except LeaseLost as error:
            # Another worker has (or will have) the job; what we painted never became its result.
            self._log(job, "lease_lost", started, reason=str(error))
            return None
        except PaintFailed as error:
            return await self._fail(job, error.code, started)
        except Exception:
            log.exception("job %d crashed", job.id, extra={"job_id": job.id, "user_id": job.user_id})
            return await self._fail(job, FailureCode.PAINT_ERROR, started)

    async def _complete(self, job: Job, painting: bytes, note: str | None) -> Job:
        """Store the painting; while the store is away (a database restart), try again each second
        for as long as the lease lasts, so a finished painting is not painted again."""
        deadline = time.monotonic() + self.config.lease_seconds
        while True:
            try:
                return await self.store.complete(job.id, self.worker_id, painting, note=note)
            except StoreUnavailable:
                if time.monotonic() + STORE_RETRY > deadline:
                    raise
            await asyncio.sleep(STORE_RETRY)

    async def _fail(self, job: Job, code: FailureCode | ImageCode, started: float) -> Job | None:
        try:
            final = await self.store.fail(job.id, self.worker_id, str(code))
        except LeaseLost as error:
            self._log(job, "lease_lost", started, reason=str(error))
            return None
        self._log(job, JobStatus.FAILED, started, error=str(code))
        if self.metrics is not None:
            self.metrics.failures.labels(str(code)).inc()
        return final

    async def _keep_lease(self, run: _Run) -> None:
        """Extend the lease every lease/3 s (at most 2 s); learn about a cancel the same way."""
        interval = min(self.config.lease_seconds / 3, MAX_HEARTBEAT_INTERVAL)
        while True:
            await asyncio.sleep(interval)
            try:
                if await self.store.heartbeat(run.job.id, self.worker_id, self.config.lease_seconds):
                    run.cancel.set()
            except LeaseLost:
                run.lost.set()
                return
            except StoreUnavailable as error:  # try again next beat; the lease has slack
                log.debug("heartbeat of job %d failed: %s", run.job.id, error)
            self._beat(run.job.id)

    async def _load_inputs(self, job: Job) -> tuple[Any, list[Any], bool]:
        """The photo and the style pictures (the job's own, then its mix) as RGB images.

        The third value is True when every style is a preset: then the style cache is used.
        """
        content = await self._load_stored(job.content_image_id)
        sources = [StyleRef(preset=job.style_preset, image_id=job.style_image_id), *job.params.mix]
        styles = [await self._load_style(source) for source in sources]
        return content, styles, all(source.preset is not None for source in sources)

    async def _load_style(self, source: StyleRef) -> Any:
        if source.preset is None:
            assert source.image_id is not None
            return await self._load_stored(source.image_id)
        try:
            preset = get_preset(source.preset)
        except KeyError:
            raise PaintFailed(FailureCode.UNKNOWN_PRESET) from None
        return await asyncio.to_thread(preset.image)

    async def _load_stored(self, image_id: int) -> Any:
        data = await self.store.get_image_bytes(image_id)
        if data is None:
            raise PaintFailed(FailureCode.MISSING_INPUT)
        try:
            return await asyncio.to_thread(load_image, data)
        except ImageError as error:
            raise PaintFailed(error.code) from None

    async def _prepare(self, job: Job) -> tuple[Any, list[Any], bool, int, str | None]:
        """The job's pictures, whether its styles are all presets, its size (clamped to the device) and
        the note that says so when it was clamped."""
        content, styles, preset = await self._load_inputs(job)
        size = min(job.params.size, self.max_size, self._fitting_size(job))
        if size < memory.MIN_SIZE:
            raise PaintFailed(FailureCode.OUT_OF_MEMORY)
        note = PaintNote(NoteCode.SIZE_CAPPED, size).encode() if size < job.params.size else None
        return content, styles, preset, size, note

    def _should_stop(self, run: _Run) -> Callable[[], bool]:
        return lambda: self._stopping.is_set() or run.cancel.is_set() or run.lost.is_set()

    async def _paint_all(
        self, runs: list[_Run], reporters: list[ProgressReporter]
    ) -> list[_Painted | BaseException]:
        """Paint the runs, several in one batch; a batch that fails is painted one job at a time instead
        (each with the one-job retry at a smaller size); after running out of GPU memory, later claims
        take half as many."""
        if len(runs) == 1:
            return [await self._outcome(self._paint(runs[0], reporters[0]))]
        outcomes: list[_Painted | BaseException | None] = [None] * len(runs)
        prepared: list[tuple[int, tuple]] = []
        for index, run in enumerate(runs):
            try:
                prepared.append((index, await self._prepare(run.job)))
            except Exception as error:
                outcomes[index] = error
        for index, (_, _, _, size, _) in prepared:
            reporters[index].expected = await self._expected_seconds(size)
        requests = [
            PaintRequest(
                content,
                tuple(styles),
                runs[index].job.params.with_size(size),
                on_progress=reporters[index],
                should_stop=self._should_stop(runs[index]),
                cache_styles=preset,
            )
            for index, (content, styles, preset, size, _) in prepared
        ]
        assert isinstance(self.painter, BatchPainter)
        try:
            results = await asyncio.to_thread(self.painter.paint_batch, requests)
        except Exception as error:
            # Whatever broke the batch, painting its jobs one by one finds the job it was, if any: that
            # one fails alone and the others are painted.
            if is_out_of_memory(error):
                self._empty_gpu_cache()
                self._batch_cap = max(1, len(requests) // 2)
                log.warning("a batch of %d jobs ran out of GPU memory: one at a time instead", len(requests))
            else:
                log.exception("a batch of %d jobs failed: one at a time instead", len(requests))
            for index, _ in prepared:
                outcomes[index] = await self._outcome(self._paint(runs[index], reporters[index]))
            return outcomes  # type: ignore[return-value]
        for (index, (_, _, _, size, note)), result in zip(prepared, results, strict=True):
            outcomes[index] = result if isinstance(result, Exception) else (result, size, note)
        return outcomes  # type: ignore[return-value]

    @staticmethod
    async def _outcome(painting: Awaitable[_Painted]) -> _Painted | BaseException:
        try:
            return await painting
        except Exception as error:
            return error

    async def _paint(self, run: _Run, reporter: ProgressReporter) -> _Painted:
        """Paint one job at its size (clamped to the device); once more smaller if GPU memory runs out."""
        job = run.job
        content, styles, preset, size, note = await self._prepare(job)
        for attempt in (1, 2):
            reporter.expected = await self._expected_seconds(size)
            try:
                result = await asyncio.to_thread(
                    self.painter.paint,
                    content,
                    styles,
                    job.params.with_size(size),
                    on_progress=reporter,
                    should_stop=self._should_stop(run),
                    cache_styles=preset,
                )
                return result, size, note
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
                self._empty_gpu_cache()
                if attempt == 2:
                    raise PaintFailed(FailureCode.OUT_OF_MEMORY) from error
                smaller = max(64, round(size * OOM_SHRINK))
                log.warning(
                    "job %d ran out of GPU memory at %d px; retrying at %d px",
                    job.id,
                    size,
                    smaller,
                    extra={"job_id": job.id, "size": size},
                )
                size = smaller
                note = PaintNote(NoteCode.OOM_SHRUNK, size).encode()
        raise AssertionError("unreachable")

    async def _expected_seconds(self, size: int) -> float | None:
        """A painting's whole time at `size` px as measured: by this worker's last finished painting,
        else by the fleet's recent ones (the store's history); None when nothing was painted yet."""
        per_pixel = self._seconds_per_pixel
        if per_pixel is None:
            try:
                per_pixel = await self.store.seconds_per_pixel()
            except StoreUnavailable as error:  # the painting's own pace will do
                log.warning("no painting history from the store: %s", error)
        return per_pixel * size * size if per_pixel is not None else None

    def _fitting_size(self, job: Job) -> int:
        """The largest size this job's recipe and style scale fit in at worker start's free memory."""
        try:
            history = memory.history_pairs(get_recipe(job.params.recipe))
        except KeyError:  # the painter refuses an unknown recipe itself
            history = memory.MEASURED_HISTORY
        return memory.largest_size(self.memory_budget, job.params.style_scale, history)

    @staticmethod
    def _empty_gpu_cache() -> None:
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()


# --- the command -----------------------------------------------------------------------------


def real_painter(config: EngineConfig) -> Painter:
    """The VGG-19 painter on the configured device (imports torch)."""
    from engine.painter import Painter as VGGPainter

    return VGGPainter(device=config.device, cache_dir=config.common.cache_dir, precision=config.precision)


async def serve(config: EngineConfig, make_painter: Callable[[EngineConfig], Painter] = real_painter) -> int:
    """Open the store, load the network once, install signal handlers and run the worker loop."""
    loop = asyncio.get_running_loop()
    handle_loop_exceptions(loop)
    stop_early = asyncio.Event()
    worker: Worker | None = None

    def on_signal(signum: int) -> None:
        log.info("got %s: finishing the current step and handing the job back", signal.Signals(signum).name)
        stop_early.set()
        if worker is not None:
            worker.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    store = await open_store(config.common)
    try:
        painter = await asyncio.to_thread(make_painter, config)
        if stop_early.is_set():
            return 0
        worker = Worker(config, store, painter, metrics=EngineMetrics() if config.metrics_port else None)
        await worker.serve()
    finally:
        await store.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    return 0


def main(
    argv: list[str] | None = None, make_painter: Callable[[EngineConfig], Painter] = real_painter
) -> int:
    """`python -m engine serve`; settings come from the environment / .env (tests pass `make_painter`)."""
    parser = argparse.ArgumentParser(prog="python -m engine serve", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    config = EngineConfig.from_env()  # a ConfigError exits 78 (drawme.entry)
    setup_logging(config.common, "engine")
    secure_data_dir(config.common.data_dir)
    return asyncio.run(serve(config, make_painter))


if __name__ == "__main__":
    sys.exit(main())
