"""GPU benchmark (issue 12): the engine on one GPU, every figure from one run of one command.

Sections, in order (each one's tables go to stdout and to OUT/gpu.md, raw rows to OUT/gpu.jsonl):

1. **single**: one `default` painting at 512, 768 and 1024 px (bf16 weights + channels_last, what
   Painter does on CUDA): the first call on a photo shape never seen before (cuDNN autotunes every new
   shape, so that cost is shown, not warmed away), then the median of --repeats warm calls, split into
   face detection, style targets, content targets and optimisation; steps per second; peak GPU memory.
2. **tuned**: cuDNN's benchmark mode against its heuristics: first call on a new shape, and warm.
3. **precision**: bf16 weights (the default), bf16 autocast and fp32 on the same pictures at 512 px: each
   painting's final losses, all re-scored by one fp32 evaluation of the engine's own objective; time.
4. **batch**: paintings per minute at 512 px with batches of 1, 2, 4, 8 and 16 jobs (Painter.paint_batch,
   per-image L-BFGS), each batch size warmed once; peak memory; what `batch_limit` would choose.
5. **worker**: the worker end to end: --worker-jobs users' jobs of one shape in a SQLite store, claimed
   (in batches on a GPU) and painted by one engine.worker.Worker: claims, seconds, jobs/min, statuses.
6. **compile**: `torch.compile` of the VGG feature network (not the optimiser): compile time, then one
   512 px painting against the eager one.

    python bench/gpu.py --out "$OUT"                    # on the device, about 5 minutes
    python bench/gpu.py --device cpu --smoke --out /tmp/gpu   # does it run? (tiny sizes, CPU)

Without a CUDA device (and without --device cpu) it says so and exits 0. --budget stops starting new
sections after that many seconds, so the whole run fits the device lease.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # the checkout's packages, even without an install

PHOTOS = ROOT / "tests" / "data" / "photos"
PRESETS = ROOT / "drawme" / "paintings"
PHOTO_NAMES = ("astronaut", "obama", "biden", "chelsea", "coffee", "tubingen")
STYLE_NAMES = ("starry_night", "the_scream", "great_wave", "composition_vii", "shipwreck", "udnie")
TARGETS = {512: 1.5, 1024: 6.0}  # seconds for one `default` painting (issue 12)
ASPECT = 3 / 4  # every batched photo is cropped to 4:3 landscape, so they share one canvas plan


class Report:
    """Markdown tables to stdout and OUT/gpu.md, raw rows to OUT/gpu.jsonl."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.markdown = (out / "gpu.md").open("a", encoding="utf-8")
        self.rows = (out / "gpu.jsonl").open("a", encoding="utf-8")

    def line(self, text: str = "") -> None:
        print(text, flush=True)
        self.markdown.write(text + "\n")
        self.markdown.flush()

    def table(self, header: list[str]) -> Callable[[list[object]], None]:
        self.line("| " + " | ".join(header) + " |")
        self.line("|" + "---|" * len(header))
        return lambda cells: self.line("| " + " | ".join(str(cell) for cell in cells) + " |")

    def row(self, section: str, **values: object) -> None:
        self.rows.write(json.dumps({"section": section, **values}) + "\n")
        self.rows.flush()


