"""drawme.decoding: every picture a user may send becomes a plain RGB image, or a clear ImageError.

Every fixture is generated here with Pillow, so each test states exactly what it feeds in.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageCms

from drawme.decoding import (
    MIN_SIDE,
    AnimatedImage,
    CorruptImage,
    ImageCode,
    ImageError,
    ImageTooLarge,
    ImageTooSmall,
    NotAnImage,
    load_image,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def encode(image: Image.Image, format: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **params)
    return buffer.getvalue()


def noisy(size=(96, 80)) -> Image.Image:
    """A photo-like image that does not compress to nothing (so truncation bites)."""
    return Image.effect_noise(size, 64).convert("RGB")


def near(pixel, expected, tolerance=8) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


# --- ICC: a hand-built "linear light" RGB profile (sRGB primaries, gamma 1.0) ----------------------


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_tag(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + bytes(4) + _s15(x) + _s15(y) + _s15(z)


def linear_rgb_profile() -> bytes:
    """A valid ICC v2 display profile whose tone curves are gamma 1.0 (linear light).

    Pillow can only create sRGB/LAB/XYZ profiles, so this builds a matrix/TRC profile by hand: a pixel
    of 128 in linear light is sRGB ~188, which makes the conversion easy to see.
    """
    description = b"linear sRGB\0"
    tags = {
        b"desc": b"desc" + bytes(4) + struct.pack(">I", len(description)) + description + bytes(78),
        b"cprt": b"text" + bytes(4) + b"public domain\0",
        b"wtpt": _xyz_tag(0.9642, 1.0, 0.8249),  # D50: primaries below are already D50-adapted
        b"rXYZ": _xyz_tag(0.4361, 0.2225, 0.0139),
        b"gXYZ": _xyz_tag(0.3851, 0.7169, 0.0971),
        b"bXYZ": _xyz_tag(0.1431, 0.0606, 0.7141),
        b"rTRC": b"curv" + bytes(4) + struct.pack(">IH", 1, 0x0100) + bytes(2),  # gamma 1.0
    }
    tags[b"gTRC"] = tags[b"bTRC"] = tags[b"rTRC"]
    table_size = 4 + 12 * len(tags)
    offset, table, body = 128 + table_size, b"", b""
    for signature, data in tags.items():
        data += bytes(-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = 128 + table_size + len(body)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + bytes(12)
        + b"acsp"
        + bytes(4 + 4 + 4 + 4 + 8 + 4)
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
    )
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body


# --- the happy paths --------------------------------------------------------------------------------


def test_plain_jpeg_from_bytes_and_from_path(tmp_path):
    data = encode(Image.new("RGB", (100, 70), BLUE), "JPEG", quality=95)
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    for source in (data, path, str(path)):
        image = load_image(source)
        assert image.mode == "RGB" and image.size == (100, 70)
        assert near(image.getpixel((50, 35)), BLUE, 10)


def test_exif_orientation_is_applied():
    # Stored landscape, red on the left; Orientation=6 means "rotate 90° clockwise to display".
    stored = Image.new("RGB", (120, 80), GREEN)
    stored.paste(RED, (0, 0, 30, 80))
    exif = Image.Exif()
    exif[0x0112] = 6
    image = load_image(encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert image.size == (80, 120)  # now portrait
    assert near(image.getpixel((40, 5)), RED, 30)  # the red strip is now along the top
    assert near(image.getpixel((40, 115)), GREEN, 30)


def test_icc_profile_is_converted_to_srgb():
    grey = Image.new("RGB", (64, 64), (128, 128, 128))
    image = load_image(encode(grey, "PNG", icc_profile=linear_rgb_profile()))
    # Linear 128/255 encodes to sRGB ~188; a loader that ignores the profile would return 128.
    assert near(image.getpixel((10, 10)), (188, 188, 188), 3)


def test_srgb_profile_round_trip_keeps_colours():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    colour = (200, 120, 40)
    image = load_image(encode(Image.new("RGB", (64, 64), colour), "PNG", icc_profile=srgb))
    assert near(image.getpixel((5, 5)), colour, 2)


def test_transparency_survives_colour_management():
    picture = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    image = load_image(encode(picture, "PNG", icc_profile=linear_rgb_profile()))
    assert near(image.getpixel((5, 5)), WHITE, 0)


def test_broken_icc_profile_keeps_the_photo():
    image = load_image(encode(Image.new("RGB", (64, 64), BLUE), "PNG", icc_profile=b"not a profile at all"))
    assert image.mode == "RGB" and near(image.getpixel((1, 1)), BLUE, 0)


def test_cmyk_jpeg_becomes_rgb():
    cmyk_red = Image.new("CMYK", (80, 64), (0, 255, 255, 0))
    image = load_image(encode(cmyk_red, "JPEG", quality=95))
    assert image.mode == "RGB"
    assert near(image.getpixel((40, 32)), RED, 30)


def test_palette_image_becomes_rgb():
    image = load_image(encode(Image.new("RGB", (64, 64), GREEN).convert("P"), "PNG"))
    assert image.mode == "RGB" and near(image.getpixel((3, 3)), GREEN, 0)


def test_palette_transparency_is_flattened_on_white():
    paletted = Image.new("P", (64, 64), 0)
    paletted.putpalette([0, 0, 0, *RED])  # index 0 black (transparent), index 1 red
    paletted.paste(1, (0, 0, 32, 64))
    image = load_image(encode(paletted, "GIF", transparency=0))
    assert image.mode == "RGB"
    assert near(image.getpixel((10, 10)), RED, 0)
    assert near(image.getpixel((50, 10)), WHITE, 0)  # transparent black shows as white, not black


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    image = load_image(encode(Image.new("I;16", (64, 64), 32768), "PNG"))
    assert image.mode == "RGB"
    assert near(image.getpixel((0, 0)), (128, 128, 128), 1)


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_alpha_is_flattened_on_white(mode):
    picture = Image.new("RGBA", (64, 64), (0, 0, 0, 0))  # fully transparent black
    picture.paste((0, 0, 0, 255), (0, 0, 32, 64))  # opaque black on the left half
    image = load_image(encode(picture.convert(mode), "PNG"))
    assert image.mode == "RGB"
    assert near(image.getpixel((10, 10)), (0, 0, 0), 0)
    assert near(image.getpixel((50, 10)), WHITE, 0)


def test_half_transparent_pixels_are_blended_with_white():
    image = load_image(encode(Image.new("RGBA", (64, 64), (255, 0, 0, 128)), "PNG"))
    assert near(image.getpixel((0, 0)), (255, 127, 127), 2)


def test_greyscale_and_bilevel_become_rgb():
    for picture in (Image.new("L", (64, 64), 90), Image.new("1", (64, 64), 1)):
        image = load_image(encode(picture, "PNG"))
        assert image.mode == "RGB" and image.getpixel((0, 0))[0] == image.getpixel((0, 0))[2]


def test_multi_picture_jpeg_from_a_phone_is_a_still_photo():
    # Phones save MPO files (a photo plus a depth map or preview): the first picture is the photo.
    first, second = Image.new("RGB", (96, 64), RED), Image.new("RGB", (48, 32), BLUE)
    data = encode(first, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    image = load_image(data)
    assert image.size == (96, 64) and near(image.getpixel((48, 32)), RED, 30)


def test_webp_still_loads():
    image = load_image(encode(Image.new("RGB", (64, 64), BLUE), "WEBP", lossless=True))
    assert near(image.getpixel((0, 0)), BLUE, 0)


# --- refusals ---------------------------------------------------------------------------------------


def png_with_declared_size(width: int, height: int) -> bytes:
    """A PNG whose header claims `width`×`height` pixels but whose data is a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [8_000, 100_000])  # 64 MP (over our limit), 10 GP (over Pillow's)
