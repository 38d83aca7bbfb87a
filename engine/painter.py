"""Paint a photo in the style of one or more paintings: the engine's public entry point.

`Painter` (the `drawme.painting.Painter` protocol) owns the frozen VGG-19 on one device; `Painter.paint`
runs a recipe (engine.recipes) on a content photo and style images and returns the painting. The
canvas is optimised directly in RGB 0..255 with L-BFGS, scale by scale (coarse to fine), each scale
warm-started from the previous one.
"""

from __future__ import annotations

import multiprocessing
import os
import pathlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial

import torch
from PIL import Image

from drawme.models import PaintParams
from drawme.painting import AUTO, Face, PaintRequest, PaintResult, Precision, Progress
from engine import memory
from engine.faces import FaceDetector, HogFaceDetector, detect_faces
from engine.objective import Features
from engine.optimise import Batch
from engine.recipes import Recipe, get_recipe
from engine.run import PaintingRun, guided
from engine.style_cache import StyleCache
from engine.vgg import VGGFeatures

MAX_DETECTION_PROCESSES = 8


def cpu_has_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX): the halving was measured only
    on such CPUs, so `auto` keeps float32 on the others."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def pick_precision(device: torch.device, name: str = AUTO) -> Precision:
    """"auto": bfloat16 on CUDA and on a CPU with native bfloat16, float32 elsewhere (MPS included)."""
    if name != AUTO:
        return Precision(name)
    if device.type == "cuda" or (device.type == "cpu" and cpu_has_bfloat16()):
        return Precision.BFLOAT16
    return Precision.FLOAT32


