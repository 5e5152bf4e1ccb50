"""Image bytes for uploads, and the files an image store has written."""

from __future__ import annotations

import io
import struct
import zlib
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


def zero_png(width: int, height: int, *, color_type: int = 2, bit_depth: int = 8) -> bytes:
    """A valid PNG of *width* x *height* all-zero pixels: a file of a few KB to a few hundred KB
    whose picture may be huge (a decompression bomb). *color_type*: 0 grey, 2 RGB, 6 RGBA;
    *bit_depth*: 1 or 8 (1 only for grey)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    channels = {0: 1, 2: 3, 6: 4}[color_type]
    row = b"\x00" * (1 + (width * channels * bit_depth + 7) // 8)  # filter byte + packed pixels
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
