"""The tests' name for the Bot API emulator, which now lives in the product: drawme.playground.botapi.

A package rather than tests/fake_telegram.py so that git sees that file as renamed, not rewritten.
"""

from drawme.playground.botapi import *  # noqa: F403  (every public name, whatever the emulator adds)
from drawme.playground.botapi import MAX_CALLBACK_DATA, TOKEN, Call, FakeTelegram

__all__ = ["MAX_CALLBACK_DATA", "TOKEN", "Call", "FakeTelegram"]
