"""Only the icons the site uses are shipped (issue 13): the bootstrap-icons subset made by
``make vendor`` (scripts/icon_subset.py) must hold every ``bi-NAME`` written in templates/,
static/js/ and the facility catalogue. After using a new icon, run ``scripts/vendor.sh icons``.
"""

from __future__ import annotations

import re
from pathlib import Path

from fontTools.ttLib import TTFont

from scripts.icon_subset import NAME_RE, RULE_RE, used_icons

ROOT = Path(__file__).resolve().parent.parent
FONT_DIR = ROOT / "static" / "vendor" / "bootstrap-icons" / "font"


def subset_rules() -> dict[str, int]:
    css = (FONT_DIR / "bootstrap-icons.min.css").read_text(encoding="utf-8")
    return {name: int(code, 16) for name, code in RULE_RE.findall(css)}


def test_every_icon_used_is_in_the_subset():
    used = used_icons(ROOT)
    assert {"house", "search", "image"} <= used  # the scan finds icons at all
    missing = sorted(used - set(subset_rules()))
    assert not missing, f"icons missing from the subset (run scripts/vendor.sh icons): {missing}"


def test_every_facility_icon_is_in_the_subset():
    from models.seed import FACILITIES

    assert {f.icon.removeprefix("bi-") for f in FACILITIES} <= set(subset_rules())


def test_the_subset_font_has_the_glyphs_and_little_else():
    rules = subset_rules()
    font = TTFont(FONT_DIR / "fonts" / "bootstrap-icons.woff2")
    cmap = set(font.getBestCmap())
    assert set(rules.values()) <= cmap
    assert len(cmap) <= len(rules) + 2  # no icon beyond the used ones (2000+ in the full font)
    assert (FONT_DIR / "fonts" / "bootstrap-icons.woff2").stat().st_size < 20_000
    css = (FONT_DIR / "bootstrap-icons.min.css").read_text(encoding="utf-8")
    assert re.search(r'url\("fonts/bootstrap-icons\.woff2\?\w+"\) format\("woff2"\)', css)
    assert len(css) < 10_000


def test_the_scan_reads_icon_names_whole():
    sample = '<i class="bi bi-house-heart" aria-hidden="true"></i> <span class="bi-x-lg">'
    assert NAME_RE.findall(sample) == ["house-heart", "x-lg"]
