"""Languages of the site: which one a visitor gets, the catalogues, and locale-aware formatting.

Text in the code and templates is written in Chinese (the site's first language) and
marked for translation with ``_("…")`` (templates: Tornado's ``_``; handlers:
``self.locale.translate``). ``make messages`` extracts the marked strings into
``locale/messages.pot`` and merges them into ``locale/<code>/LC_MESSAGES/messages.po``;
``make run`` and ``make test`` compile the ``.po`` files into ``.mo`` files, which
:func:`load_catalogues` hands to :mod:`tornado.locale`.

Which language a request gets (:func:`negotiate`), first match wins:

1. the logged-in user's saved preference (``users.locale``),
2. the ``locale`` cookie (set by ``POST /locale``),
3. the browser's ``Accept-Language`` header,
4. :data:`DEFAULT` (zh_CN).

Only :data:`OFFERED` languages are ever chosen. Money, dates and plural forms go
through Babel (:func:`money`, :func:`day`) so that they follow the language too.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import logging
import pathlib

import tornado.locale
from babel.dates import format_date
from babel.numbers import format_decimal
from pypinyin import lazy_pinyin

__all__ = ["N_", "DEFAULT", "LANGUAGES", "OFFERED", "COOKIE", "LOCALE_DIR", "DOMAIN", "load_catalogues",
           "supported", "negotiate", "money", "day", "html_lang", "place"]

log = logging.getLogger("ihome.i18n")

LOCALE_DIR = pathlib.Path(__file__).resolve().parent.parent / "locale"
"""locale/: messages.pot and <code>/LC_MESSAGES/messages.po (+ the compiled .mo)."""
DOMAIN = "messages"
COOKIE = "locale"
"""The cookie ``POST /locale`` sets (a plain cookie: it only chooses a language)."""

DEFAULT = "zh_CN"
LANGUAGES = {"zh_CN": "简体中文", "en_US": "English"}
"""Every language the site has a catalogue for, with its name in that language (for the switcher)."""
OFFERED: tuple[str, ...] = ("zh_CN",)
"""The languages visitors can get today. English is offered once its catalogue covers every
page (a visitor asking for English before that would get Chinese pages labelled English)."""


def N_(message: str) -> str:
    """Mark *message* for the catalogue without translating it (module-level labels, such as a
    dict of status names, translated where they are shown: ``_(LABELS[status])``)."""
    return message


def load_catalogues(directory: pathlib.Path = LOCALE_DIR) -> None:
    """Load the compiled catalogues (``<directory>/<code>/LC_MESSAGES/messages.mo``) into
    :mod:`tornado.locale` and make zh_CN the default. A missing .mo is logged, not fatal:
    that language then shows the source (Chinese) text."""
    tornado.locale.set_default_locale(DEFAULT)
    tornado.locale.load_gettext_translations(str(directory), DOMAIN)
    for code in OFFERED:
        if code != DEFAULT and not (directory / code / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file():
            log.warning("no compiled catalogue for %s (run `make messages-compile`)", code)


def supported(code: str | None, offered: tuple[str, ...] = OFFERED) -> str | None:
    """*code* as one of *offered* (``en``, ``en-GB``, ``en_us`` → ``en_US``), or None."""
    if not code:
        return None
    code = code.strip().replace("-", "_")
    if len(code) > 16:
        return None
    language, _, region = code.partition("_")
    exact = f"{language.lower()}_{region.upper()}" if region else language.lower()
    if exact in offered:
        return exact
    for candidate in offered:
        if candidate.split("_")[0] == language.lower():
            return candidate
    return None


def _accept_language(header: str | None) -> list[str]:
    """The language ranges of an Accept-Language header, best first (q=0 left out)."""
    ranked = []
    for position, part in enumerate((header or "")[:500].split(",")[:20]):
        name, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        if name and quality > 0:
            ranked.append((-quality, position, name.strip()))
    return [name for _, _, name in sorted(ranked)]


def negotiate(saved: str | None, cookie: str | None, accept_language: str | None,
              offered: tuple[str, ...] = OFFERED) -> str:
    """The language code for a request: the saved preference, else the cookie, else the best
    offered language of the Accept-Language header, else :data:`DEFAULT`."""
    for choice in (saved, cookie):
        code = supported(choice, offered)
        if code:
            return code
    for name in _accept_language(accept_language):
        code = supported(name, offered)
        if code:
            return code
    return DEFAULT


# Administrative suffixes left out of a place's pinyin (longest first): 朝阳区 → Chaoyang.
PLACE_SUFFIXES = ("特别行政区", "自治区", "自治州", "自治县", "新区", "地区", "区", "县", "市", "旗", "盟", "省")


@functools.lru_cache(maxsize=8192)
def _pinyin(name: str) -> str:
    """The pinyin of a place name without its administrative suffix: 朝阳区 → Chaoyang, 长安区 →
    Chang'an. The whole name goes to pypinyin first (its phrase dictionary reads 朝阳区 as
    chao-yang, 朝阳 alone as zhao-yang), then the suffix's syllables are dropped."""
    syllables = lazy_pinyin(name, errors="ignore")
    if len(syllables) != len(name):  # not all Chinese characters: no pinyin
        return ""
    for suffix in PLACE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            syllables = syllables[:-len(suffix)]
            break
    # An apostrophe where a syllable starting with a, o or e would run into the one before.
    text = "".join(("'" + s if i and s[:1] in "aoe" else s) for i, s in enumerate(syllables))
    return text[:1].upper() + text[1:]


def place(name: str, code: str = DEFAULT) -> str:
    """A Chinese place name for display in language *code*: as it is in Chinese, with its pinyin
    beside it in English (place names are proper names, as on every map): 朝阳区 (Chaoyang)."""
    if code == DEFAULT or not name:
        return name
    romanised = _pinyin(name)
    return f"{name} ({romanised})" if romanised else name


def html_lang(code: str) -> str:
    """The ``<html lang>`` value for a language code: ``zh_CN`` → ``zh-CN``."""
    return code.replace("_", "-")


def money(fen: int, code: str = DEFAULT) -> str:
    """An amount in fen as yuan for display in language *code*: 128800 → ``¥1,288``,
    128850 → ``¥1,288.50`` (the yuan sign in every language: prices are in yuan)."""
    fen = int(fen)
    pattern = "#,##0" if fen % 100 == 0 else "#,##0.00"
    return "¥" + format_decimal(decimal.Decimal(fen) / 100, format=pattern, locale=code)


def day(value: datetime.date, code: str = DEFAULT, width: str = "medium") -> str:
    """A date in language *code*: zh_CN ``2026年11月23日``, en_US ``Nov 23, 2026``;
    *width* is Babel's (short, medium, long, full)."""
    return format_date(value, format=width, locale=code)
