"""The shared vocabulary validates what users can set and round-trips through JSON."""

import json
import math

import pytest

from drawme.models import Blend, JobProgress, JobRequest, JobStatus, PaintParams, StyleRef, UserSettings


@pytest.mark.parametrize("bad", [math.nan, math.inf, -0.5, 10.5])
def test_blend_refuses_out_of_range_weights(bad: float) -> None:
    with pytest.raises(ValueError):
        Blend(style=bad)


def test_params_and_settings_round_trip_through_json() -> None:
    params = PaintParams(size=256, blend=Blend(0.5, 2.0, 0.0), preserve_colors=True, seed=7)
    assert PaintParams.from_json(json.loads(json.dumps(params.to_json()))) == params
    settings = UserSettings(blend=Blend(style=3), size="large", preserve_colors=True, last_preset="udnie")
    assert UserSettings.from_json(json.loads(json.dumps(settings.to_json()))) == settings


def test_protect_faces_and_a_style_mix_round_trip_and_old_params_default_to_protected_faces() -> None:
    params = PaintParams(
        protect_faces=False, mix=(StyleRef(preset="udnie"), StyleRef(image_id=4)), mix_blend=(2, 1, 1)
    )
    assert PaintParams.from_json(json.loads(json.dumps(params.to_json()))) == params
    assert params.to_json()["protect_faces"] is False  # the stored key: the field's one name
    old = {
        "size": 384,
        "blend": {},
        "preserve_colors": False,
        "recipe": "default",
        "style_scale": 1.0,
        "seed": 0,
    }
    assert PaintParams.from_json(old).protect_faces and PaintParams.from_json(old).mix == ()
    assert UserSettings.from_json({"size": "small"}).protect_faces  # settings saved before /faces existed


@pytest.mark.parametrize(
    "bad",
    [
        {"mix": (StyleRef(preset="udnie"),), "mix_blend": (1.0,)},  # one weight per style
        {"mix": (StyleRef(preset="udnie"),), "mix_blend": (0.0, 0.0)},
        {"mix": (StyleRef(preset="udnie"),), "mix_blend": (-1.0, 2.0)},
    ],
)
def test_a_mix_needs_sane_weights(bad: dict) -> None:
    with pytest.raises(ValueError):
        PaintParams(**bad)
    with pytest.raises(ValueError):
        StyleRef()  # neither a preset nor a picture


def test_job_request_needs_exactly_one_style() -> None:
    with pytest.raises(ValueError):
        JobRequest(user_id=1, chat_id=1, content_image_id=1, params=PaintParams())
    with pytest.raises(ValueError):
        JobRequest(1, 1, 1, PaintParams(), style_preset="udnie", style_image_id=2)
    assert JobRequest(1, 1, 1, PaintParams(), style_image_id=2).style_image_id == 2


def test_finished_statuses() -> None:
    assert {s for s in JobStatus if s.finished} == {"done", "failed", "cancelled", "delivered"}


def test_progress_fraction_prefers_the_work_done_over_the_step_count() -> None:
    assert JobProgress(step=5, total=10).fraction == 0.5
    assert JobProgress(step=5, total=10, work=0.25).fraction == 0.25
    assert JobProgress(step=0, total=0).fraction == 0.0
    assert JobProgress(step=12, total=10, work=1.5).fraction == 1.0