class Bench:
    def __init__(self, args: argparse.Namespace, report: Report) -> None:
        import torch

        from engine.painter import Painter

        self.torch = torch
        self.args = args
        self.report = report
        self.device = torch.device(args.device)
        self.gpu = self.device.type == "cuda"
        self.painter = Painter(device=args.device)
        self.started = time.perf_counter()
        self.photos = {name: self.load(PHOTOS / f"{name}.jpg") for name in PHOTO_NAMES}
        self.styles = {name: self.load(PRESETS / f"{name}.jpg") for name in STYLE_NAMES}
        self.shapes_seen = 0

    @staticmethod
    def load(path: Path):
        from drawme.decoding import load_image

        return load_image(path)

    # -- helpers ---------------------------------------------------------------------------------------

    def sync(self) -> None:
        if self.gpu:
            self.torch.cuda.synchronize(self.device)

    def peak_mib(self) -> str:
        return f"{self.torch.cuda.max_memory_allocated(self.device) / 2**20:.0f}" if self.gpu else "—"

    def reset_peak(self) -> None:
        if self.gpu:
            self.torch.cuda.reset_peak_memory_stats(self.device)

    def cropped(self, name: str, aspect: float = ASPECT):
        """The photo centre-cropped to height/width = `aspect` (one canvas plan for every photo)."""
        photo = self.photos[name]
        width, height = photo.size
        if height / width > aspect:
            keep = round(width * aspect)
            top = (height - keep) // 2
            return photo.crop((0, top, width, top + keep))
        keep = round(height / aspect)
        left = (width - keep) // 2
        return photo.crop((left, 0, left + keep, height))

    def fresh_shape(self):
        """The astronaut at an aspect no earlier call used: cuDNN has tuned nothing for its canvases."""
        self.shapes_seen += 1
        return self.cropped("astronaut", 0.70 + 0.013 * self.shapes_seen)

    @contextlib.contextmanager
    def split(self) -> Iterator[dict[str, float]]:
        """Seconds spent in face detection, style targets and content targets while the block runs."""
        from engine import run as module

        spent = {"faces": 0.0, "style": 0.0, "content": 0.0}
        originals = {
            "style": module.PaintingRun.style_targets,
            "content": module.PaintingRun.content_targets,
        }

        def timed(key: str, function: Callable) -> Callable:
            def wrapper(*args, **kwargs):
                self.sync()
                start = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    self.sync()
                    spent[key] += time.perf_counter() - start

            return wrapper

        module.PaintingRun.style_targets = timed("style", originals["style"])
        module.PaintingRun.content_targets = timed("content", originals["content"])
        self.painter.detect_faces = timed("faces", type(self.painter).detect_faces.__get__(self.painter))
        try:
            yield spent
        finally:
            module.PaintingRun.style_targets = originals["style"]
            module.PaintingRun.content_targets = originals["content"]
            del self.painter.detect_faces  # the class's own again

    def paint(self, photo, style, size: int, recipe: str = "default", painter=None):
        from drawme.models import PaintParams

        painter = painter or self.painter
        self.sync()
        start = time.perf_counter()
        result = painter.paint(photo, [style], PaintParams(size=size, recipe=recipe))
        self.sync()
        return time.perf_counter() - start, result

    def over_budget(self, section: str) -> bool:
        spent = time.perf_counter() - self.started
        if spent > self.args.budget:
            self.report.line(f"\n*{section}: skipped, {spent:.0f} s spent of a {self.args.budget} s budget*")
            return True
        return False

    # -- sections --------------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """CUDA context, kernels, the VGG weights on the device, dlib: a tiny painting, timed apart."""
        seconds, _ = self.paint(self.cropped("coffee"), self.styles["udnie"], 64, "draft")
        self.report.line(f"process warm-up (context, weights, first kernels): {seconds:.2f} s\n")
        self.report.row("warm_up", seconds=seconds)

    def single(self) -> None:
        self.report.line("### One `default` painting (bf16 weights + channels_last)\n")
        add = self.report.table(
            [
                "size",
                "first call, new shape s",
                f"warm median s (of {self.args.repeats})",
                "faces s",
                "style targets s",
                "content targets s",
                "optimisation s",
                "steps/s",
                "peak GPU MiB",
                "target",
            ]
        )
        style = self.styles["starry_night"]
        for size in self.args.sizes:
            photo = self.fresh_shape()
            cold, _ = self.paint(photo, style, size)
            self.reset_peak()
            runs = []
            for _ in range(self.args.repeats):
                with self.split() as spent:
                    seconds, result = self.paint(photo, style, size)
                runs.append((seconds, dict(spent), result.steps))
            seconds = statistics.median(run[0] for run in runs)
            middle = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
            spent = middle[1]
            optimisation = middle[0] - sum(spent.values())
            target = TARGETS.get(size)
            verdict = "" if target is None else f"≤ {target:g} s {'✓' if seconds <= target else '✗'}"
            add(
                [
                    size,
                    f"{cold:.2f}",
                    f"{seconds:.2f}",
                    f"{spent['faces']:.3f}",
                    f"{spent['style']:.3f}",
                    f"{spent['content']:.3f}",
                    f"{optimisation:.2f}",
                    f"{middle[2] / optimisation:.0f}",
                    self.peak_mib(),
                    verdict,
                ]
            )
            self.report.row(
                "single", size=size, cold=cold, runs=[run[0] for run in runs], split=spent, steps=middle[2]
            )
        self.report.line()

    def tuned(self) -> None:
        """cuDNN's benchmark mode (Painter(tune_convolutions=True)) against its heuristics (the default)."""
        from engine.painter import Painter

        self.report.line("### cuDNN benchmark mode against its heuristics (`default`)\n")
        warm_label = f"warm median s (of {self.args.repeats})"
        add = self.report.table(["size", "cuDNN", "first call, new shape s", warm_label])
        style = self.styles["starry_night"]
        tuned = Painter(device=self.args.device, tune_convolutions=True)
        for size in self.args.tuned_sizes:
            for label, painter in (("heuristics (default)", self.painter), ("benchmark", tuned)):
                self.torch.backends.cudnn.benchmark = painter is tuned
                photo = self.fresh_shape()
                cold, _ = self.paint(photo, style, size, painter=painter)
                warm = [self.paint(photo, style, size, painter=painter)[0] for _ in range(self.args.repeats)]
                add([size, label, f"{cold:.2f}", f"{statistics.median(warm):.2f}"])
                self.report.row("tuned", size=size, variant=label, cold=cold, warm=warm)
        self.torch.backends.cudnn.benchmark = False
        self.report.line()

    def precision(self) -> None:
        """bf16 + channels_last against fp32, each final painting re-scored by one fp32 objective."""
        from gpu_variants import make_painter  # bench/gpu_variants.py

        from drawme.models import PaintParams
        from drawme.painting import PaintRequest
        from engine.canvas import image_to_tensor

        size = self.args.precision_size
        self.report.line(f"### bf16 against fp32 at {size} px (losses re-scored in fp32)\n")
        add = self.report.table(
            ["photo × style", "variant", "s", "content", "style", "tv", "total", "total / fp32"]
        )
        fp32 = make_painter(bf16=False, channels_last=False, device=self.args.device)
        autocast = make_painter(bf16=True, channels_last=True, device=self.args.device)
        variants = (("bf16 weights (default)", self.painter), ("bf16 autocast", autocast), ("fp32", fp32))
        for photo_name, style_name in (("astronaut", "starry_night"), ("obama", "the_scream")):
            photo, style = self.cropped(photo_name), self.styles[style_name]
            totals = {}
            rows = []
            for label, painter in variants:
                seconds, result = self.paint(photo, style, size, painter=painter)
                run = fp32.run(PaintRequest(photo, (style,), PaintParams(size=size)))
                canvas = run.canvas_size(run.stages[-1])
                pixels = image_to_tensor(run.content, canvas, "lanczos").to(fp32.device)
                run.canvas = image_to_tensor(result.image, canvas, "lanczos").to(fp32.device)
                with self.torch.no_grad():
                    run.objective(
                        run.content_targets(pixels), run.style_targets(canvas), run.face_guides(pixels)
                    )
                totals[label] = run.losses["total"]
                rows.append((label, seconds, dict(run.losses)))
            for label, seconds, losses in rows:
                add(
                    [
                        f"{photo_name} × {style_name}",
                        label,
                        f"{seconds:.2f}",
                        f"{losses['content']:.4g}",
                        f"{losses['style']:.4g}",
                        f"{losses['tv']:.4g}",
                        f"{losses['total']:.4g}",
                        f"{losses['total'] / totals['fp32']:.3f}",
                    ]
                )
                pair = f"{photo_name}/{style_name}"
                self.report.row("precision", pair=pair, variant=label, seconds=seconds, **losses)
        self.report.line()

    def batch(self) -> None:
        from drawme.models import PaintParams
        from drawme.painting import PaintRequest

        size = self.args.batch_px
        params = PaintParams(size=size)
        limit = self.painter.batch_limit(params)
        self.report.line(f"### Several jobs in one batch at {size} px (`default`)\n")
        self.report.line(f"batch_limit({size} px) on this device, now: {limit}\n")
        add = self.report.table(
            ["batch", "s", "jobs/min", "× one at a time", "s per job", "faces s", "targets s", "peak GPU MiB"]
        )
        pairs = [(p, s) for s in STYLE_NAMES for p in PHOTO_NAMES]
        base = None
        for count in self.args.batches:
            requests = [
                PaintRequest(self.cropped(photo), (self.styles[style],), params)
                for photo, style in pairs[:count]
            ]
            warm = [PaintRequest(r.content, r.styles, params, iterations=3) for r in requests]
            self.painter.paint_batch(warm)  # cuDNN tunes this batch size's shapes once
            self.reset_peak()
            with self.split() as spent:
                self.sync()
                start = time.perf_counter()
                outcomes = self.painter.paint_batch(requests)
                self.sync()
                seconds = time.perf_counter() - start
            failed = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
            if failed:
                raise failed[0]
            rate = 60 * count / seconds
            base = base or rate
            targets = spent["style"] + spent["content"]
            cells = [f"{seconds:.2f}", f"{rate:.1f}", f"{rate / base:.2f}", f"{seconds / count:.2f}"]
            add([count, *cells, f"{spent['faces']:.2f}", f"{targets:.2f}", self.peak_mib()])
            peak = self.peak_mib()
            self.report.row("batch", size=size, count=count, seconds=seconds, split=spent, peak_mib=peak)
        self.report.line()

    def worker(self) -> None:
        """The worker end to end: users' jobs of one shape in a SQLite store, claimed and painted by one
        engine.worker.Worker with this painter (batch claims, per-job leases, progress and results)."""
        import asyncio
        import io

        from drawme.config import CommonConfig, EngineConfig
        from drawme.models import JobRequest, JobStatus, PaintParams
        from drawme.store import JobStore
        from engine.worker import Worker

        size, count = self.args.batch_px, self.args.worker_jobs

        async def run() -> tuple[float, list[int], dict[str, int], int]:
            with tempfile.TemporaryDirectory() as folder:
                common = CommonConfig(data_dir=Path(folder))
                store = await JobStore.open(common)
                try:
                    config = EngineConfig(common=common, device=self.args.device, poll_seconds=0.05)
                    worker = Worker(config, store, self.painter, worker_id="bench")
                    jobs = []
                    for user in range(1, count + 1):
                        photo = self.cropped(PHOTO_NAMES[user % len(PHOTO_NAMES)])
                        buffer = io.BytesIO()
                        photo.save(buffer, "JPEG", quality=92)
                        image = await store.store_image(user, buffer.getvalue(), *photo.size)
                        params = PaintParams(size=size)
                        style = STYLE_NAMES[user % len(STYLE_NAMES)]
                        request = JobRequest(user, user, image.id, params, style_preset=style)
                        jobs.append(await store.submit(request))
                    limit = worker.batch_limit()
                    batches = []
                    start = time.perf_counter()
                    while True:
                        claimed = await worker.run_once()
                        if claimed is None:
                            break
                        batches.append(claimed.id)
                    seconds = time.perf_counter() - start
                    statuses: dict[str, int] = {}
                    for job in jobs:
                        final = await store.get(job.id)
                        statuses[str(final.status)] = statuses.get(str(final.status), 0) + 1
                        assert final.status != JobStatus.DONE or await store.get_result(job.id)
                    return seconds, batches, statuses, limit
                finally:
                    await store.close()

        seconds, batches, statuses, limit = asyncio.run(run())
        self.report.line(f"### The worker end to end: {count} users' jobs at {size} px, SQLite store\n")
        add = self.report.table(["jobs", "claims", "claim limit", "s", "jobs/min", "final statuses"])
        add([count, len(batches), limit, f"{seconds:.2f}", f"{60 * count / seconds:.1f}", statuses])
        figures = {"jobs": count, "claims": len(batches), "limit": limit, "seconds": seconds}
        self.report.row("worker", statuses=statuses, **figures)
        self.report.line()

    def compile(self) -> None:
        """torch.compile of the feature network; the optimiser stays eager."""
        from engine.painter import Painter

        size = self.args.batch_px
        style, photo = self.styles["starry_night"], self.cropped("astronaut")
        eager = [self.paint(photo, style, size)[0] for _ in range(self.args.repeats)]
        compiled_painter = Painter(device=self.args.device)
        original = compiled_painter.network

        def network(layers, precision):
            if (layers, precision) not in compiled_painter._networks:
                # dynamic: one graph for the three canvas sizes and the style pictures' sizes.
                compiled = self.torch.compile(original(layers, precision), dynamic=True)
                compiled_painter._networks[(layers, precision)] = compiled
            return compiled_painter._networks[(layers, precision)]

        compiled_painter.network = network
        self.torch._dynamo.config.recompile_limit = 64
        first, _ = self.paint(photo, style, size, painter=compiled_painter)
        repeats = range(self.args.repeats)
        compiled = [self.paint(photo, style, size, painter=compiled_painter)[0] for _ in repeats]
        self.report.line(f"### torch.compile of the VGG feature network, {size} px `default`\n")
        add = self.report.table(["variant", "first call s (compiles)", "median s", "× eager"])
        add(["eager", "—", f"{statistics.median(eager):.2f}", "1.00"])
        ratio = statistics.median(compiled) / statistics.median(eager)
        add(["compiled", f"{first:.1f}", f"{statistics.median(compiled):.2f}", f"{ratio:.2f}"])
        self.report.row("compile", eager=eager, first=first, compiled=compiled)
        self.report.line()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--sizes", default="512,768,1024", help="single-painting sizes (px)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision-size", type=int, default=512)
    parser.add_argument("--tuned-sizes", default="512,1024")
    parser.add_argument("--batch-px", type=int, default=512)
    parser.add_argument("--batches", default="1,2,4,8,16")
    parser.add_argument("--worker-jobs", type=int, default=16, help="jobs for the worker section")
    parser.add_argument("--sections", default="single,tuned,batch,precision,compile")
    parser.add_argument("--budget", type=float, default=420.0, help="start no section after this many s")
    default_out = os.environ.get("OUT") or os.path.join(tempfile.gettempdir(), "drawme-bench-gpu")
    parser.add_argument("--out", default=default_out, help="where gpu.md and gpu.jsonl go ($OUT)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.sizes, args.repeats, args.batches, args.tuned_sizes = "64,96", 1, "1,2,3", "64"
        args.precision_size = args.batch_px = 64
        args.worker_jobs = 3

    args.sizes = [int(size) for size in str(args.sizes).split(",")]
    args.batches = [int(count) for count in str(args.batches).split(",")]
    args.tuned_sizes = [int(size) for size in str(args.tuned_sizes).split(",")]
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: nothing to measure (bench/gpu.py times the engine on a GPU)")
        return 0
    sys.path.insert(0, str(HERE))
    report = Report(Path(args.out))
    command = "python bench/gpu.py " + " ".join(sys.argv[1:] if argv is None else argv)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "the CPU (a dry run)"
    versions = f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}"
    report.line(f"## `{command.strip()}`\n\n{name}, {versions}\n")
    bench = Bench(args, report)
    bench.warm_up()
    failures = 0
    for section in args.sections.split(","):
        if bench.over_budget(section):
            continue
        try:
            getattr(bench, section)()
        except Exception:  # one section's failure must not cost the others' figures (one device run)
            failures += 1
            report.line(f"\n*{section} failed:*\n```\n{traceback.format_exc()}```\n")
    report.line(f"total {time.perf_counter() - bench.started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
