"""The message catalogs: every sentence the bot can say exists, translated, in every language."""

from __future__ import annotations

import string

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot import texts
from bot.i18n import DOMAIN, ENGLISH, KEYWORDS, LOCALE_DIR, catalog_path, language_of, languages, words_for
from drawme.decoding import ImageCode
from drawme.models import FailureCode, NoteCode, QueueInfo
from drawme.presets import PRESETS

ROOT = LOCALE_DIR.parents[1]


def sentences() -> set[str | tuple[str, str]]:
    """Every N_/NP_ sentence in the bot's sources, found the way `make catalogs` finds them."""
    found = extract_from_dir(ROOT / "bot", method_map=[("**.py", "python")], keywords=KEYWORDS)
    return {message for _, _, message, _, _ in found}


def catalog(language: str):
    with catalog_path(language).open("rb") as po:
        return read_po(po, locale=language, domain=DOMAIN)


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_english_and_russian_ship():
    assert languages() == ("en", "ru")


@pytest.mark.parametrize("language", languages())
def test_every_sentence_is_in_every_catalog_translated(language: str):
    found = sentences()
    assert len(found) > 100, "the extraction found the bot's sentences"
    po = catalog(language)
    assert not po.fuzzy, "a fuzzy header would drop the plural rule from the compiled catalog"
    ids = {message.id if isinstance(message.id, str) else tuple(message.id) for message in po if message.id}
    assert found - ids == set(), "run `make catalogs` and translate what it adds"
    assert ids - found == set(), "sentences the bot no longer says: run `make catalogs`"
    for message in po:
        if not message.id:
            continue
        singular = message.id if isinstance(message.id, str) else message.id[0]
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        assert not message.fuzzy and all(forms), f"{language}: untranslated {singular!r}"
        if isinstance(message.id, tuple):
            assert len(forms) == po.num_plurals, f"{language}: plural forms of {singular!r}"
        for form in forms:  # the same {names}, or formatting raises (or drops a number) at run time
            assert fields(form) <= fields(singular) | {"n"}, f"{language}: {form!r}"
            assert fields(singular) - {"n"} <= fields(form), f"{language}: {form!r} drops a value"


def test_codes_commands_and_presets_all_have_words():
    assert set(texts.FAILURES) == set(FailureCode) - {FailureCode.CRASHED}
    assert set(texts.NOTES) == set(NoteCode) and set(texts.IMAGE_REFUSED) == set(ImageCode)
    assert set(texts.PRESET_NAMES) == set(PRESETS)
    ru = words_for("ru")
    for preset_id in PRESETS:
        assert texts.preset_label(ru, preset_id) != texts.preset_label(ENGLISH, preset_id)
    for _, about in texts.COMMANDS:
        assert ru(about) != about and about == ENGLISH(about)


def test_the_language_follows_telegrams_language_code():
    assert language_of("ru") == language_of("ru-RU") == language_of("RU") == "ru"
    assert language_of("en-GB") == language_of("pt-br") == language_of("") == language_of(None) == "en"
    assert words_for("ru-RU").language == "ru"


def test_russian_numbers_take_their_plural_forms():
    ru = words_for("ru")
    ahead = {n: texts.queued(ru, QueueInfo(ahead=n, eta_seconds=150)) for n in (1, 2, 5, 21, 0)}
    assert "перед вами 1 заказ," in ahead[1] and "перед вами 21 заказ," in ahead[21]
    assert "2 заказа," in ahead[2] and "5 заказов," in ahead[5]
    assert "следующий" in ahead[0] and "~2 мин" in ahead[0]
    assert texts.queued(ENGLISH, QueueInfo(ahead=1, eta_seconds=150)).startswith("⏳ Queued: 1 job ahead")
    assert ru.plural(texts.FORGET_DONE, 3).endswith("(3 файла). 🧹")


@pytest.mark.parametrize("language", languages())
def test_the_bots_profile_texts_fit_telegrams_limits(language: str):
    w = words_for(language)
    assert 0 < len(w(texts.DESCRIPTION)) <= 512 and 0 < len(w(texts.SHORT_DESCRIPTION)) <= 120
