"""Page weight: the bytes a cold visit transfers, per page kind and viewport, against the targets.

    .venv/bin/python bench/page_weight.py [--redis-db N] [--only home,listing]

Starts ``server.py`` on a free loopback port (IHOME_ENV=test) over a throw-away database with the
demo data (42 listings with photos: tests/utils/testdb.py + the demo seed) and a guest account,
then loads each page in Debian's Chromium (Playwright, headless) in a fresh browser context (no
cache, no cookies but the guest's session where the page needs one) at 1366×900 and 390×844,
waits until the network is idle (nothing scrolled), and sums what went over the wire: the
Chrome DevTools ``Network.loadingFinished`` ``encodedDataLength`` of every request (headers
and body as transferred, compressed when the answer was). Requests under ``/media/`` count as
photos, everything else (HTML, CSS, JS, fonts, icons) as the rest.

Targets (issue 13): the home page ≤ 300 KB in all, photos included; every other page ≤ 150 KB
besides its photos, on both viewports. Prints a table (KB = 1024 bytes) and writes
``var/bench/page_weight.json``: a list of {page, viewport, total_bytes, photo_bytes, other_bytes,
requests, target, ok}. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from config import test_settings  # noqa: E402
from models.db import create_database  # noqa: E402
from tests.utils.testdb import throwaway_database  # noqa: E402
from bench.serving import free_port, seed_demo_data, stop, wait_until_up  # noqa: E402

RESULTS = ROOT / "var" / "bench" / "page_weight.json"
CHROMIUM = "/usr/bin/chromium"  # Debian's package; never a downloaded browser
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORTS = {"desktop": (1366, 900), "phone": (390, 844)}
GUEST_MOBILE, GUEST_PASSWORD = "13900000002", "bench-guest-pw"
HOME_TARGET = 300 * 1024    # bytes, photos included
OTHER_TARGET = 150 * 1024   # bytes, photos excluded
KB = 1024


def seed(settings) -> int:
    """The demo listings and a guest; returns the id of a listing with photos."""
    seed_demo_data(settings, GUEST_MOBILE, GUEST_PASSWORD)

    async def listing_with_photos() -> int:
        db = await create_database(settings)
        try:
            return int(await db.scalar(
                "SELECT h.id FROM houses h WHERE h.status = 'online' AND "
                "(SELECT COUNT(*) FROM house_images i WHERE i.house_id = h.id) >= 3 ORDER BY h.id LIMIT 1"))
        finally:
            await db.close()
    return asyncio.run(listing_with_photos())

def guest_cookies(browser, base: str) -> list[dict]:
    """The guest's session cookies, from logging in through the real form once."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("input[name=mobile]", GUEST_MOBILE)
    page.fill("input[name=password]", GUEST_PASSWORD)
    with page.expect_navigation():
        page.click("form[action='/login'] [type=submit]")
    cookies = context.cookies()
    context.close()
    return cookies


def weigh(browser, url: str, viewport: tuple[int, int], cookies: list[dict] | None) -> dict:
    """Bytes transferred by a cold load of *url*: {total_bytes, photo_bytes, other_bytes, requests}."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    try:
        if cookies:
            context.add_cookies(cookies)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        urls: dict[str, str] = {}
        sizes: dict[str, int] = {}
        cdp.on("Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]))
        cdp.on("Network.loadingFinished",
               lambda e: sizes.__setitem__(e["requestId"], int(e.get("encodedDataLength", 0))))
        response = page.goto(url, wait_until="networkidle")
        if response is None or response.status != 200:
            raise SystemExit(f"{url}: status {response and response.status}")
        page.wait_for_timeout(300)  # the last loadingFinished events
        photo = sum(n for rid, n in sizes.items() if "/media/" in urls.get(rid, ""))
        total = sum(sizes.values())
        return {"total_bytes": total, "photo_bytes": photo, "other_bytes": total - photo, "requests": len(sizes)}
    finally:
        context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-db", type=int, default=int(os.environ.get("IHOME_TEST_REDIS_DB", "12")),
                        help="a scratch Redis database (flushed); default IHOME_TEST_REDIS_DB or 12")
    parser.add_argument("--only", default="", help="comma-separated page names")
    args = parser.parse_args()
    workdir = ROOT / "var" / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    base_settings = test_settings(media_dir=workdir / "weight-media")

    with throwaway_database(f"ihome_test_bench_weight_{os.getpid()}", base=base_settings,
                            redis_db=args.redis_db) as settings:
        listing = seed(settings)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("IHOME_")}
        env.update(IHOME_ENV="test", IHOME_MYSQL_URL=settings.mysql_url, IHOME_REDIS_URL=settings.redis_url,
                   IHOME_MEDIA_DIR=str(settings.media_dir), IHOME_COOKIE_SECRET=secrets.token_urlsafe(36),
                   IHOME_BCRYPT_ROUNDS="4", IHOME_IPLOOKUP_URL="http://127.0.0.1:9/{ip}",
                   IHOME_LIMIT_LOGIN_PER_IP="0", IHOME_LIMIT_LOGIN_PER_MOBILE="0")
        base = f"http://127.0.0.1:{port}"
        with open(workdir / "weight-app.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "server.py", f"--port={port}", "--access_log=false"],
                                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_until_up(base + "/healthz", proc)
                rows = run_pages(base, listing, [n for n in args.only.split(",") if n])
            finally:
                stop(proc)
    RESULTS.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    print_table(rows)
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0 if all(r["ok"] for r in rows) else 1


def run_pages(base: str, listing: int, only: list[str]) -> list[dict]:
    pages = [  # (name, path, logged in as the guest)
        ("home", "/", False),
        ("search", "/houses", False),
        ("search_city", "/houses?sort=price-inc", False),
        ("listing", f"/houses/{listing}", False),
        ("listing_guest", f"/houses/{listing}", True),
        ("login", "/login", False),
        ("register", "/register", False),
        ("my_orders_guest", "/my/orders", True),
        ("profile_guest", "/profile", True),
    ]
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            cookies = guest_cookies(browser, base)
            for name, path, member in pages:
                if only and name not in only:
                    continue
                for viewport_name, viewport in VIEWPORTS.items():
                    figures = weigh(browser, base + path, viewport, cookies if member else None)
                    target = HOME_TARGET if name == "home" else OTHER_TARGET
                    measured = figures["total_bytes"] if name == "home" else figures["other_bytes"]
                    rows.append({"page": name, "path": path, "viewport": viewport_name, **figures,
                                 "target": "total <= 300 KB" if name == "home" else "without photos <= 150 KB",
                                 "ok": measured <= target})
        finally:
            browser.close()
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"{'page':<16} {'viewport':<8} {'total KB':>9} {'photos KB':>10} {'rest KB':>8} {'req':>4}  target")
    for r in rows:
        print(f"{r['page']:<16} {r['viewport']:<8} {r['total_bytes'] / KB:>9.1f} {r['photo_bytes'] / KB:>10.1f} "
              f"{r['other_bytes'] / KB:>8.1f} {r['requests']:>4}  {r['target']}: {'ok' if r['ok'] else 'OVER'}")


if __name__ == "__main__":
    sys.exit(main())
