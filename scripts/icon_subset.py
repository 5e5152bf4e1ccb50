"""Ship only the bootstrap-icons the site uses: a subset font and a CSS with only those classes.

    python scripts/icon_subset.py <unpacked bootstrap-icons package> <output folder>

Run by scripts/vendor.sh (``make vendor``; ``scripts/vendor.sh icons`` for this step alone), with
fontTools and brotli from requirements-vendor.txt. The icon names are every ``bi-NAME`` written in
templates/, static/js/ and the facility catalogue in models/seed.py (icons are markup: ``<i class="bi bi-NAME" aria-hidden="true">``; a
class name built from pieces in JS would be missed, so write names whole). Names the package does
not know are an error. Writes, under the output folder::

    bootstrap-icons.min.css          @font-face, the shared .bi rules and one rule per used icon
    fonts/bootstrap-icons.woff2      only those glyphs (every browser the site supports reads WOFF2)

tests/test_icon_subset.py fails when a template or script uses an icon the CSS lacks.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME_RE = re.compile(r"\bbi-([a-z0-9]+(?:-[a-z0-9]+)*)")
RULE_RE = re.compile(r"\.bi-([a-z0-9-]+)::before\s*\{\s*content:\s*\"\\([0-9a-f]+)\"\s*;?\s*\}")
# The facility catalogue (models/seed.py) names the icons its rows carry into the pages.
SCANNED = (("templates", "*.html"), ("static/js", "*.js"), ("models", "seed.py"))


def used_icons(root: Path = ROOT) -> set[str]:
    """Every icon name (without ``bi-``) written in the templates and scripts under *root*."""
    names: set[str] = set()
    for folder, pattern in SCANNED:
        for path in sorted((root / folder).rglob(pattern)):
            names.update(NAME_RE.findall(path.read_text(encoding="utf-8")))
    return names


def codepoints(css: str) -> dict[str, int]:
    """{icon name: code point} from the package's bootstrap-icons.css."""
    return {name: int(hexcode, 16) for name, hexcode in RULE_RE.findall(css)}


def main(package: Path, out: Path) -> int:
    from fontTools import subset

    css = (package / "font" / "bootstrap-icons.css").read_text(encoding="utf-8")
    known = codepoints(css)
    names = sorted(used_icons())
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"icon_subset: not in bootstrap-icons: {', '.join(unknown)}", file=sys.stderr)
        return 1
    (out / "fonts").mkdir(parents=True, exist_ok=True)
    font_path = out / "fonts" / "bootstrap-icons.woff2"
    options = subset.Options()
    options.flavor = "woff2"
    options.layout_features = []
    options.name_IDs = []          # no names table strings beyond what is required
    options.notdef_outline = True
    font = subset.load_font(str(package / "font" / "fonts" / "bootstrap-icons.woff2"), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[known[n] for n in names])
    subsetter.subset(font)
    subset.save_font(font, str(font_path), options)
    version = hashlib.md5(font_path.read_bytes()).hexdigest()[:12]

    header = re.match(r"/\*!.*?\*/", css, re.S)
    rules = "".join(f'.bi-{n}::before{{content:"\\{known[n]:x}"}}' for n in names)
    text = (
        (header[0] + "\n" if header else "")
        + f"/* Subset by scripts/icon_subset.py: {len(names)} icons used in templates/, static/js/, models/seed.py. */\n"
        + "@font-face{font-display:block;font-family:bootstrap-icons;"
        + f'src:url("fonts/bootstrap-icons.woff2?{version}") format("woff2")}}'
        + '.bi::before,[class*=" bi-"]::before,[class^=bi-]::before{display:inline-block;'
        + "font-family:bootstrap-icons!important;font-style:normal;font-weight:400!important;"
        + "font-variant:normal;text-transform:none;line-height:1;vertical-align:-.125em;"
        + "-webkit-font-smoothing:antialiased;-moz-osx-font-smoothing:grayscale}"
        + rules + "\n"
    )
    (out / "bootstrap-icons.min.css").write_text(text, encoding="utf-8")
    print(f"icon_subset: {len(names)} icons, {font_path.stat().st_size} bytes of WOFF2", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
