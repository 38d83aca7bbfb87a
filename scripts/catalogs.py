"""Bring the bot's message catalogs up to date with bot/texts.py (run by `make catalogs`).

Extracts every `N_`/`NP_` sentence under bot/ into bot/locale/messages.pot, merges it into each
language's messages.po (new sentences arrive empty, changed ones marked fuzzy, both of which
tests/bot/test_catalogs.py refuses until translated), and fills the English catalog from the ids.

    .venv/bin/python scripts/catalogs.py            # update every catalog
    .venv/bin/python scripts/catalogs.py --add de   # start a new language
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.i18n import DEFAULT_LANGUAGE, DOMAIN, KEYWORDS, LOCALE_DIR, catalog_path  # noqa: E402


def template() -> Catalog:
    """Every sentence the bot can say, as found in its sources."""
    catalog = Catalog(project="drawme", domain=DOMAIN, charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        ROOT / "bot", method_map=[("**.py", "python")], keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)
    ):
        catalog.add(message, None, [(f"bot/{filename}", lineno)], auto_comments=comments, context=context)
    return catalog


def untranslated(catalog: Catalog) -> list[str]:
    """The ids still to translate: empty (in any plural form) or fuzzy."""
    missing = []
    for message in catalog:
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.id and (message.fuzzy or not all(forms)):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        write_po(out, catalog, width=100, include_lineno=False, sort_output=False)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--add", metavar="LANG", help="start a catalog for a new language")
    args = parser.parse_args()
    pot = template()
    write(pot, LOCALE_DIR / f"{DOMAIN}.pot")
    codes = {p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")} | {DEFAULT_LANGUAGE}
    if args.add:
        codes.add(args.add)
    for code in sorted(codes):
        path = catalog_path(code)
        if path.exists():
            with path.open("rb") as po:
                catalog = read_po(po, locale=code, domain=DOMAIN)
        else:
            catalog = Catalog(locale=code, domain=DOMAIN, project="drawme", charset="utf-8")
        catalog.update(template(), no_fuzzy_matching=code == DEFAULT_LANGUAGE)  # a fresh copy each time
        catalog.fuzzy = False  # the header: a fuzzy one would be left out of the compiled catalog
        if code == DEFAULT_LANGUAGE:  # English says its ids; an editor may reword it here
            for message in catalog:
                if message.id and (not message.string or not any(message.string) or message.fuzzy):
                    message.string = message.id
                    message.flags.discard("fuzzy")
        catalog.obsolete.clear()  # sentences the bot no longer says
        write(catalog, path)
        print(f"{path.relative_to(ROOT)}: {len(catalog)} messages, {len(untranslated(catalog))} to translate")


if __name__ == "__main__":
    main()
