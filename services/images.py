"""The photo pipeline: checks, cleans, resizes and stores uploaded pictures.

Listing photos and avatars both go through :class:`ImageStore`:

* Pillow, never the file name or the Content-Type, decides what an upload is.
  Only JPEG, PNG and WebP are accepted, within a size limit (bytes) and a
  pixel limit (width x height) that is checked before any pixel is decoded.
* The picture is fully decoded (so a truncated file is caught), turned upright
  from its EXIF orientation, flattened onto white, and re-encoded from a fresh
  image, so no EXIF (GPS position, camera serial), ICC profile, XMP or comment
  of the upload survives.
* Two JPEG files are written per picture: a large one (within 1600x1600 px)
  and a thumbnail (within 480x360 px for listings, 160x160 px centre-cropped
  squares for avatars). Neither is ever upscaled.
* Files get a random 32-hex-digit key and are written to a temporary name,
  fsynced and renamed, so a crash never leaves half a file under a real name.
  The database row that refers to the key is written only after
  :meth:`ImageStore.save` returns, so no row points to a missing file.

All the CPU and disk work runs in an executor, never on the event loop.

Layout under ``media_dir`` (served by the app at ``/media/``)::

    media_dir/3f/3f9c...e1_l.jpg    large size
    media_dir/3f/3f9c...e1_t.jpg    thumbnail

:func:`make_demo_photo` draws generated house pictures for the demo seeder.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import os
import pathlib
import random
import re
import secrets
import threading
import warnings
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageOps

__all__ = ["ImageError", "ImageStore", "StoredImage", "make_demo_photo"]

# The formats Pillow may even try to parse: restricting Image.open to these
# keeps the many other decoders (GIF, TIFF, BMP, ...) away from untrusted
# bytes. "MPO" is what Pillow calls a JPEG that carries extra pictures
# (several phone cameras write them); we keep its first picture.
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP")
_ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP"})

LARGE_BOX = (1600, 1600)
"""The large size fits within this box (width, height) in pixels."""
THUMB_BOX = (480, 360)
"""Listing thumbnails fit within this box (width, height) in pixels."""
AVATAR_THUMB_BOX = (160, 160)
"""Square (avatar) thumbnails fit within this box in pixels."""
JPEG_QUALITY = 85

SIZES = ("l", "t")
"""Size codes: "l" is the large picture, "t" the thumbnail."""

_KEY_RE = re.compile(r"[0-9a-f]{32}")

# warnings.catch_warnings() swaps process-wide state and is not thread-safe
# (Python < 3.14). Holding this lock inside it keeps our own executor threads
# from restoring each other's filters in the wrong order. Only header and
# EXIF parsing run under it (well under a millisecond), never pixel decoding.
_WARNINGS_LOCK = threading.Lock()

_MSG_FORMAT = "只支持 JPEG、PNG 或 WebP 图片"
_MSG_CORRUPT = "图片文件已损坏"


class ImageError(ValueError):
    """An upload that is not an acceptable picture.

    ``str(error)`` is a short Chinese message fit to show to the user, e.g.
    "只支持 JPEG、PNG 或 WebP 图片" or "图片不能超过 10 MB".
    """


@dataclass(frozen=True)
class StoredImage:
    """A picture saved by :meth:`ImageStore.save`.

    ``key`` is 32 lowercase hex digits; ``width`` and ``height`` are those of
    the stored large size, in pixels.
    """

    key: str
    width: int
    height: int


class ImageStore:
    """Checks, re-encodes and stores pictures under ``media_dir``.

    ``max_bytes`` caps the upload's size in bytes and ``max_pixels`` its
    width x height in pixels (Pillow's own bomb limit, about 89 million
    pixels, applies on top). ``executor`` runs the work; ``None`` means the
    event loop's default executor.
    """

    def __init__(
        self,
        media_dir: pathlib.Path,
        *,
        max_bytes: int = 10 * 1024 * 1024,
        max_pixels: int = 40_000_000,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        self.media_dir = pathlib.Path(media_dir)
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.executor = executor

    async def save(self, data: bytes, *, square: bool = False) -> StoredImage:
        """Checks ``data`` (the uploaded file's bytes) and stores it.

        With ``square=True`` (avatars) the picture is centre-cropped to a
        square and the thumbnail fits 160x160 px; otherwise the thumbnail fits
        480x360 px. The large size fits 1600x1600 px either way.

        Raises :class:`ImageError` when ``data`` is too large, not a JPEG, PNG
        or WebP, has too many pixels, or cannot be decoded; nothing is written
        then. ``OSError`` from the disk is passed on, after every file of the
        new key has been removed.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._save_sync, data, square)

    async def delete(self, key: str) -> None:
        """Removes both files of ``key``; files already gone are fine.

        Raises ``ValueError`` if ``key`` is not 32 lowercase hex digits.
        """
        paths = [self.path(key, size) for size in SIZES]
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor, _unlink_all, paths)

    def url(self, key: str, size: str = "l") -> str:
        """The URL path of one size of ``key``: ``/media/<key[:2]>/<key>_<size>.jpg``.

        ``size`` is "l" (large) or "t" (thumbnail). Raises ``ValueError`` for
        a malformed key or an unknown size.
        """
        _check_key(key, size)
        return f"/media/{key[:2]}/{key}_{size}.jpg"

    def path(self, key: str, size: str = "l") -> pathlib.Path:
        """The file of one size of ``key`` under ``media_dir``.

        ``size`` is "l" (large) or "t" (thumbnail). Raises ``ValueError`` for
        a malformed key or an unknown size, so no key can point outside
        ``media_dir``.
        """
        _check_key(key, size)
        return self.media_dir / key[:2] / f"{key}_{size}.jpg"

    # -- executor side ------------------------------------------------------

    def _save_sync(self, data: bytes, square: bool) -> StoredImage:
        if len(data) > self.max_bytes:
            raise ImageError(f"图片不能超过 {_format_bytes(self.max_bytes)}")
        img = self._decode(data)
        img = _flatten_to_rgb(img)
        if square:
            img = _centre_square(img)
        img.thumbnail(LARGE_BOX, Image.Resampling.LANCZOS)
        thumb = img.copy()
        thumb.thumbnail(AVATAR_THUMB_BOX if square else THUMB_BOX, Image.Resampling.LANCZOS)
        key = secrets.token_hex(16)
        self._write_files(key, {"l": _encode_jpeg(img), "t": _encode_jpeg(thumb)})
        return StoredImage(key=key, width=img.width, height=img.height)

    def _decode(self, data: bytes) -> Image.Image:
        """Opens, checks and fully decodes ``data``; returns an upright image."""
        try:
            with _pillow_warnings():
                img = Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(self._too_many_pixels()) from None
        except Image.UnidentifiedImageError:
            raise ImageError(_MSG_FORMAT) from None
        except MemoryError:
            raise
        except Exception:
            # A header Pillow recognised but could not parse.
            raise ImageError(_MSG_CORRUPT) from None

        if img.format not in _ACCEPTED_FORMATS:
            raise ImageError(_MSG_FORMAT)
        # Image.open has read only the header: refuse before decoding pixels.
        if img.width * img.height > self.max_pixels:
            raise ImageError(self._too_many_pixels())

        try:
            # For JPEG, decode at 1/2, 1/4 or 1/8 scale when the result still
            # covers the large size: far less memory and time for big photos.
            # (A no-op for PNG and WebP.)
            img.draft("RGB", LARGE_BOX)
            # verify() would not decode the pixel data; load() does, and
            # raises on a truncated or damaged stream.
            img.load()
            with _pillow_warnings():
                ImageOps.exif_transpose(img, in_place=True)
        except MemoryError:
            raise
        except Exception:
            # Pillow raises a zoo of types on malformed input (OSError,
            # SyntaxError, struct.error, ValueError, ...); all mean the same.
            raise ImageError(_MSG_CORRUPT) from None
        return img

    def _too_many_pixels(self) -> str:
        return f"图片像素过多（最多 {self.max_pixels / 10_000:g} 万像素）"

    def _write_files(self, key: str, blobs: dict[str, bytes]) -> None:
        """Writes each blob to its final name via temp file, fsync and rename.

        On any failure every temp and final file of ``key`` is removed before
        the exception goes on, so the key is either complete or absent.
        """
        folder = self.media_dir / key[:2]
        new_folder = not folder.is_dir()
        folder.mkdir(parents=True, exist_ok=True)
        if new_folder:
            # Make the new folder's own entry durable too.
            _fsync_dir(folder.parent)
        written: list[pathlib.Path] = []
        try:
            for size, blob in blobs.items():
                final = self.path(key, size)
                # A dot name, so no URL can reach a half-written file; random,
                # so two writers never share one.
                tmp = folder / f".{final.name}.tmp-{secrets.token_hex(4)}"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                written.append(tmp)
                with open(fd, "wb") as f:
                    f.write(blob)
                    f.flush()
                    os.fsync(f.fileno())
                written.append(final)
                os.replace(tmp, final)
            # The renames themselves are durable only once the folder is.
            _fsync_dir(folder)
        except BaseException:
            _unlink_all(written)
            raise


