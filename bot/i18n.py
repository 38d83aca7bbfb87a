"""The user's language: gettext catalogs made with Babel, chosen with /language, or else by
Telegram's `language_code`.

The English sentences in bot/texts.py are the message ids; `bot/locale/<lang>/LC_MESSAGES/messages.po`
holds each language's words (`make catalogs` extracts new ids and merges them into every catalog).
The .po files are compiled in memory when first used, so there is no build step and no compiled file
that can fall out of date with its source.
"""

from __future__ import annotations

import functools
import gettext
import io
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from telegram import Message, Update

DOMAIN = "messages"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT_LANGUAGE = "en"
# The language the user picked with /language, for the update being handled (each update runs in its
# own task, so one user's choice never leaks into another's update); None: their app's language.
_chosen: ContextVar[str | None] = ContextVar("chosen_language", default=None)
# Babel's extraction keywords for the markers below (also used by `make catalogs` and the tests).
KEYWORDS = {"N_": None, "NP_": (1, 2)}


def N_(message: str) -> str:
    """Marks `message` for the catalogs; it is translated where it is said, in the user's language."""
    return message


def NP_(singular: str, plural: str) -> tuple[str, str]:
    """Marks a message with plural forms (`Words.plural` picks the form for a number)."""
    return singular, plural


@dataclass(frozen=True)
class Words:
    """One language's words: `words(texts.X, name=…)` and `words.plural(texts.Y, n, …)`."""

    language: str
    translations: gettext.NullTranslations

    def __call__(self, message: str, /, **values: Any) -> str:
        text = self.translations.gettext(message)
        return text.format(**values) if values else text

    def plural(self, forms: tuple[str, str], n: int, /, **values: Any) -> str:
        """The form of `forms` for the number `n` in this language ({n} is filled in too)."""
        return self.translations.ngettext(forms[0], forms[1], n).format(n=n, **values)


def catalog_path(language: str) -> Path:
    """Where a language's catalog lives (it may not exist yet)."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache  # asked on every update (`language_of`): look at the disk once
def languages() -> tuple[str, ...]:
    """The languages with a catalog, the default first."""
    found = sorted(path.parent.parent.name for path in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (DEFAULT_LANGUAGE, *(code for code in found if code != DEFAULT_LANGUAGE))


def language_of(language_code: str | None) -> str:
    """The catalog for a Telegram `language_code` ("ru", "pt-br", or none): its primary tag, if we
    have that language, else the default."""
    primary = (language_code or "").replace("_", "-").split("-")[0].lower()
    return primary if primary in languages() else DEFAULT_LANGUAGE


@functools.cache
def _words(language: str) -> Words:
    path = catalog_path(language)
    if not path.exists():  # the default language works from the ids alone
        return Words(language, gettext.NullTranslations())
    with path.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out: an unchecked guess is never shown
    compiled.seek(0)
    return Words(language, gettext.GNUTranslations(compiled))


def words_for(language_code: str | None) -> Words:
    """The words for a Telegram `language_code` (English when we have no catalog for it)."""
    return _words(language_of(language_code))


def choose(language: str | None) -> None:
    """The user behind the update being handled picked `language` (None: no choice): `words` says it."""
    _chosen.set(language)


def words(source: Update | Message | None) -> Words:
    """The words for whoever sent `source`, an update or a message: the language they picked with
    /language, else their Telegram app's (English when it has no user)."""
    if (chosen := _chosen.get()) is not None:
        return words_for(chosen)
    if isinstance(source, Update):
        user = source.effective_user
    else:
        user = source.from_user if isinstance(source, Message) else None
    return words_for(user.language_code if user is not None else None)


ENGLISH = words_for(DEFAULT_LANGUAGE)
