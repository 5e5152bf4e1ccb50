"""The photo pipeline: checks, cleans, resizes and stores uploaded pictures.

Listing photos and avatars both go through :class:`ImageStore`:

* Pillow, never the file name or the Content-Type, decides what an upload is.
  Only JPEG, PNG and WebP are accepted, within a size limit (bytes), a pixel
  limit (width x height) and a decoded-bytes limit (width x height x bytes per
  pixel of the working image), all checked from the header before any pixel
  is decoded. A pixel limit alone does not bound memory: a 40 KB PNG of
  6300x6300 is under 40 million pixels yet costs ~120 MB once decoded. JPEGs
  are measured after ``Image.draft`` (the decoder's own 1/2, 1/4, 1/8 scaling),
  so a big phone photo costs what its reduced size costs. Avatars get a far
  smaller decoded-bytes limit (:data:`AVATAR_MAX_DECODED_BYTES`) than listing
  photos (:data:`PHOTO_MAX_DECODED_BYTES`).
* At most ``max_decodes`` pictures (default: the number of CPUs) are decoded at
  once per process (an asyncio semaphore in front of the executor), so peak
  memory is bounded by ``max_decodes`` x the decoded-bytes limit, whatever
  the number of concurrent uploads.
* The picture is fully decoded (so a truncated file is caught), reduced early
  (``Image.reduce``) when it is far larger than the stored size, turned upright
  from its EXIF orientation, flattened onto white, and re-encoded from a fresh
  image, so no EXIF (GPS position, camera serial), ICC profile, XMP or comment
  of the upload survives.
* Avatars get two JPEG files: a large one (within 1600x1600 px) and a
  160x160 px centre-cropped thumbnail.
* Listing photos get responsive widths for ``<picture>``/``srcset``: 480, 960
  and 1600 px wide (:data:`WIDTHS`), each as WebP and JPEG (:data:`FORMATS`),
  plus the legacy names ``_l`` (the large size, a hard link to ``_1600.jpg``:
  no extra bytes) and ``_t`` (within 480x360 px), so URLs in pages rendered
  before, and templates that still ask for ``l``/``t``, keep working.
  Nothing is ever upscaled: a width at or above the large size's width is the
  large size itself, stored as a hard link to the widest real file, so the
  set of names is always the same (a page can name every width without
  looking at the disk) and :meth:`ImageStore.srcset` lists each distinct width
  once when the picture's width is known.
* Files get a random 32-hex-digit key and are written to a temporary name,
  fsynced and renamed, so a crash never leaves half a file under a real name.
  The database row that refers to the key is written only after
  :meth:`ImageStore.save` returns, so no row points to a missing file.

All the CPU and disk work runs in an executor, never on the event loop.

Layout under ``media_dir`` (served by the app at ``/media/``)::

    media_dir/3f/3f9c...e1_l.jpg      large size (photos: a hard link to _1600.jpg)
    media_dir/3f/3f9c...e1_t.jpg      thumbnail
    media_dir/3f/3f9c...e1_480.webp   photos: 480 px wide (also .jpg; 960, 1600 likewise)

Photos stored before the responsive widths existed have only ``_l``/``_t``:
:meth:`ImageStore.make_variants` (``manage.py photos-responsive``) adds the
widths; until then handlers/media.py answers a width's URL with the legacy file.

:func:`make_demo_photo` draws generated house pictures for the demo seeder.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import functools
import io
import logging
import os
import pathlib
import random
import re
import secrets
import threading
import time
import warnings
import weakref
from dataclasses import dataclass
from typing import BinaryIO, Union

from PIL import Image, ImageDraw, ImageOps

__all__ = ["ImageError", "ImageStore", "StoredImage", "make_demo_photo", "PHOTO_MAX_DECODED_BYTES",
           "AVATAR_MAX_DECODED_BYTES", "WIDTHS", "FORMATS"]

log = logging.getLogger("ihome.images")

Source = Union[bytes, bytearray, memoryview, str, os.PathLike]
"""What :meth:`ImageStore.save` takes: the upload's bytes, or the path of a file holding them."""

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