def pick_device(name: str = "auto") -> torch.device:
    """"auto": cuda, then mps, then cpu; anything else is passed to torch.device."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class Painter:
    """Owns the frozen VGG-19 on one device; build once, paint many times (one paint at a time)."""

    def __init__(
        self,
        device: str = "auto",
        cache_dir: pathlib.Path | None = None,
        face_detector: FaceDetector | None = None,
        tune_convolutions: bool = False,
        precision: str = AUTO,
    ) -> None:
        """`tune_convolutions`: cuDNN's benchmark mode, which times every convolution algorithm for each
        new shape: about 10 s on the first photo of each shape on an H200, for no faster painting
        afterwards (docs/PERFORMANCE.md "On the GPU"), so off unless every photo has one shape.
        `precision`: "auto" (pick_precision), "float32" or "bfloat16"."""
        self.device = pick_device(device)
        self.precision = pick_precision(self.device, precision)
        self.style_cache = StyleCache(cache_dir, self.precision) if cache_dir is not None else None
        self._face_detector = face_detector
        self._detection_pool: ProcessPoolExecutor | None = None
        self._networks: dict[tuple[tuple[str, ...], Precision], VGGFeatures] = {}
        self._gpu = self.device.type == "cuda"
        if self._gpu:
            torch.backends.cudnn.benchmark = tune_convolutions

    def precision_for(self, recipe: Recipe) -> Precision:
        """The painter's precision, but float32 for a reference recipe, which reproduces its source."""
        return Precision.FLOAT32 if recipe.reference else self.precision

    def network(self, layers: tuple[str, ...], precision: Precision) -> VGGFeatures:
        """The VGG truncated after the deepest of `layers`, on this painter's device in `precision`
        (built once)."""
        key = (layers, precision)
        if key not in self._networks:
            net = VGGFeatures(layers).to(self.device)
            if precision is Precision.BFLOAT16:
                # bfloat16 weights held once: autocast would cast every weight again at each evaluation
                # (docs/PERFORMANCE.md "On the GPU"); Grams and losses stay float32 (engine.losses).
                net = net.to(memory_format=torch.channels_last).convolve_in(torch.bfloat16)
            self._networks[key] = net
        return self._networks[key]

    def face_detector(self) -> FaceDetector:
        """The detector given at construction, else dlib's HOG detector (built on first use)."""
        if self._face_detector is None:
            self._face_detector = HogFaceDetector()
        return self._face_detector

    @staticmethod
    def features(
        net: VGGFeatures, precision: Precision, rgb: torch.Tensor, layers: Sequence[str]
    ) -> dict[str, torch.Tensor]:
        """Activations of `rgb` at `layers` (NHWC convolutions in bfloat16 when that is the precision)."""
        if precision is Precision.BFLOAT16:
            rgb = rgb.contiguous(memory_format=torch.channels_last)
        return net(rgb, layers)

    def network_features(self, layers: tuple[str, ...], precision: Precision) -> Features:
        """The features function of `network(layers, precision)`: what a painting run and its batch
        score with."""
        return partial(self.features, self.network(layers, precision), precision)

    def run(self, request: PaintRequest, faces: tuple[Face, ...] | None = None) -> PaintingRun:
        """One painting of `request`, ready to paint; `faces`: the photo's, found beforehand
        (detect_faces), or None to detect them here when the request protects faces."""
        if faces is None:
            faces = self.detect_faces([request])[id(request)] if guided(request) else ()
        precision = self.precision_for(get_recipe(request.params.recipe))
        network = partial(self.network_features, precision=precision)
        return PaintingRun(request, network, self.device, self.style_cache, faces)

    def detect_faces(self, requests: Sequence[PaintRequest]) -> dict[int, tuple[Face, ...]]:
        """The faces of each request's photo, by id(request): in parallel processes when there are
        several and the detector is dlib's, which holds the GIL (16 photos: 5 s on one core)."""
        detector = self.face_detector()
        if len(requests) > 1 and type(detector) is HogFaceDetector:
            if self._detection_pool is None:
                workers = min(MAX_DETECTION_PROCESSES, os.cpu_count() or 1)
                context = multiprocessing.get_context("spawn")  # no fork of a process holding CUDA
                self._detection_pool = ProcessPoolExecutor(workers, mp_context=context)
            found = list(self._detection_pool.map(detect_faces, [r.content for r in requests]))
        else:
            found = [detector.detect(request.content) for request in requests]
        return {id(request): tuple(faces) for request, faces in zip(requests, found, strict=True)}

    def batch_limit(self, params: PaintParams) -> int:
        """Paintings like `params` that fit in one batch in the device's free memory now (1 on the CPU:
        there a batch is no faster than one painting after another, and slower to see)."""
        if not self._gpu:
            return 1
        recipe = get_recipe(params.recipe)
        history = memory.history_pairs(recipe)
        # torch keeps freed blocks cached for reuse: free to us, though not to the driver's count.
        cached = torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)
        free = memory.available_bytes(self.device) + cached
        return max(1, memory.batch_size(free, params.size, params.style_scale, history))

    def paint(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        params: PaintParams = PaintParams(),  # frozen, so one shared default is safe
        *,
        on_progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        cache_styles: bool = False,
        iterations: int | None = None,
        preview_every: int = 0,
    ) -> PaintResult:
        """Paint `content` in the style of `styles` (RGB PIL images) following `params`, at `params.size`.

        on_progress gets a Progress after every loss evaluation (with a preview after the first few
        steps (engine.optimise.FIRST_PREVIEW_STEP), at each scale end and every `preview_every` steps).
        should_stop is polled before every evaluation; when it returns
        True the painting so far comes back with cancelled=True. cache_styles keeps the styles' Gram
        targets on disk under cache_dir (for presets). `iterations` overrides the recipe's steps
        (PaintRequest). torch.OutOfMemoryError propagates.
        """
        request = PaintRequest(
            content, tuple(styles), params, on_progress, should_stop, cache_styles, iterations, preview_every
        )
        outcome = self.paint_batch([request])[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def paint_batch(self, requests: Sequence[PaintRequest]) -> list[PaintResult | Exception]:
        """Paint several requests, those with one canvas plan (`PaintingRun.plan`) together in one batch.

        Each keeps its own losses, L-BFGS history (engine.lbfgs), progress, cancel and result; a request
        whose params are refused, or whose callbacks raise, gets its exception in its place and the
        others go on. torch.OutOfMemoryError propagates: the caller retries with fewer.
        """
        outcomes: list[PaintResult | Exception | None] = [None] * len(requests)
        groups: dict[tuple, list[tuple[int, PaintingRun]]] = {}
        found = self.detect_faces([request for request in requests if guided(request)])
        for position, request in enumerate(requests):
            try:
                run = self.run(request, found.get(id(request), ()))
            except (ValueError, KeyError) as error:
                outcomes[position] = error
                continue
            # A recipe that line-searches (the seed) needs torch's LBFGS: its jobs paint one at a time.
            key = run.plan if run.batchable else ("alone", position)
            groups.setdefault(key, []).append((position, run))
        try:
            for group in groups.values():
                runs = [run for _, run in group]
                recipe = runs[0].recipe
                features = self.network_features(recipe.layers, self.precision_for(recipe))
                results = Batch(features, runs).run()
                for (position, _), result in zip(group, results, strict=True):
                    outcomes[position] = result
        except torch.OutOfMemoryError:
            # Hand the freed blocks back before the caller retries at a smaller size or batch.
            if self._gpu:
                torch.cuda.empty_cache()
            raise
        assert all(outcome is not None for outcome in outcomes)
        return outcomes  # type: ignore[return-value]
