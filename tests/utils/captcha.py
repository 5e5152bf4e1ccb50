"""The sign-up captcha as a test solves it: read the answer from the real Redis."""

from __future__ import annotations

import re

from tests.utils.client import Client, text

CAPTCHA_ID_RE = re.compile(r'name="captcha_id" value="([^"]+)"')


async def captcha_for(client: Client, app) -> tuple[str, str]:
    """(captcha_id, answer): open the sign-up form, load its captcha image, read the answer.

    Loading the image is what stores the answer (``captcha:<id>``, used once, 5 minutes).
    """
    page = await client.get("/register")
    assert page.code == 200, page.code
    captcha_id = CAPTCHA_ID_RE.search(text(page)).group(1)
    image = await client.get(f"/captcha/{captcha_id}.png")
    assert image.code == 200 and image.body.startswith(b"\x89PNG")
    return captcha_id, await app.redis.get(f"captcha:{captcha_id}")
