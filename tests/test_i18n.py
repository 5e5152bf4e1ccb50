"""Languages: which one a request gets, the switcher, the catalogues and locale-aware formatting.

The app here offers both zh_CN and en_US (IHOME_LOCALES); the site's default offers zh_CN only
until the English catalogue covers every page.
"""

from __future__ import annotations

import datetime
import importlib.util
import io
import pathlib
import subprocess
import sys

import pytest
import tornado.locale

import config
from services import i18n
from tests.utils.client import text
from tests.utils.factories import make_user

ROOT = pathlib.Path(__file__).resolve().parent.parent
BOTH = ("zh_CN", "en_US")


def _load_script(name: str):
    """Import scripts/<name>.py (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"ihome_scripts_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogues():
    """The .mo files `make test` compiles (a test run straight from pytest may not have them)."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "messages.py"), "compile"], check=True, cwd=ROOT)


@pytest.fixture
def settings(base_settings):
    return base_settings.replace(locales=BOTH)


def html_lang(response) -> str:
    body = text(response)
    start = body.index("<html lang=\"") + len("<html lang=\"")
    return body[start:body.index("\"", start)]


# -- negotiation and formatting (no server) -----------------------------------------------
def test_negotiation_order_is_saved_then_cookie_then_browser_then_chinese():
    assert i18n.negotiate("en_US", "zh_CN", "zh-CN", offered=BOTH) == "en_US"
    assert i18n.negotiate(None, "en_US", "zh-CN", offered=BOTH) == "en_US"
    assert i18n.negotiate(None, None, "en-GB,en;q=0.8", offered=BOTH) == "en_US"
    assert i18n.negotiate(None, None, "fr-FR, en;q=0.5, zh;q=0.9", offered=BOTH) == "zh_CN"
    assert i18n.negotiate(None, None, "fr-FR, de;q=0.5", offered=BOTH) == "zh_CN"
    assert i18n.negotiate(None, None, "en;q=0", offered=BOTH) == "zh_CN"
    assert i18n.negotiate(None, None, None, offered=BOTH) == "zh_CN"
    # what is not offered is never chosen, whoever asks for it
    assert i18n.negotiate("en_US", "en_US", "en", offered=("zh_CN",)) == "zh_CN"
    assert i18n.negotiate("xx_YY", "garbage" * 10, "en", offered=BOTH) == "en_US"


def test_money_dates_follow_the_language():
    assert i18n.money(128800, "zh_CN") == "¥1,288"
    assert i18n.money(128800, "en_US") == "¥1,288"
    assert i18n.money(128850, "en_US") == "¥1,288.50"
    day = datetime.date(2026, 11, 23)
    assert i18n.day(day, "zh_CN", "long") == "2026年11月23日"
    assert i18n.day(day, "en_US") == "Nov 23, 2026"
    assert i18n.html_lang("zh_CN") == "zh-CN"


def test_place_names_stay_chinese_with_pinyin_beside_them_in_english():
    assert i18n.place("朝阳区", "zh_CN") == "朝阳区"
    assert i18n.place("朝阳区", "en_US") == "朝阳区 (Chaoyang)"  # not "Zhaoyang": the phrase is read whole
    assert i18n.place("浦东新区", "en_US") == "浦东新区 (Pudong)"
    assert i18n.place("西安市", "en_US") == "西安市 (Xi'an)"  # the apostrophe before a vowel syllable
    assert i18n.place("重庆市", "en_US") == "重庆市 (Chongqing)"
    assert i18n.place("Shenzhen", "en_US") == "Shenzhen"  # not Chinese: as it is
    assert i18n.place("", "en_US") == ""


def test_plural_forms_come_from_the_catalogue():
    i18n.load_catalogues()
    english = tornado.locale.get("en_US")
    # not in the catalogue: gettext falls back to the message and its plural by count
    assert english.translate("%(n)d 晚", "%(n)d 晚s", 1) == "%(n)d 晚"
    assert english.translate("%(n)d 晚", "%(n)d 晚s", 3) == "%(n)d 晚s"
    assert english.translate("不支持这种语言") == "This language is not offered"
    assert tornado.locale.get("zh_CN").translate("不支持这种语言") == "不支持这种语言"


def test_settings_offer_chinese_always_and_refuse_unknown_languages():
    assert config.load_settings({}).locales == ("zh_CN",)
    assert config.load_settings({"IHOME_LOCALES": "en_US"}).locales == ("zh_CN", "en_US")
    assert config.load_settings({"IHOME_LOCALES": "zh_CN, en_US,en_US"}).locales == ("zh_CN", "en_US")
    with pytest.raises(config.ConfigError, match="fr_FR"):
        config.load_settings({"IHOME_LOCALES": "zh_CN,fr_FR"})