@contextlib.contextmanager
def _pillow_warnings():
    """Makes Pillow's parsing of an upload behave the same under any warning filters.

    Pillow warns (rather than raises) between its pixel limit and twice that;
    this turns it into an exception, mapped to ImageError. Its UserWarnings
    about damaged metadata ("Tag data larger than file", "Invalid APNG") are
    silenced: that metadata is thrown away, and a user's odd camera should not
    fill the log (nor, under tests' filterwarnings=error, refuse the photo).
    """
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _check_key(key: str, size: str) -> None:
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ValueError(f"invalid image key: {key!r}")
    if size not in SIZES:
        raise ValueError(f"invalid image size: {size!r}")


def _unlink_all(paths: list[pathlib.Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def _fsync_dir(folder: pathlib.Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _format_bytes(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MB"
    return f"{n / 1024:g} KB"


def _flatten_to_rgb(img: Image.Image) -> Image.Image:
    """A new RGB image of ``img``'s pixels, transparency flattened onto white.

    The result is built with Image.new, so it carries none of ``img.info``
    (Pillow's JPEG encoder would otherwise copy e.g. a comment across).
    """
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit greyscale PNG: a plain convert() would clip every value
        # above 255 to white, so scale down to 8 bits first.
        img = img.convert("I").point(lambda v: v / 256).convert("L")
    out = Image.new("RGB", img.size, "white")
    if img.mode in ("RGBA", "LA", "PA", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        out.paste(rgba, mask=rgba.getchannel("A"))
    else:
        out.paste(img.convert("RGB"))
    return out


def _centre_square(img: Image.Image) -> Image.Image:
    side = min(img.size)
    left = (img.width - side) // 2
    top = (img.height - side) // 2
    return img.crop((left, top, left + side, top + side))


def _encode_jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    # No exif/icc_profile/xmp/comment arguments and an info-less image: the
    # file holds pixels and nothing else.
    img.save(buf, "JPEG", quality=JPEG_QUALITY, progressive=True, optimize=True)
    return buf.getvalue()


def make_demo_photo(seed: int, width: int = 1200, height: int = 800) -> bytes:
    """Draws a house under a sky and returns it as JPEG bytes.

    ``width`` and ``height`` are in pixels (at least 64 each). Colours and
    layout come from ``seed``: the same arguments always give the same bytes.
    Raises ``ValueError`` for a size below 64x64 pixels.
    """
    if width < 64 or height < 64:
        raise ValueError("demo photo must be at least 64x64 pixels")
    # A private generator: the global random state is not ours to disturb,
    # and it would make the picture depend on whoever ran before.
    rng = random.Random(seed)
    w, h = width, height
    horizon = int(h * rng.uniform(0.58, 0.68))

    def tint(base: tuple[int, int, int], spread: int = 30) -> tuple[int, int, int]:
        return tuple(max(0, min(255, c + rng.randint(-spread, spread))) for c in base)

    # Sky: a vertical gradient from deep to pale blue (or a dusk orange).
    top, bottom = rng.choice(
        [((70, 130, 200), (200, 225, 245)), ((90, 110, 190), (250, 200, 160))]
    )
    sky = ImageOps.colorize(
        Image.linear_gradient("L").resize((w, horizon)), tint(top, 15), tint(bottom, 15)
    )
    img = Image.new("RGB", (w, h), tint((110, 170, 90), 25))
    img.paste(sky, (0, 0))
    draw = ImageDraw.Draw(img)

    # Sun and a few clouds.
    r = int(min(w, h) * 0.06)
    sx, sy = int(w * rng.uniform(0.1, 0.9)), int(horizon * rng.uniform(0.15, 0.4))
    draw.ellipse((sx - r, sy - r, sx + r, sy + r), fill=(255, 236, 170))
    for _ in range(rng.randint(2, 4)):
        cx, cy = int(w * rng.random()), int(horizon * rng.uniform(0.1, 0.5))
        cw, ch = int(w * rng.uniform(0.08, 0.16)), int(h * rng.uniform(0.03, 0.06))
        for dx in (-cw // 2, 0, cw // 2):
            puff = (cx + dx - cw // 2, cy - ch, cx + dx + cw // 2, cy + ch)
            draw.ellipse(puff, fill=(250, 250, 252))

    # The house: walls, then roof, door, windows and a garden path.
    house_w = int(w * rng.uniform(0.42, 0.55))
    # Capped by the width too, so a portrait picture shows a house, not a tower.
    house_h = min(int(h * rng.uniform(0.28, 0.36)), int(house_w * 0.7))
    left = (w - house_w) // 2 + int(w * rng.uniform(-0.1, 0.1))
    base = horizon + int(h * 0.12)
    wall = tint(rng.choice([(235, 225, 205), (215, 190, 160), (200, 210, 220), (240, 240, 235)]))
    walls = (left, base - house_h, left + house_w, base)
    draw.rectangle(walls, fill=wall, outline=(90, 80, 70), width=2)

    # Roof: a triangle overhanging the walls a little.
    roof = tint(rng.choice([(150, 60, 50), (80, 80, 90), (120, 80, 50), (60, 90, 120)]), 20)
    over = int(house_w * 0.06)
    peak = base - house_h - int(house_h * rng.uniform(0.45, 0.7))
    eaves = base - house_h
    draw.polygon(
        [(left - over, eaves), (left + house_w // 2, peak), (left + house_w + over, eaves)],
        fill=roof,
    )

    # Door in the middle, two rows of windows either side.
    door_w, door_h = max(4, house_w // 9), int(house_h * 0.45)
    door_x = left + (house_w - door_w) // 2
    draw.rectangle((door_x, base - door_h, door_x + door_w, base), fill=tint((110, 70, 45), 20))
    glass = tint((170, 205, 230), 20) if rng.random() < 0.6 else tint((250, 220, 140), 10)
    win = max(4, min(house_w // 8, house_h // 4))
    for row in (0.22, 0.58):
        wy = base - house_h + int(house_h * row)
        for col in (0.12, 0.68):
            wx = left + int(house_w * col)
            wb = wy + win * 3 // 4
            draw.rectangle((wx, wy, wx + win, wb), fill=glass, outline=(255, 255, 255), width=3)
            draw.line((wx + win // 2, wy, wx + win // 2, wb), fill=(255, 255, 255), width=2)

    # The garden path widens towards the viewer, for a little perspective.
    draw.polygon(
        [(door_x, base), (door_x + door_w, base), (door_x + door_w * 2, h), (door_x - door_w, h)],
        fill=(200, 190, 170),
    )

    # Trees: a trunk and a round crown at either side of the house.
    for tx in (rng.uniform(0.04, 0.2), rng.uniform(0.8, 0.96)):
        x = int(w * tx)
        crown = int(min(w, h) * rng.uniform(0.07, 0.11))
        trunk_top = base - int(crown * 1.2)
        trunk = (x - crown // 6, trunk_top, x + crown // 6, base + crown // 3)
        draw.rectangle(trunk, fill=(100, 70, 40))
        leaves = (x - crown, trunk_top - crown * 2, x + crown, trunk_top + crown // 2)
        draw.ellipse(leaves, fill=tint((60, 130, 60), 25))

    return _encode_jpeg(img)
