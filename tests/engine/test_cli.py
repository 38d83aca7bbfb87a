"""engine.cli: the seed's command line still works, presets work, bad input is one line and exit 2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from drawme.decoding import NotAnImage
from drawme.models import Blend
from engine.cli import (
    EXIT_USAGE,
    SEED_BY_FLAGS,
    ProgressBar,
    _StopOnInterrupt,
    build_parser,
    main,
    prepare,
    relative_weight,
)
from engine.recipes import DEFAULT, get_recipe

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "tests" / "data" / "photos" / "chelsea.jpg"  # 451×300
STYLE = ROOT / "drawme" / "paintings" / "udnie.jpg"


def expected_size(long_side: int) -> tuple[int, int]:
    """The photo's size with its longer side at `long_side`, aspect kept."""
    with Image.open(PHOTO) as photo:
        width, height = photo.size
    scale = long_side / max(width, height)
    return round(width * scale), round(height * scale)


def assert_one_line_error(capsys, *fragments: str) -> None:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


# --- painting (needs engine.painter; tiny sizes keep each run to seconds on a CPU) ---------------------


@pytest.mark.slow
def test_seed_command_line_saves_every_round(tmp_path, capsys):
    prefix = tmp_path / "results" / "prefix"
    status = main(
        [
            str(PHOTO),
            str(STYLE),
            str(prefix),
            "--iter",
            "2",
            "--content_weight",
            "0.025",
            "--style_weight",
            "1.0",
            "--tv_weight",
            "1.0",
            "--size",
            "64",
        ]
    )  # the Keras example's command line as it is: no --recipe
    assert status == 0
    for index in (0, 1):
        with Image.open(tmp_path / "results" / f"prefix_at_iteration_{index}.png") as saved:
            assert saved.mode == "RGB" and saved.size == expected_size(64)
    assert not (tmp_path / "results" / "prefix_at_iteration_2.png").exists()
    out, err = capsys.readouterr()
    assert "losses:" in out and all(term in out for term in ("content", "style", "tv", "total"))
    assert " s on cpu" in out
    assert "] 100% step 40/40" in err and "ETA" in err  # the progress bar (plain lines: not a tty)
    assert [line for line in err.splitlines() if line.startswith("note:")] == [SEED_BY_FLAGS]
    assert not (tmp_path / "results" / "prefix.png").exists()  # the Keras example writes per round only


@pytest.mark.slow
def test_preset_paints_to_prefix_png_with_previews(tmp_path, capsys):
    prefix = tmp_path / "astro"
    status = main(
        [
            str(PHOTO),
            "--preset",
            "starry_night",
            str(prefix),
            "--size",
            "64",
            "--recipe",
            "draft",
            "--iter",
            "3",
            "--content-weight",
            "0.02",
            "--preview-every",
            "2",
            "-q",
        ]
    )
    assert status == 0
    previews = sorted(tmp_path.glob("astro_at_step_*.png"))
    assert tmp_path / "astro_at_step_2.png" in previews
    for preview in previews:
        with Image.open(preview) as image:
            assert image.size == expected_size(64)
    with Image.open(tmp_path / "astro.png") as saved:
        assert saved.size == expected_size(64)
        # A painting, not the photo passed through: pixels differ from the resized photo.
        with Image.open(PHOTO) as photo:
            resized = photo.convert("RGB").resize(expected_size(64), Image.Resampling.LANCZOS)
        difference = sum(abs(a - b) for a, b in zip(saved.tobytes(), resized.tobytes(), strict=True))
        assert difference / len(resized.tobytes()) > 1.0
    out, err = capsys.readouterr()
    assert f"saved {prefix}.png" in out and "\r[" not in err  # -q: no bar


@pytest.mark.slow
def test_two_styles_blended_end_to_end(tmp_path, capsys):
    other = ROOT / "drawme" / "paintings" / "the_scream.jpg"
    out = tmp_path / "mix"
    argv = [str(PHOTO), str(out), "--style", str(STYLE), "--style", str(other), "--blend", "0.7,0.3"]
    assert main([*argv, "--size", "48", "--recipe", "draft", "--iter", "2", "-q", "--no-faces"]) == 0
    with Image.open(tmp_path / "mix.png") as saved:
        assert saved.size == expected_size(48)
    assert f"saved {out}.png" in capsys.readouterr().out


