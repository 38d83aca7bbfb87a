"""One side of the store's seam, for the tests: the bot gets a `BotSide`, a worker a `WorkerSide`.

Each wraps the real store and answers only its protocol's methods (drawme/backend.py), so every bot
and worker test also proves that side's code needs nothing more; a fake that breaks one method
(a locked database, say) subclasses a side and overrides just that method.
"""

from __future__ import annotations

from typing import Any

from drawme.backend import BotBackend, WorkerBackend
from drawme.store import JobStore


def members(side: type) -> frozenset[str]:
    """The public methods of a protocol, its bases' included."""
    classes = [klass for klass in side.__mro__ if klass is not object]
    return frozenset(name for klass in classes for name in vars(klass) if not name.startswith("_"))


class Side:
    """The real store seen through one protocol: any other attribute is an AttributeError."""

    side: type = object

    def __init__(self, store: JobStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name not in members(self.side):
            raise AttributeError(f"{name!r} is not part of {self.side.__name__}")
        return getattr(self._store, name)


class BotSide(Side):
    side = BotBackend


class WorkerSide(Side):
    side = WorkerBackend
