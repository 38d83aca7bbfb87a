"""A painting's caption in plain words: the style, what the user changed (only that), size and time."""

from __future__ import annotations

from bot import texts
from bot.i18n import ENGLISH, words_for
from drawme.models import Blend, Job, JobProgress, JobStatus, PaintParams


def job(**params: object) -> Job:
    return Job(
        id=7,
        user_id=1,
        chat_id=1,
        status=JobStatus.DONE,
        params=PaintParams(size=384, **params),  # type: ignore[arg-type]
        content_image_id=1,
        style_preset="starry_night",
        style_image_id=None,
        priority=0,
        attempts=1,
        progress=JobProgress(),
        created_at=0.0,
        started_at=100.0,
        finished_at=140.0,
    )


def test_the_defaults_take_no_line_and_no_jargon() -> None:
    caption = texts.result_caption(ENGLISH, job())
    assert caption == "🖼 In the style of Starry Night · Van Gogh\n384 px · 40 s"


def test_changed_weights_are_said_in_words() -> None:
    more = texts.result_caption(ENGLISH, job(blend=Blend(style=2.0)))
    assert more.split("\n")[1] == "stronger style"
    mixed = job(blend=Blend(style=0.5, content=3.0, tv=0.0), preserve_colors=True, protect_faces=False)
    line = texts.result_caption(ENGLISH, mixed).split("\n")[1]
    assert (
        line == "lighter style · closer to your photo · finer detail · your own colours · faces painted over"
    )
    assert "×" not in texts.result_caption(ENGLISH, mixed)


def test_the_words_are_russian_for_a_russian_user() -> None:
    line = texts.result_caption(words_for("ru"), job(blend=Blend(style=2.0, tv=2.0))).split("\n")[1]
    assert line == "стиль сильнее · мазки глаже"