# --- arguments and inputs (no painting) ---------------------------------------------------------------


def test_styles_blend_and_faces_become_paint_params(tmp_path):
    other = ROOT / "drawme" / "paintings" / "the_scream.jpg"
    args = build_parser().parse_args(
        [
            str(PHOTO),
            "--preset",
            "udnie",
            str(tmp_path / "o"),
            "--style",
            str(other),
            "--blend",
            "3,1",
            "--no-faces",
        ]
    )
    _, styles, params, prefix = prepare(args)
    assert len(styles) == 2 and prefix == tmp_path / "o"
    assert params.mix_blend == (3.0, 1.0) and params.protect_faces is False
    _, styles, params, _ = prepare(build_parser().parse_args([str(PHOTO), str(STYLE), str(tmp_path / "o")]))
    assert len(styles) == 1 and params.mix_blend == () and params.protect_faces is True  # faces on by default


@pytest.mark.parametrize(
    ("blend", "fragment"), [("0.7", "1 weights for 2 styles"), ("a,b", "numbers"), ("0,0", "not all zero")]
)
def test_bad_blend_is_one_line_and_exit_2(tmp_path, capsys, blend, fragment):
    argv = [str(PHOTO), str(STYLE), str(tmp_path / "out"), "--style", str(STYLE), "--blend", blend]
    assert main(argv) == EXIT_USAGE
    assert_one_line_error(capsys, fragment)


def test_the_keras_flags_select_the_seed_recipe_unless_another_is_named(tmp_path):
    keras = [str(PHOTO), str(STYLE), str(tmp_path / "prefix"), "--iter", "10", "--content_weight", "0.025"]
    _, _, params, _ = prepare(build_parser().parse_args(keras))
    assert params.recipe == "seed" and params.blend == Blend(content=1.0)
    for flag, value in (("--style_weight", "1.0"), ("--tv_weight", "1.0"), ("--iter", "3")):
        args = build_parser().parse_args([str(PHOTO), str(STYLE), str(tmp_path / "p"), flag, value])
        assert prepare(args)[2].recipe == "seed"
    _, _, named, _ = prepare(build_parser().parse_args([*keras, "--recipe", "default"]))
    assert named.recipe == "default"  # named: that one, with the weights made relative to its own
    _, _, plain, _ = prepare(build_parser().parse_args([str(PHOTO), str(STYLE), str(tmp_path / "p")]))
    assert plain.recipe == "default"
    # Not the seed's command line (a preset, or --style): --iter is the default recipe's steps.
    for other in (["--preset", "udnie", str(tmp_path / "p")], [str(tmp_path / "p"), "--style", str(STYLE)]):
        args = build_parser().parse_args([str(PHOTO), *other, "--iter", "5"])
        assert prepare(args)[2].recipe == "default"


def test_seed_weights_are_converted_to_multipliers():
    seed, default = get_recipe("seed"), get_recipe("default")
    assert relative_weight("content", 0.025, seed) == pytest.approx(1.0)
    assert relative_weight("content", 0.05, seed) == pytest.approx(2.0)
    assert relative_weight("style", 1.0, seed) == pytest.approx(1.0)
    assert relative_weight("tv", None, seed) == 1.0
    assert relative_weight("content", default.content_weight * 3, default) == pytest.approx(3.0)


def test_not_an_image_is_one_line_and_exit_2(tmp_path, capsys):
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a photo\n" * 10)
    assert main([str(text), str(STYLE), str(tmp_path / "out")]) == EXIT_USAGE
    assert_one_line_error(capsys, "notes.jpg", NotAnImage.english)
    assert not list(tmp_path.glob("out*"))


def test_missing_file_is_one_line_and_exit_2(tmp_path, capsys):
    assert main([str(PHOTO), str(tmp_path / "nowhere.jpg"), str(tmp_path / "out")]) == EXIT_USAGE
    assert_one_line_error(capsys, "nowhere.jpg", "does not exist")


