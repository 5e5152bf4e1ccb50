"""The Content-Security-Policy itself, and the sources that must live with it.

The rendered pages are checked in test_security_headers.py (every route) and in
the browser (tests/e2e/test_csp_browser.py, where Chromium enforces the policy);
here the policy's text and the template and script sources are checked, so an
inline handler in a template branch no test renders is caught as well.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from handlers.security import CONTENT_SECURITY_POLICY, PERMISSIONS_POLICY, SECURITY_HEADERS

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
SITE_JS = sorted((ROOT / "static" / "js").glob("*.js"))


def directives() -> dict[str, list[str]]:
    parsed = {}
    for part in CONTENT_SECURITY_POLICY.split(";"):
        name, *values = part.split()
        assert name not in parsed, f"{name} given twice"
        parsed[name] = values
    return parsed


def test_policy_runs_only_this_origins_files():
    policy = directives()
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    for word in ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "http:", "https:"):
        assert word not in CONTENT_SECURITY_POLICY.split(), word


def test_other_headers():
    assert SECURITY_HEADERS["X-Frame-Options"] == "DENY"
    assert SECURITY_HEADERS["X-Content-Type-Options"] == "nosniff"
    assert SECURITY_HEADERS["Referrer-Policy"] == "strict-origin-when-cross-origin"
    denied = dict(item.split("=") for item in PERMISSIONS_POLICY.split(", "))
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert denied[feature] == "()", feature
    assert SECURITY_HEADERS["Server"] == "ihome"


INLINE_PATTERNS = {
    "event-handler attribute": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I),
    "style attribute": re.compile(r"<[^>]*\sstyle\s*=", re.I),
    "<style> block": re.compile(r"<style[\s>]", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "embedded resource": re.compile(r"embedded_(css|javascript)"),
}
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.I)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_template_has_no_inline_code(path):
    source = path.read_text()
    for what, pattern in INLINE_PATTERNS.items():
        assert not pattern.search(source), f"{what} in {path.name}"
    for attrs in SCRIPT_TAG.findall(source):
        assert "src=" in attrs or 'type="application/json"' in attrs, f"inline <script> in {path.name}"


def test_the_template_scan_sees_templates():
    assert len(TEMPLATES) > 30
    assert INLINE_PATTERNS["event-handler attribute"].search('<form onsubmit="x()">')
    assert INLINE_PATTERNS["style attribute"].search('<div class="a" style="top:0">')


@pytest.mark.parametrize("path", SITE_JS, ids=lambda p: p.name)
def test_site_scripts_need_no_unsafe_eval_or_inline_styles(path):
    source = path.read_text()
    # Direct .style.x = … (CSSOM) is allowed by style-src 'self'; a style attribute or eval is not.
    for pattern in (r"\beval\(", r"new Function\(", r"setTimeout\(\s*['\"]", r"setAttribute\(\s*['\"]style",
                    r"<style", r"\son[a-z]+="):
        assert not re.search(pattern, source), f"{pattern} in {path.name}"