PHOTO_MAX_DECODED_BYTES = 64 * 1024 * 1024
"""Listing photos: at most this many bytes once decoded (width x height x bytes per
pixel of the RGB or RGBA working image), e.g. a 22-megapixel RGB PNG or any JPEG
whose drafted size fits. Two decodes at once stay well under the process budget."""
AVATAR_MAX_DECODED_BYTES = 24 * 1024 * 1024
"""Avatars: well under half a listing photo's budget (a 3000x2000 photo or a
phone screenshot fits; an avatar is shown at 160x160 px at most). A 6300x6300
PNG (~120 MB decoded) is refused from its header."""
AVATAR_DRAFT_BOX = (1024, 1024)
"""Avatars are drafted (JPEG) towards this box: a 12-megapixel photo decodes at
half size (2000x1500 px, 9 MB) instead of in full (36 MB)."""

SIZES = ("l", "t")
"""Size codes: "l" is the large picture, "t" the thumbnail."""
WIDTHS = (480, 960, 1600)
"""Responsive widths of listing photos, in pixels (the widest is the large size)."""
FORMATS = ("webp", "jpg")
"""File formats of each responsive width: WebP for browsers that take it, JPEG for the rest."""
WEBP_QUALITY = 80

_KEY_RE = re.compile(r"[0-9a-f]{32}")

# warnings.catch_warnings() swaps process-wide state and is not thread-safe
# (Python < 3.14). Holding this lock inside it keeps our own executor threads
# from restoring each other's filters in the wrong order. Only header and
# EXIF parsing run under it (well under a millisecond), never pixel decoding.
_WARNINGS_LOCK = threading.Lock()

_MSG_FORMAT = "只支持 JPEG、PNG 或 WebP 图片"
_MSG_CORRUPT = "图片文件已损坏"
_MSG_TOO_LARGE_DECODED = "图片尺寸过大，请缩小后再上传（解码后最多 {limit}）"

