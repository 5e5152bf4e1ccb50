"""The translation catalogues of locale/: extract, update, compile and check them (Babel).

    python scripts/messages.py update [F.json …]  # make messages: code + templates → .pot → each .po
                                                  # (+ English msgstrs from JSON files, msgid → msgstr)
    python scripts/messages.py compile   # make run / make test: each .po → its .mo
    python scripts/messages.py check     # exit 1 listing untranslated or fuzzy entries

The source language is Chinese: every marked string in the code is the zh_CN text, so
``update`` fills zh_CN's msgstr with the msgid, and en_US is the catalogue to translate.
Python files are read for ``_("…")`` and ``translate("…")`` (one argument, or three for
a plural: message, plural message, count — Tornado's ``Locale.translate``); templates go
through :mod:`babel_tornado`. Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import pathlib
import sys
import tempfile

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT)]

from services.i18n import DEFAULT, DOMAIN, LANGUAGES, LOCALE_DIR  # noqa: E402

SOURCE = DEFAULT  # the language of the text in the code
# Tornado's translate(message, plural_message=None, count=None): by number of arguments.
KEYWORDS = {"_": {1: (1,), 3: (1, 2)}, "translate": {1: (1,), 3: (1, 2)},
            "N_": None}  # N_: marks a module-level string translated later (services.i18n.N_)
# Where messages live: the Python packages and the templates (tests, scripts and the
# virtualenv are not the site's text).
METHOD_MAP = [
    ("handlers/**.py", "python"),
    ("models/**.py", "python"),
    ("services/**.py", "python"),
    ("server.py", "python"),
    ("templates/**.html", "babel_tornado:extract_tornado"),
]
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
HEADER_DATE = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def po_path(code: str, directory: pathlib.Path = LOCALE_DIR) -> pathlib.Path:
    return directory / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def _replace(path: pathlib.Path, write) -> None:
    """Write a file through *write(fileobj)* to a temporary name beside *path*, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def extract() -> Catalog:
    """Every marked string of the site as a fresh template catalogue."""
    # A fixed date in the headers: `make messages` then changes a catalogue only when its text changes.
    template = Catalog(project="ihome", domain=DOMAIN, charset="utf-8", fuzzy=False, creation_date=HEADER_DATE,
                       revision_date=HEADER_DATE)
    for filename, lineno, message, comments, context in extract_from_dir(
            str(ROOT), METHOD_MAP, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def load_translations(paths: list[str]) -> dict[str, str | list[str]]:
    """English translations from JSON files: ``{"msgid": "msgstr"}``, and for a plural
    ``{"singular msgid": ["singular", "plural"]}``; later files win."""
    found: dict[str, str | list[str]] = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            found.update(json.load(handle))
    return found


def update(translations: dict[str, str | list[str]] | None = None,
           directory: pathlib.Path = LOCALE_DIR) -> None:
    """messages.pot from the code; each language's .po (under *directory*) brought up to date
    with it, and the English entries found in *translations* (msgid → msgstr) filled in."""
    template = extract()
    _replace(directory / TEMPLATE.name, lambda f: write_po(f, template, width=100, omit_header=False, sort_output=True))
    for code in LANGUAGES:
        path = po_path(code, directory)
        if path.exists():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=code, domain=DOMAIN)
            catalog.update(copy.deepcopy(template), no_fuzzy_matching=True)  # (update shares messages)
        else:
            catalog = Catalog(locale=code, domain=DOMAIN, project="ihome", charset="utf-8", fuzzy=False)
            catalog.update(copy.deepcopy(template), no_fuzzy_matching=True)  # (update shares messages)
        for message in catalog:
            if not message.id:
                continue
            if code == SOURCE and not any(message.string if isinstance(message.string, tuple)
                                          else [message.string]):
                message.string = message.id  # the source text is already zh_CN
            elif code != SOURCE and translations:
                key = message.id if isinstance(message.id, str) else message.id[0]
                if key in translations:
                    value = translations[key]
                    message.string = tuple(value) if isinstance(message.id, tuple) else value
                    message.flags.discard("fuzzy")
        catalog.obsolete.clear()  # strings gone from the code leave the catalogue
        _replace(path, lambda f, c=catalog: write_po(f, c, width=100, sort_output=True, include_previous=False))
        print(f"{code}: {len(catalog)} messages, {len(problems(catalog))} to translate", file=sys.stderr)


def problems(catalog: Catalog) -> list[str]:
    """The msgids of *catalog* that are untranslated (any plural form empty) or fuzzy."""
    found = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        if message.fuzzy or not all(strings):
            found.append(message.id if isinstance(message.id, str) else message.id[0])
    return found


def compile_all() -> None:
    """Each language's .po compiled to its .mo (fuzzy entries are left out, as gettext does)."""
    for code in LANGUAGES:
        path = po_path(code)
        if not path.exists():
            continue
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=code, domain=DOMAIN)
        _replace(path.with_suffix(".mo"), lambda f, c=catalog: write_mo(f, c))


def check() -> int:
    """0 when every catalogue is complete, else 1 after listing what is missing."""
    status = 0
    for code in LANGUAGES:
        path = po_path(code)
        if not path.exists():
            print(f"{code}: no catalogue at {path.relative_to(ROOT)}", file=sys.stderr)
            status = 1
            continue
        with path.open("rb") as handle:
            missing = problems(read_po(handle, locale=code, domain=DOMAIN))
        for msgid in missing:
            print(f"{code}: untranslated or fuzzy: {msgid!r}", file=sys.stderr)
        status = status or int(bool(missing))
    return status


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "update":
        update(load_translations(sys.argv[2:]))
    elif command == "compile":
        compile_all()
    elif command == "check":
        sys.exit(check())
    else:
        sys.exit(__doc__)