def test_unknown_preset_names_the_known_ones(tmp_path, capsys):
    assert main([str(PHOTO), "--preset", "mona_lisa", str(tmp_path / "out")]) == EXIT_USAGE
    assert_one_line_error(capsys, "mona_lisa", "starry_night", "udnie")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--recipe", "nope"], "unknown recipe"),
        (["--recipe", "pastiche", "--tv_weight", "1"], "no tv term"),
        (["--style-weight", "-1"], "must not be negative"),
        (
            ["--recipe", "default", "--style-weight", f"{DEFAULT.style_weight * 11:g}"],
            f"at most 10 times the default recipe's own {DEFAULT.style_weight:g}",
        ),
        (["--content_weight", "nan"], "finite"),
        (["--size", "0"], "--size"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(tmp_path, capsys, extra, fragment):
    assert main([str(PHOTO), str(STYLE), str(tmp_path / "out"), *extra]) == EXIT_USAGE
    assert_one_line_error(capsys, fragment)


def test_unavailable_device_is_one_line_and_exit_2(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert (
        main([str(PHOTO), str(STYLE), str(tmp_path / "out"), "--device", "cuda", "--size", "64"])
        == EXIT_USAGE
    )
    assert_one_line_error(capsys, "device 'cuda' is not available")


def test_style_must_come_from_exactly_one_place(tmp_path, capsys):
    assert main([str(PHOTO), str(tmp_path / "out")]) == EXIT_USAGE
    assert_one_line_error(capsys, "--preset")
    assert main([str(PHOTO), str(STYLE), str(tmp_path / "out"), "--preset", "udnie"]) == EXIT_USAGE
    assert_one_line_error(capsys, "not both")


def test_argparse_errors_return_2_instead_of_exiting(capsys):
    assert main(["--size", "big"]) == EXIT_USAGE
    assert "usage:" in capsys.readouterr().err


def test_python_dash_m_engine_paint_help():
    result = subprocess.run(
        [sys.executable, "-m", "engine", "paint", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "--content_weight" in result.stdout and "--preset" in result.stdout


# --- the progress bar and Ctrl-C ----------------------------------------------------------------------


def progress(
    step: int, total: int, elapsed: float, loss: float = 12.5, work: float | None = None
) -> SimpleNamespace:
    return SimpleNamespace(
        step=step,
        total=total,
        scale=1,
        scales=3,
        elapsed=elapsed,
        losses={"total": loss},
        preview=None,
        work=step / total if work is None else work,
    )


class Stream:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def test_progress_bar_shows_eta_and_redraws_in_place():
    stream = Stream()
    bar = ProgressBar(stream, width=10, interval=0.0)
    bar.update(progress(12, 40, elapsed=24.0))  # 2 s a step, 28 to go: 0:56 left
    assert stream.text.startswith("\r[###.......]  30%") and "12/40" in stream.text
    assert "ETA 0:56" in stream.text and "loss 12.5" in stream.text
    bar.update(progress(40, 40, elapsed=80.0))
    bar.close()
    assert stream.text.count("\r") == 2 and stream.text.endswith("\n")
    assert "[##########] 100%" in stream.text and "ETA 0:00" in stream.text


def test_progress_bar_follows_the_work_not_the_step_count():
    stream = Stream()
    # Two of four steps done, but they were the cheap half-size ones: a fifth of the work.
    bar = ProgressBar(stream, width=10, interval=0.0)
    bar.update(progress(2, 4, elapsed=1.0, work=0.2))  # a fifth in 1 s: 4 s to go
    assert "[##........]  20%" in stream.text and "ETA 0:04" in stream.text


def test_progress_bar_is_throttled_but_always_draws_the_end():
    stream = Stream()
    bar = ProgressBar(stream, interval=3600.0)
    for step in range(1, 11):
        bar.update(progress(step, 10, elapsed=step * 0.1))
    assert stream.text.count("\r") == 2  # the first update and the last one


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_first_ctrl_c_asks_to_stop_and_the_second_aborts():
    before = signal.getsignal(signal.SIGINT)
    with _StopOnInterrupt() as interrupt:
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupt.requested
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs before the next bytecode
    assert signal.getsignal(signal.SIGINT) is before  # the previous handler is back


def test_progress_bar_writes_plain_lines_when_not_a_terminal():
    class LogFile(Stream):
        def isatty(self) -> bool:
            return False

    stream = LogFile()
    bar = ProgressBar(stream, width=10)
    for step in range(1, 41):
        bar.update(progress(step, 40, elapsed=step * 0.01))  # all within one log interval
    bar.close()
    lines = stream.text.splitlines()
    assert "\r" not in stream.text and len(lines) == 2  # the first update and the end
    assert lines[0].startswith("[") and "100%" in lines[-1]