# Bytes per pixel of the working image a mode ends up as: everything is
# flattened to 8-bit RGB (3), through RGBA (4) when it has transparency. Modes
# wider than that (CMYK, 16/32-bit) cost what they are.
_WIDE_MODES = {"CMYK": 4, "I": 4, "F": 4, "I;16": 4, "I;16L": 4, "I;16B": 4, "I;16N": 4}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
# Modes Image.reduce() works on; others are reduced after conversion.
_REDUCIBLE_MODES = {"L", "LA", "RGB", "RGBA", "I", "F", "CMYK"}
# EXIF orientation -> the transpose that makes the picture upright.
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_M_MMAP_THRESHOLD = -3  # glibc mallopt() parameter
INCOMING_DIR = ".incoming"
"""Folder under ``media_dir`` for uploads being received (dot name: no URL reaches it)."""


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
    pixels, applies on top). ``max_decoded_bytes`` and
    ``avatar_max_decoded_bytes`` cap the memory one decode may take (bytes,
    see :data:`PHOTO_MAX_DECODED_BYTES`). ``max_decodes`` is how many
    pictures this store decodes at once (default ``os.cpu_count()``); the
    others wait without holding an executor thread. ``executor`` runs the
    work; ``None`` means the event loop's default executor.
    """

    def __init__(
        self,
        media_dir: pathlib.Path,
        *,
        max_bytes: int = 10 * 1024 * 1024,
        max_pixels: int = 40_000_000,
        max_decoded_bytes: int = PHOTO_MAX_DECODED_BYTES,
        avatar_max_decoded_bytes: int = AVATAR_MAX_DECODED_BYTES,
        max_decodes: int | None = None,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        self.media_dir = pathlib.Path(media_dir)
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.max_decoded_bytes = max_decoded_bytes
        self.avatar_max_decoded_bytes = avatar_max_decoded_bytes
        self.max_decodes = max(1, max_decodes or os.cpu_count() or 1)
        self.executor = executor
        # One semaphore per event loop: an asyncio primitive belongs to the
        # loop it first waits on, and tests run several loops in one process.
        self._gates: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        _tune_allocator()
        self.decoding = 0
        """Decodes running right now (read by tests and the memory benchmark)."""
        self.max_decoding_seen = 0
        """The most decodes that ever ran at once in this store."""

    def _gate(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self.max_decodes)
        return gate

    async def save(self, source: Source, *, square: bool = False) -> StoredImage:
        """Checks ``source`` (the upload's bytes, or the path of a file holding
        them) and stores it.

        With ``square=True`` (avatars) the picture is centre-cropped to a
        square, held to the avatar decoded-bytes limit, and the thumbnail fits
        160x160 px; otherwise the thumbnail fits 480x360 px. The large size
        fits 1600x1600 px either way.

        Raises :class:`ImageError` when the upload is too large (bytes), not a
        JPEG, PNG or WebP, has too many pixels, would take too many bytes to
        decode, or cannot be decoded; nothing is written then. ``OSError``
        from the disk is passed on, after every file of the new key has been
        removed.
        """
        loop = asyncio.get_running_loop()
        async with self._gate():
            return await loop.run_in_executor(self.executor, self._save_sync, source, square)

    async def delete(self, key: str) -> None:
        """Removes both files of ``key``; files already gone are fine.

        Raises ``ValueError`` if ``key`` is not 32 lowercase hex digits.
        """
        await self.delete_many([key])

    async def delete_many(self, keys: list[str]) -> None:
        """Removes both files of every key in ``keys`` (files already gone are fine).

        Raises ``ValueError`` before removing anything if a key is malformed.
        """
        paths = [p for key in keys for p in self.all_paths(key)]
        if not paths:
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor, _unlink_all, paths)

    def incoming_dir(self) -> pathlib.Path:
        """The folder for uploads being received, created on first use.

        It sits under ``media_dir`` (same disk, never a RAM-backed /tmp) in a
        dot folder that no media URL reaches. Files older than an hour there
        are leftovers of a crashed process and are removed now.
        """
        folder = self.media_dir / INCOMING_DIR
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
        else:
            _sweep(folder, max_age=3600)
        return folder

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

    def variant_path(self, key: str, width: int, fmt: str) -> pathlib.Path:
        """The file of one responsive width (480, 960 or 1600 px) and format ("webp" or "jpg") of
        photo ``key``. Raises ``ValueError`` for a malformed key, width or format."""
        _check_variant(key, width, fmt)
        return self.media_dir / key[:2] / f"{key}_{width}.{fmt}"

    def variant_url(self, key: str, width: int, fmt: str) -> str:
        """The URL path of :meth:`variant_path`: ``/media/<key[:2]>/<key>_<width>.<fmt>``."""
        _check_variant(key, width, fmt)
        return f"/media/{key[:2]}/{key}_{width}.{fmt}"

    def srcset(self, key: str, fmt: str, width: int | None = None) -> str:
        """A ``srcset`` value for photo ``key`` in ``fmt``: "url 480w, url 960w, url 1600w".

        ``width`` is the stored large size's width in pixels when known (house_images.width):
        widths above it are the same file, so each distinct width is listed once with its true
        size. Unknown: the three widths as named (a narrower photo's wider names hold the
        picture at its own size, so a browser only ever gets fewer pixels than it asked for).
        """
        seen: dict[int, int] = {}
        for w in WIDTHS:
            real = min(w, width) if width else w
            seen.setdefault(real, w)
        return ", ".join(f"{self.variant_url(key, name, fmt)} {real}w" for real, name in seen.items())

    def all_paths(self, key: str) -> list[pathlib.Path]:
        """Every file name photo or avatar ``key`` may have (legacy sizes and responsive widths)."""
        return [self.path(key, size) for size in SIZES] + [
            self.variant_path(key, w, fmt) for w in WIDTHS for fmt in FORMATS]

    async def make_variants(self, key: str) -> bool:
        """Adds the responsive widths to a photo stored with only ``_l``/``_t`` (the conversion of
        old photos). Returns False when every width is there already (nothing done), True after
        writing them. Idempotent and safe to interrupt: each file is written to a temp name and
        renamed, and a photo with any width missing is done again in full.

        Raises ``FileNotFoundError`` when the photo's large file is missing and
        :class:`ImageError` when it cannot be decoded; nothing is written then.
        """
        loop = asyncio.get_running_loop()
        async with self._gate():
            return await loop.run_in_executor(self.executor, self._variants_sync, key)

    # -- executor side ------------------------------------------------------

    def _variants_sync(self, key: str) -> bool:
        if all(p.is_file() for p in self.all_paths(key)[len(SIZES):]):
            return False
        large_path = self.path(key, "l")
        self.decoding += 1
        self.max_decoding_seen = max(self.max_decoding_seen, self.decoding)
        try:
            with open(large_path, "rb") as stream:
                img = _flatten_to_rgb(self._decode(stream, square=False))
        finally:
            self.decoding -= 1
        try:
            blobs = _variant_blobs(key, img)[0]
            # The widest JPEG is the large file itself: linked, not encoded a second time.
            blobs[f"{key}_{WIDTHS[-1]}.jpg"] = large_path
            self._write_files(key, blobs)
            return True
        finally:
            del img
            if self.decoding == 0:
                _release_free_memory()

    def _save_sync(self, source: Source, square: bool) -> StoredImage:
        self.decoding += 1
        self.max_decoding_seen = max(self.max_decoding_seen, self.decoding)
        try:
            img = self._prepare_image(source, square)
        finally:
            self.decoding -= 1
        try:
            key = secrets.token_hex(16)
            blobs: dict[str, bytes | pathlib.Path] = {}
            smallest = img
            if not square:
                variants, smallest = _variant_blobs(key, img)
                blobs.update(variants)
            large = blobs.get(f"{key}_{WIDTHS[-1]}.jpg") or _encode_jpeg(img)
            blobs[f"{key}_l.jpg"] = large  # the same bytes object: a hard link to _1600.jpg
            box = AVATAR_THUMB_BOX if square else THUMB_BOX
            if not square and smallest.width <= box[0] and smallest.height <= box[1]:
                # The narrowest width fits the thumbnail box (landscape photos): the same file.
                blobs[f"{key}_t.jpg"] = blobs[f"{key}_{WIDTHS[0]}.jpg"]
            else:
                thumb = smallest.copy()
                thumb.thumbnail(box, Image.Resampling.LANCZOS)
                blobs[f"{key}_t.jpg"] = _encode_jpeg(thumb)
                del thumb
            del smallest
            self._write_files(key, blobs)
            return StoredImage(key=key, width=img.width, height=img.height)
        finally:
            del img
            if self.decoding == 0:
                _release_free_memory()

    def _prepare_image(self, source: Source, square: bool) -> Image.Image:
        """The upright, flattened RGB picture within the large box (decoded under the limits)."""
        if isinstance(source, (bytes, bytearray, memoryview)):
            size = len(source)
        else:
            size = os.stat(source).st_size
        if size > self.max_bytes:
            raise ImageError(f"图片不能超过 {_format_bytes(self.max_bytes)}")
        with contextlib.ExitStack() as stack:
            if isinstance(source, (bytes, bytearray, memoryview)):
                stream: BinaryIO = io.BytesIO(source)
            else:
                stream = stack.enter_context(open(source, "rb"))
            img = self._decode(stream, square)
        # Read before reduce(): the reduced copy carries no EXIF.
        orientation = _orientation(img)
        # Memory: the decoded picture is the one big buffer. Everything after
        # it is done on a smaller copy (reduce, then resize) before the
        # full-size one is dropped; flattening and rotating come last, on the
        # large size at most. Peak: about the decoded size, twice for pictures
        # with transparency (Pillow resizes those premultiplied).
        img = _working_mode(img)
        if square:
            img = _centre_square(_reduce_to(img, min(img.size), LARGE_BOX[0]))
        else:
            img = _reduce_to(img, max(img.width / LARGE_BOX[0], img.height / LARGE_BOX[1]) * LARGE_BOX[0],
                             LARGE_BOX[0])
        img.thumbnail(LARGE_BOX, Image.Resampling.LANCZOS)
        if orientation in _ORIENTATION:
            img = img.transpose(_ORIENTATION[orientation])
        return _flatten_to_rgb(img)

    def _decode(self, stream: BinaryIO, square: bool) -> Image.Image:
        """Opens, checks and fully decodes ``stream``; the pixels as stored in the file."""
        try:
            with _pillow_warnings():
                img = Image.open(stream, formats=_OPEN_FORMATS)
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
            # covers what is stored: far less memory and time for big photos.
            # (A no-op for PNG and WebP.) img.size is the drafted size after it.
            img.draft("RGB", AVATAR_DRAFT_BOX if square else LARGE_BOX)
        except Exception:
            raise ImageError(_MSG_CORRUPT) from None
        limit = self.avatar_max_decoded_bytes if square else self.max_decoded_bytes
        if decoded_bytes(img) > limit:
            raise ImageError(_MSG_TOO_LARGE_DECODED.format(limit=_format_bytes(limit)))

        try:
            # verify() would not decode the pixel data; load() does, and
            # raises on a truncated or damaged stream.
            with _pillow_warnings():
                img.load()
        except MemoryError:
            raise
        except Exception:
            # Pillow raises a zoo of types on malformed input (OSError,
            # SyntaxError, struct.error, ValueError, ...); all mean the same.
            raise ImageError(_MSG_CORRUPT) from None
        return img

    def _too_many_pixels(self) -> str:
        return f"图片像素过多（最多 {self.max_pixels / 10_000:g} 万像素）"

    def _write_files(self, key: str, blobs: dict[str, bytes | pathlib.Path]) -> None:
        """Writes each blob (file name -> bytes) to its final name via temp file, fsync and rename.

        A bytes object that appears under several names is written once and hard-linked to
        the others; a ``Path`` value is an existing file to hard-link (same folder). On any
        failure every temp and final file written here is removed before the exception goes
        on, so a new key is either complete or absent.
        """
        folder = self.media_dir / key[:2]
        new_folder = not folder.is_dir()
        folder.mkdir(parents=True, exist_ok=True)
        if new_folder:
            # Make the new folder's own entry durable too.
            _fsync_dir(folder.parent)
        written: list[pathlib.Path] = []
        try:
            first: dict[int, pathlib.Path] = {}  # id(bytes) -> the final name written with them
            for name, blob in blobs.items():
                if not _FILE_NAME_RE.fullmatch(name) or not name.startswith(key):
                    raise ValueError(f"invalid image file name: {name!r}")
                final = folder / name
                # A dot name, so no URL can reach a half-written file; random,
                # so two writers never share one.
                tmp = folder / f".{final.name}.tmp-{secrets.token_hex(4)}"
                source = blob if isinstance(blob, pathlib.Path) else first.get(id(blob))
                written.append(tmp)
                if source is not None:
                    os.link(source, tmp)  # same bytes already on disk: a second name, no copy
                else:
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                    with open(fd, "wb") as f:
                        f.write(blob)
                        f.flush()
                        os.fsync(f.fileno())
                    first[id(blob)] = final
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


_FILE_NAME_RE = re.compile(r"[0-9a-f]{32}_(?:[lt]\.jpg|(?:480|960|1600)\.(?:webp|jpg))")


def _check_variant(key: str, width: int, fmt: str) -> None:
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ValueError(f"invalid image key: {key!r}")
    if width not in WIDTHS or fmt not in FORMATS:
        raise ValueError(f"invalid image variant: {width!r} {fmt!r}")


def _variant_blobs(key: str, img: Image.Image) -> tuple[dict[str, bytes], Image.Image]:
    """({file name: encoded bytes} of every responsive width of *img* (the large size, RGB),
    the narrowest of those pictures).

    A width at or above the picture's own is the picture itself (never upscaled): its names
    get the very same bytes objects as the widest real width, so _write_files links them.
    Widths are made widest first, each from the one before (a 480 px picture resized from the
    960 px one costs a quarter of resizing the large size again).
    """
    blobs: dict[str, bytes] = {}
    own_size: dict[str, bytes] | None = None  # the picture at its own width, encoded once
    source = img
    for width in reversed(WIDTHS):
        if img.width <= width:
            if own_size is None:
                own_size = {"webp": _encode_webp(img), "jpg": _encode_jpeg(img)}
            encoded = own_size
        else:
            source = source.resize((width, max(1, round(img.height * width / img.width))),
                                   Image.Resampling.LANCZOS)
            encoded = {"webp": _encode_webp(source), "jpg": _encode_jpeg(source)}
        for fmt in FORMATS:
            blobs[f"{key}_{width}.{fmt}"] = encoded[fmt]
    return blobs, source


def _unlink_all(paths: list[pathlib.Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


_allocator_tuned = False


@functools.cache
def _libc():
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not glibc (macOS, musl): nothing to tune
        return None


def _tune_allocator() -> None:
    """Make glibc give freed picture buffers back to the OS at once (once per process).

    Pillow allocates a decoded picture in blocks of up to 16 MB. glibc's
    dynamic mmap threshold rises to the size of the last big block freed, so
    after the first picture such blocks come from the heap, where freed memory
    stays in the process (the RSS measured 200 MB ten seconds after a burst of
    uploads, against 54 MB idle). A fixed threshold of 1 MB keeps every
    allocation of 1 MB or more in its own mapping, returned when freed.
    """
    global _allocator_tuned
    if _allocator_tuned:
        return
    _allocator_tuned = True
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(_M_MMAP_THRESHOLD, 1024 * 1024)


def _release_free_memory() -> None:
    """Hand the heap's free pages back to the OS (glibc malloc_trim) after the last decode."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def _sweep(folder: pathlib.Path, max_age: float) -> None:
    """Removes files in *folder* last modified more than *max_age* seconds ago."""
    cutoff = time.time() - max_age
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)