# -- the catalogues ------------------------------------------------------------------------
def test_every_string_of_the_code_is_translated_in_every_catalogue():
    messages = _load_script("messages")
    from babel.messages.pofile import read_po
    in_code = {m.id for m in messages.extract() if m.id}
    for code in i18n.LANGUAGES:
        with messages.po_path(code).open("rb") as handle:
            catalogue = read_po(handle, locale=code)
        missing = sorted(str(m) for m in in_code if m not in catalogue)
        assert not missing, f"{code}: run `make messages`: {missing[:10]}"
        singulars = {m if isinstance(m, str) else m[0] for m in in_code}  # a plural's id is a tuple
        unfinished = [m for m in messages.problems(catalogue) if m in singulars]
        assert not unfinished, f"{code}: untranslated or fuzzy: {unfinished[:10]}"


def test_update_fills_english_from_translation_files(tmp_path):
    messages = _load_script("messages")
    source = "不支持这种语言"  # a string of handlers/language.py
    words = tmp_path / "words.json"
    words.write_text('{"%s": "Not a language we offer"}' % source, encoding="utf-8")
    messages.update(messages.load_translations([str(words)]), directory=tmp_path)
    from babel.messages.pofile import read_po
    with messages.po_path("en_US", tmp_path).open("rb") as handle:
        english = read_po(handle, locale="en_US")
    with messages.po_path("zh_CN", tmp_path).open("rb") as handle:
        chinese = read_po(handle, locale="zh_CN")
    assert english[source].string == "Not a language we offer"
    assert chinese[source].string == source  # Chinese is the source text
    assert (tmp_path / "messages.pot").exists()


def test_template_extraction_reads_expressions_and_statements_not_comments():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from babel_tornado import extract_tornado
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    template = ('<h1>{{ _("找房") }}</h1>\n{# {{ _("注释") }} #}\n'
                '{% set label = _("%(n)d 晚", "%(n)d 晚", nights) %}\n'
                '{% module Template("m.html", title=_("标题")) %}{{! _("字面") }}\n')
    found = [(line, message) for line, _, message, _ in
             extract_tornado(io.BytesIO(template.encode()), {"_": None}, [], {})]
    assert found == [(1, "找房"), (3, ("%(n)d 晚", "%(n)d 晚", None)), (4, "标题")]


# -- the switcher and what pages do with the choice -------------------------------------------
@pytest.mark.gen_test
async def test_browser_language_chooses_the_page_language(app, client):
    assert html_lang(await client.get("/", headers={"Accept-Language": "en-GB,en;q=0.8"})) == "en-US"
    assert html_lang(await client.get("/", headers={"Accept-Language": "fr"})) == "zh-CN"
    assert html_lang(await client.get("/")) == "zh-CN"


@pytest.mark.gen_test
async def test_cached_pages_are_kept_per_language(app, client, new_client):
    # The home page is page-cached for anonymous visitors: English first, then Chinese
    # must not be served the English copy, nor the other way round.
    for _ in range(2):
        assert html_lang(await client.get("/", headers={"Accept-Language": "en"})) == "en-US"
        assert html_lang(await new_client().get("/", headers={"Accept-Language": "zh-CN"})) == "zh-CN"


@pytest.mark.gen_test
async def test_switcher_sets_the_cookie_and_goes_back(app, client):
    response = await client.post("/locale", {"locale": "en_US", "next": "/houses?page=2"})
    assert response.code == 302 and response.headers["Location"] == "/houses?page=2"
    assert client.cookies["locale"] == "en_US"
    assert html_lang(await client.get("/", headers={"Accept-Language": "zh-CN"})) == "en-US"
    response = await client.post("/locale", {"locale": "zh_CN", "next": "https://evil.example/"})
    assert response.code == 302 and response.headers["Location"] == "/"
    assert html_lang(await client.get("/", headers={"Accept-Language": "en"})) == "zh-CN"


@pytest.mark.gen_test
async def test_switcher_refuses_unknown_languages_and_needs_the_form_token(app, client):
    response = await client.post("/locale", {"locale": "fr_FR", "next": "/"})
    assert response.code == 400 and "不支持这种语言" in text(response)
    assert "locale" not in client.cookies
    english = await client.post("/locale", {"locale": "xx"}, headers={"Accept-Language": "en"})
    assert english.code == 400 and "This language is not offered" in text(english)
    response = await client.post("/locale", {"locale": "en_US"}, xsrf=False)
    assert response.code == 403 and "locale" not in client.cookies


@pytest.mark.gen_test
async def test_a_members_choice_is_saved_and_follows_them(app, client, new_client, login):
    user = await make_user(app)
    await login(client, user)
    response = await client.post("/locale", {"locale": "en_US", "next": "/"})
    assert response.code == 302
    row = await app.db.queryone("SELECT locale FROM users WHERE id = %s", user["id"])
    assert row["locale"] == "en_US"
    other_browser = new_client()  # no locale cookie, a Chinese browser
    await login(other_browser, user)
    page = await other_browser.get("/", headers={"Accept-Language": "zh-CN"})
    assert page.code == 200 and html_lang(page) == "en-US"
    # the saved choice wins over a cookie saying otherwise
    other_browser.cookies["locale"] = "zh_CN"
    assert html_lang(await other_browser.get("/houses")) == "en-US"
