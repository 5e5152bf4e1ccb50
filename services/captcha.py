"""Image captchas for sign-up, made with the ``captcha`` package.

The page embeds a random ``captcha_id``; ``GET /captcha/<captcha_id>.png`` draws a
new answer, stores it in Redis as ``captcha:<captcha_id>`` for ``ttl`` seconds
(5 minutes) and returns the PNG. :meth:`CaptchaService.check` consumes the answer
(GETDEL), so every answer works at most once, right or wrong.
"""

from __future__ import annotations

import asyncio
import io
import re
import secrets

from captcha.image import ImageCaptcha

# No 0/O, 1/I/L: answers a person can read back without guessing.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
ANSWER_LENGTH = 4
CAPTCHA_ID_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
KEY_PREFIX = "captcha:"


def new_captcha_id() -> str:
    """A fresh random id for a form's captcha (URL-safe, 22 characters)."""
    return secrets.token_urlsafe(16)


def valid_captcha_id(captcha_id: str) -> bool:
    """True when *captcha_id* has the shape of an id we hand out (16–64 URL-safe characters)."""
    return bool(CAPTCHA_ID_RE.match(captcha_id or ""))


def _draw(text: str) -> bytes:
    buf = io.BytesIO()
    ImageCaptcha(width=160, height=60).write(text, buf, format="png")
    return buf.getvalue()


class CaptchaService:
    """Issues and checks single-use image captchas; ``ttl`` is seconds."""

    def __init__(self, redis, ttl: int = 300):
        self.redis = redis
        self.ttl = ttl

    async def image(self, captcha_id: str) -> bytes:
        """Draw a new answer for *captcha_id* and return the PNG bytes.

        Raises ValueError for a malformed id. Drawing runs in an executor
        because it is CPU work (about 10 ms).
        """
        if not valid_captcha_id(captcha_id):
            raise ValueError("bad captcha id")
        answer = "".join(secrets.choice(ALPHABET) for _ in range(ANSWER_LENGTH))
        await self.redis.set(KEY_PREFIX + captcha_id, answer, ex=self.ttl)
        return await asyncio.get_running_loop().run_in_executor(None, _draw, answer)

    async def check(self, captcha_id: str, answer: str) -> bool:
        """True when *answer* matches (case-insensitive); the stored answer is used up either way."""
        if not valid_captcha_id(captcha_id):
            return False
        expected = await self.redis.getdel(KEY_PREFIX + captcha_id)
        # Compared as bytes: compare_digest raises TypeError for a str with
        # non-ASCII characters, and anyone can type 中文 into the field.
        return bool(expected) and secrets.compare_digest(
            expected.upper().encode(), (answer or "").strip().upper().encode())
