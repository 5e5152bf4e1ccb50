"""Image bytes for uploads, and the files an image store has written."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    """*img* saved as *fmt* ("JPEG", "PNG", "WEBP", …) with Pillow's *params*."""
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def jpeg_bytes(size: tuple[int, int] = (800, 600), color=(200, 120, 40)) -> bytes:
    """A plain RGB JPEG of *size* pixels (width, height) in one *color*."""
    return encode(Image.new("RGB", size, color), "JPEG")


def png_bytes(size: tuple[int, int] = (300, 200), color=(30, 140, 200)) -> bytes:
    """A plain RGB PNG of *size* pixels (width, height) in one *color*."""
    return encode(Image.new("RGB", size, color), "PNG")


def files_under(path: Path) -> list[Path]:
    """Every file below *path*, sorted."""
    return sorted(p for p in Path(path).rglob("*") if p.is_file())


def media_files(app) -> list[Path]:
    """Every file in the app's media directory, sorted."""
    return files_under(app.config.media_dir)
