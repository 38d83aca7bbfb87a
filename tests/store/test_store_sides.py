"""The seam's two sides (drawme/backend.py): the store implements both, each side sees only its own."""

from __future__ import annotations

import pytest

from drawme.backend import Backend, BotBackend, WorkerBackend
from drawme.models import UserSettings
from drawme.store import JobStore
from tests.sides import BotSide, WorkerSide, members

OPERATOR_TOOLS = {"requeue", "force_fail", "purge", "set_banned", "backup", "schema_version"}


def test_the_sides_share_only_their_base_and_the_store_has_both() -> None:
    assert members(BotBackend) & members(WorkerBackend) == members(Backend) != frozenset()
    assert BotBackend in JobStore.__mro__ and WorkerBackend in JobStore.__mro__
    assert not OPERATOR_TOOLS & (members(BotBackend) | members(WorkerBackend))
    assert all(callable(getattr(JobStore, name)) for name in OPERATOR_TOOLS)


async def test_a_side_answers_only_its_own_methods(store: JobStore) -> None:
    bot, worker = BotSide(store), WorkerSide(store)
    assert await bot.get_settings(7) == UserSettings()
    assert await worker.claim("w1", 60.0) is None
    assert (await bot.stats()).queued == (await worker.stats()).queued == 0
    with pytest.raises(AttributeError, match="not part of BotBackend"):
        bot.claim  # noqa: B018
    with pytest.raises(AttributeError, match="not part of WorkerBackend"):
        worker.submit  # noqa: B018
    with pytest.raises(AttributeError):
        bot.requeue  # noqa: B018  (the operator's tools are neither side's)