def test_decompression_bomb_is_refused_from_the_header(side):
    # Allocating 100_000² RGB pixels would need 30 GB: refusing at all proves nothing was allocated.
    with pytest.raises(ImageTooLarge):
        load_image(png_with_declared_size(side, side))


def test_max_pixels_is_configurable():
    data = encode(Image.new("RGB", (200, 200), BLUE), "PNG")
    with pytest.raises(ImageTooLarge):
        load_image(data, max_pixels=10_000)
    assert load_image(data, max_pixels=40_000).size == (200, 200)


def test_pixel_limit_does_not_leak_into_pillow():
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageTooLarge):
        load_image(png_with_declared_size(8_000, 8_000))
    load_image(encode(Image.new("RGB", (64, 64)), "PNG"))
    assert before == Image.MAX_IMAGE_PIXELS


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is a text file\n" * 20,
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
        b"\x00\x01\x02\x03" * 256,
    ],
    ids=["empty", "text", "pdf", "binary"],
)
def test_non_images_are_refused(data):
    with pytest.raises(NotAnImage):
        load_image(data)


@pytest.mark.parametrize("format", ["JPEG", "PNG"])
def test_truncated_files_are_corrupt(format):
    data = encode(noisy(), format)
    with pytest.raises(CorruptImage):
        load_image(data[: len(data) * 2 // 3])


def test_jpeg_cut_off_inside_its_header_is_corrupt():
    # Pillow fails in Image.open itself here ("Truncated File Read"), before any pixel is decoded.
    data = encode(noisy(), "JPEG")
    assert len(data) > 600
    with pytest.raises(CorruptImage):
        load_image(data[:600])


def test_png_with_damaged_pixel_data_is_corrupt():
    data = bytearray(encode(noisy(), "PNG"))
    start = data.index(b"IDAT") + 40
    data[start : start + 200] = bytes(200)  # zeroes in the middle of the compressed stream
    with pytest.raises(CorruptImage):
        load_image(bytes(data))


@pytest.mark.parametrize("size", [(32, 32), (300, MIN_SIDE - 1)])
def test_tiny_pictures_are_refused(size):
    with pytest.raises(ImageTooSmall):
        load_image(encode(Image.new("RGB", size, RED), "PNG"))


@pytest.mark.parametrize("format", ["GIF", "WEBP", "PNG"])
def test_animations_are_refused(format):
    frames = [Image.new("RGB", (64, 64), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(frames[0], format, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with pytest.raises(AnimatedImage):
        load_image(data)


@pytest.mark.parametrize(
    "error_class", [NotAnImage, CorruptImage, ImageTooLarge, ImageTooSmall, AnimatedImage]
)
def test_every_error_has_a_code_and_an_english_line(error_class):
    error = error_class()
    assert isinstance(error, ImageError) and isinstance(error.code, ImageCode)
    assert str(error) == error_class.english and "Traceback" not in str(error)


def test_error_codes_differ_so_the_user_knows_what_to_fix():
    classes = (NotAnImage, CorruptImage, ImageTooLarge, ImageTooSmall, AnimatedImage)
    assert len({cls.code for cls in classes}) == 5
    assert len({cls.english for cls in classes}) == 5


def test_cut_off_animation_is_refused_cleanly():
    frames = [noisy((64, 64)) for _ in range(3)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(ImageError):  # animated or corrupt, but never a raw decoder error
        load_image(data[: len(data) // 2])


# --- HEIC/HEIF (iPhones' files), made by pillow-heif itself -------------------------------------------
def heic(image: Image.Image, **params) -> bytes:
    data = encode(image, "HEIF", quality=95, **params)
    assert data[4:12] == b"ftypheic"
    return data


def left_blue_right_red(size=(120, 80)) -> Image.Image:
    image = Image.new("RGB", size, RED)
    image.paste(BLUE, (0, 0, size[0] // 2, size[1]))
    return image


def test_heic_is_decoded_and_turned_upright():
    exif = Image.Exif()
    exif[0x0112] = 6  # the phone was held upright: turn 90° clockwise to show
    image = load_image(heic(left_blue_right_red(), exif=exif.tobytes()))
    assert image.mode == "RGB" and image.size == (80, 120)
    # Turned once (never twice): the left half is now on top.
    assert near(image.getpixel((40, 20)), BLUE, 24) and near(image.getpixel((40, 100)), RED, 24)


def test_heic_colour_profile_is_converted_to_srgb():
    grey = Image.new("RGB", (64, 64), (128, 128, 128))
    image = load_image(heic(grey, icc_profile=linear_rgb_profile()))
    assert 180 <= image.getpixel((32, 32))[0] <= 196  # linear 128 is sRGB ~188


def test_heic_over_the_pixel_limit_is_refused_from_its_header():
    data = heic(left_blue_right_red((256, 256)))
    with pytest.raises(ImageTooLarge):
        load_image(data, max_pixels=256 * 255)
    with pytest.raises(ImageTooSmall):
        load_image(heic(left_blue_right_red((48, 48))))