def decoded_bytes(img: Image.Image) -> int:
    """What decoding *img* (opened, maybe drafted, not loaded) costs in bytes.

    width x height x bytes per pixel of the image it is worked on as: 3 (RGB),
    4 with transparency (palette pictures too: their transparency is only
    known after decoding), or the mode's own width when that is more (CMYK,
    16- and 32-bit modes).
    """
    if img.mode in _WIDE_MODES:
        per_pixel = _WIDE_MODES[img.mode]
    elif img.mode in _ALPHA_MODES or img.mode == "P" or "transparency" in img.info:
        per_pixel = 4
    else:
        per_pixel = 3
    return img.width * img.height * per_pixel


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation tag of *img* (1 = upright); damaged EXIF counts as upright."""
    try:
        with _pillow_warnings():
            return int(img.getexif().get(0x0112, 1) or 1)
    except Exception:
        return 1


def _working_mode(img: Image.Image) -> Image.Image:
    """*img* in a mode that resizes well: palette and 1-bit pictures become RGB(A) or L
    (resizing a palette picture would pick nearest pixels), 16-bit grey becomes 32-bit
    ("I", every bit kept; :func:`_flatten_to_rgb` scales it down). Others unchanged."""
    if img.mode.startswith("I;16"):
        return img.convert("I")
    if img.mode == "1":
        return img.convert("L")
    if img.mode in ("P", "PA"):
        return img.convert("RGBA" if img.mode == "PA" or "transparency" in img.info else "RGB")
    return img


def _reduce_to(img: Image.Image, measure: float, target: int) -> Image.Image:
    """*img* shrunk by a whole factor while *measure* (the side that decides the
    stored size) stays at least twice *target*, so the final LANCZOS resize
    still has detail to work with. Decoding cost is paid already; this keeps
    the copies made after it (flattening, cropping) small.
    """
    factor = int(measure // (2 * target))
    if factor < 2 or img.mode not in _REDUCIBLE_MODES:
        return img
    return img.reduce(factor)


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
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
        out.paste(rgba, mask=rgba.getchannel("A"))
    else:
        # paste() copies the pixels across; convert() only when the mode differs
        # (convert("RGB") of an RGB image would be one more full-size copy).
        out.paste(img if img.mode == "RGB" else img.convert("RGB"))
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


def _encode_webp(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    # method=4: Pillow's default speed/size balance; no metadata arguments, as for JPEG.
    img.save(buf, "WEBP", quality=WEBP_QUALITY, method=4)
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
