"""The store refuses with data; the bot's catalog words each refusal and failure code."""

from __future__ import annotations

from dataclasses import replace

from bot import texts
from bot.i18n import ENGLISH as E
from drawme.decoding import ImageCode, NotAnImage
from drawme.models import (
    FailureCode,
    Job,
    JobProgress,
    JobStatus,
    Limit,
    NoteCode,
    PaintNote,
    PaintParams,
    Refusal,
)


def test_each_limit_is_worded_with_its_numbers():
    assert texts.refusal(E, Refusal(Limit.BANNED)) == texts.BANNED
    quota = texts.refusal(E, Refusal(Limit.DAILY_QUOTA, allowed=50, count=50, wait_seconds=3 * 3600))
    assert "all 50 paintings" in quota and "00:00 UTC" in quota and "3.0 h" in quota
    full = texts.refusal(E, Refusal(Limit.QUEUE_FULL, allowed=200, count=200, wait_seconds=120))
    assert "(200 waiting, the limit is 200)" in full and "about 2 min" in full
    mine = texts.refusal(E, Refusal(Limit.PER_USER, allowed=3, count=3, wait_seconds=40))
    assert "3 paintings in progress" in mine and "ready in about 40 s" in mine
    assert "ready in" not in texts.refusal(E, Refusal(Limit.PER_USER, allowed=3, count=3))


def test_failure_codes_are_worded_and_anything_else_is_an_unexpected_error():
    job = Job(1, 1, 1, JobStatus.FAILED, PaintParams(), 1, "udnie", None, 0, 3, JobProgress(), 0.0)
    crashed = texts.failure(E, replace(job, error=str(FailureCode.CRASHED)))
    assert crashed.startswith("This painting failed 3 times")
    unexpected = texts.FAILURES[FailureCode.PAINT_ERROR]
    assert texts.failure(E, replace(job, error="The picture is gone.")) == unexpected  # no words stored
    assert texts.failure(E, job) == unexpected


def test_every_worker_and_image_code_is_worded():
    job = Job(1, 1, 1, JobStatus.FAILED, PaintParams(), 1, "udnie", None, 0, 3, JobProgress(), 0.0)
    for code in [*FailureCode, *ImageCode]:
        words = texts.failure(E, replace(job, error=str(code)))
        assert words and words != str(code) and words[0].isupper() and words.endswith((".", "?"))
    worded = {texts.failure(E, replace(job, error=str(code))) for code in [*FailureCode, *ImageCode]}
    assert len(worded) == len(FailureCode) + len(ImageCode)


def test_image_errors_are_worded_by_the_bot_not_by_decoding():
    assert texts.image_refused(E, NotAnImage()) == texts.IMAGE_REFUSED[ImageCode.NOT_AN_IMAGE]
    assert texts.image_refused(E, NotAnImage()) != str(NotAnImage())


def test_notes_are_worded_and_anything_else_is_no_note():
    assert texts.note(E, PaintNote(NoteCode.OOM_SHRUNK, 70).encode()) == (
        "Painted at 70 px because the full size ran out of GPU memory."
    )
    capped = texts.note(E, PaintNote(NoteCode.SIZE_CAPPED, 512).encode())
    assert capped.startswith("Painted at 512 px, the largest")
    words = "Painted at 384 px, the largest this painter makes."
    assert PaintNote.parse(words) is None and texts.note(E, words) == "" and texts.note(E, None) == ""
    done = Job(1, 1, 1, JobStatus.DONE, PaintParams(), 1, "udnie", None, 0, 3, JobProgress(), 0.0)
    caption = texts.result_caption(E, replace(done, note=PaintNote(NoteCode.SIZE_CAPPED, 512).encode()))
    assert caption.endswith("Painted at 512 px, the largest this painter makes.")
