"""Tests for services/images.py: what is accepted, what is stripped, what is stored."""

from __future__ import annotations

import asyncio
import io
import os
import re
import struct
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import ExifTags, Image, ImageCms, ImageFile

from services import images
from services.images import ImageError, ImageStore, StoredImage, make_demo_photo
from tests.utils.images import encode, files_under, zero_png


# -- helpers -----------------------------------------------------------------


def noisy(size: tuple[int, int]) -> Image.Image:
    """A picture that compresses badly, so truncating it loses real data."""
    w, h = size
    return Image.frombytes("RGB", size, os.urandom(w * h * 3))


def save(store: ImageStore, data: bytes, **kwargs) -> StoredImage:
    return asyncio.run(store.save(data, **kwargs))


def open_stored(store: ImageStore, stored: StoredImage, size: str) -> Image.Image:
    img = Image.open(store.path(stored.key, size))
    img.load()
    return img


def bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of width x height pixels, all black, a few KB big."""
    return zero_png(width, height, color_type=0, bit_depth=1)


@pytest.fixture
def store(tmp_path):
    return ImageStore(tmp_path)


# -- accepted formats ----------------------------------------------------------


def test_jpeg_is_stored_as_large_and_thumbnail(store, tmp_path):
    stored = save(store, encode(noisy((3200, 2400)), "JPEG", quality=95))

    assert re.fullmatch(r"[0-9a-f]{32}", stored.key)
    assert (stored.width, stored.height) == (1600, 1200)
    large = store.path(stored.key, "l")
    thumb = store.path(stored.key, "t")
    assert large == tmp_path / stored.key[:2] / f"{stored.key}_l.jpg"
    assert thumb == tmp_path / stored.key[:2] / f"{stored.key}_t.jpg"
    assert files_under(tmp_path) == sorted(store.all_paths(stored.key))  # no temp files left
    assert large.stat().st_ino == store.variant_path(stored.key, 1600, "jpg").stat().st_ino  # a link, no copy

    big, small = open_stored(store, stored, "l"), open_stored(store, stored, "t")
    assert (big.format, big.mode, big.size) == ("JPEG", "RGB", (1600, 1200))
    assert (small.format, small.mode, small.size) == ("JPEG", "RGB", (480, 360))
    assert big.info.get("progressive") and small.info.get("progressive")
    # Same quantisation tables as a reference encode at quality 85.
    reference = Image.open(io.BytesIO(encode(Image.new("RGB", (8, 8)), "JPEG", quality=85)))
    assert big.quantization == reference.quantization


def test_url_matches_layout(store):
    stored = save(store, encode(Image.new("RGB", (100, 80), "navy"), "JPEG"))
    k = stored.key
    assert store.url(k) == f"/media/{k[:2]}/{k}_l.jpg"
    assert store.url(k, "t") == f"/media/{k[:2]}/{k}_t.jpg"
    # The URL maps onto the file, given media_dir is served at /media/.
    assert store.media_dir / store.url(k, "t").removeprefix("/media/") == store.path(k, "t")


def test_small_picture_is_never_upscaled(store):
    stored = save(store, encode(Image.new("RGB", (300, 200), "teal"), "JPEG"))
    assert (stored.width, stored.height) == (300, 200)
    assert open_stored(store, stored, "l").size == (300, 200)
    assert open_stored(store, stored, "t").size == (300, 200)


@pytest.mark.parametrize("mode", ["RGBA", "P"])
def test_png_transparency_is_flattened_onto_white(store, mode):
    if mode == "RGBA":
        img = Image.new("RGBA", (800, 600), (0, 0, 0, 0))  # transparent black
        img.paste((200, 0, 0, 255), (400, 0, 800, 600))  # opaque red right half
        data = encode(img, "PNG")
    else:
        img = Image.new("P", (800, 600), 0)
        img.putpalette([0, 0, 0, 200, 0, 0])  # index 0 black, 1 red
        img.paste(1, (400, 0, 800, 600))
        data = encode(img, "PNG", transparency=0)  # a tRNS chunk: index 0 is clear
        assert Image.open(io.BytesIO(data)).info["transparency"] is not None
    stored = save(store, data)

    assert (stored.width, stored.height) == (800, 600)
    out = open_stored(store, stored, "l")
    assert out.format == "JPEG" and out.mode == "RGB"
    assert all(c > 245 for c in out.getpixel((100, 300)))  # white, not black
    r, g, b = out.getpixel((700, 300))
    assert r > 180 and g < 30 and b < 30
    assert open_stored(store, stored, "t").size == (480, 360)


def test_16_bit_grey_png_keeps_its_tones(store):
    img = Image.new("I;16", (200, 100), 32768)  # mid-grey on a 0..65535 scale
    stored = save(store, encode(img, "PNG"))
    r, g, b = open_stored(store, stored, "l").getpixel((100, 50))
    assert 120 <= r <= 136 and r == g == b


def test_webp_is_reencoded_as_jpeg(store):
    stored = save(store, encode(Image.new("RGB", (2000, 1000), (20, 120, 40)), "WEBP"))
    assert (stored.width, stored.height) == (1600, 800)
    big, small = open_stored(store, stored, "l"), open_stored(store, stored, "t")
    assert big.format == small.format == "JPEG"
    assert (big.size, small.size) == ((1600, 800), (480, 240))
    r, g, b = big.getpixel((800, 400))
    assert abs(r - 20) < 10 and abs(g - 120) < 10 and abs(b - 40) < 10


def test_metadata_is_stripped_and_orientation_applied(store):
    img = Image.new("RGB", (400, 200), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 200, 200))  # red left half, blue right half
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # "rotate 90° clockwise to display"
    exif[ExifTags.Base.Make] = "SpyCam"
    exif[ExifTags.Base.BodySerialNumber] = "SN-123456"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (39.0, 54.0, 27.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (116.0, 23.0, 50.0)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b"<x:xmpmeta>secret</x:xmpmeta>"
    data = encode(img, "JPEG", exif=exif, icc_profile=icc, comment=b"secret note", xmp=xmp)
    # The upload really carries what we expect to be removed.
    upload = Image.open(io.BytesIO(data))
    assert upload.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
    assert {"exif", "icc_profile", "comment", "xmp"} <= set(upload.info)

    stored = save(store, data)

    assert (stored.width, stored.height) == (200, 400)  # turned upright
    for size in ("l", "t"):
        out = open_stored(store, stored, size)
        raw = store.path(stored.key, size).read_bytes()
        assert len(out.getexif()) == 0
        assert not {"exif", "icc_profile", "comment", "xmp"} & set(out.info)
        for needle in (b"Exif", b"SpyCam", b"SN-123456", b"secret", b"ICC_PROFILE"):
            assert needle not in raw
    out = open_stored(store, stored, "l")
    top, bottom = out.getpixel((100, 50)), out.getpixel((100, 350))
    assert top[0] > 200 and top[2] < 50  # the left (red) half is now on top
    assert bottom[2] > 200 and bottom[0] < 50


def test_damaged_exif_is_tolerated_quietly(store):
    # A real-world kind of damage: a tag whose data lies past the end of the
    # EXIF block. Pillow warns about it; we drop the metadata anyway, so the
    # photo is accepted, still turned upright, and no warning reaches the log.
    tiff = (
        b"II*\x00" + struct.pack("<IH", 8, 2)
        + struct.pack("<HHII", ExifTags.Base.Make, 2, 100, 1000)  # points nowhere
        + struct.pack("<HHIHH", ExifTags.Base.Orientation, 3, 1, 6, 0)
        + struct.pack("<I", 0)
    )
    data = encode(Image.new("RGB", (400, 200), "gray"), "JPEG", exif=b"Exif\x00\x00" + tiff)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stored = save(store, data)
    assert caught == []
    assert (stored.width, stored.height) == (200, 400)
    assert b"Exif" not in store.path(stored.key).read_bytes()


@pytest.mark.parametrize(
    ("size", "keep"), [((1200, 800), (200, 0, 1000, 800)), ((600, 1000), (0, 200, 600, 800))]
)
def test_square_crops_the_centre(store, size, keep):
    img = Image.new("RGB", size, (0, 200, 0))  # green margins
    img.paste((0, 0, 220), keep)  # the blue centre square
    stored = save(store, encode(img, "PNG"), square=True)

    side = min(size)
    assert (stored.width, stored.height) == (side, side)
    big, small = open_stored(store, stored, "l"), open_stored(store, stored, "t")
    assert big.size == (side, side) and small.size == (160, 160)
    for x, y in [(2, 2), (side - 3, side - 3), (side // 2, side // 2), (2, side - 3)]:
        r, g, b = big.getpixel((x, y))
        assert b > 180 and g < 40, (x, y)  # no green margin survived


def test_large_square_fits_the_large_box(store):
    stored = save(store, encode(Image.new("RGB", (3000, 2000), "white"), "JPEG"), square=True)
    assert (stored.width, stored.height) == (1600, 1600)
    assert open_stored(store, stored, "t").size == (160, 160)


# -- refused uploads ---------------------------------------------------------


def test_text_file_named_jpg_is_refused(store, tmp_path):
    upload = tmp_path / "upload" / "holiday.jpg"
    upload.parent.mkdir()
    upload.write_text("这不是图片, just text\n" * 20, encoding="utf-8")
    media = tmp_path / "media"
    store = ImageStore(media)

    with pytest.raises(ImageError, match="只支持 JPEG、PNG 或 WebP 图片"):
        save(store, upload.read_bytes())
    assert not media.exists() or list(media.iterdir()) == []


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_formats_are_refused(store, tmp_path, fmt):
    with pytest.raises(ImageError, match="只支持 JPEG、PNG 或 WebP 图片"):
        save(store, encode(Image.new("RGB", (50, 50), "red"), fmt))
    assert list(tmp_path.iterdir()) == []


def test_empty_upload_is_refused(store, tmp_path):
    with pytest.raises(ImageError, match="只支持"):
        save(store, b"")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_is_refused(store, tmp_path, fmt):
    data = encode(noisy((600, 400)), fmt)
    cut = data[: len(data) * 2 // 3]
    Image.open(io.BytesIO(cut))  # the header alone still looks fine...
    with pytest.raises(ImageError, match="图片文件已损坏"):
        save(store, cut)  # ...but decoding the pixels fails
    assert list(tmp_path.iterdir()) == []


def test_too_many_bytes_is_refused(tmp_path):
    data = encode(noisy((200, 200)), "JPEG")
    with pytest.raises(ImageError, match="图片不能超过 1 KB"):
        save(ImageStore(tmp_path, max_bytes=1024), data)
    assert list(tmp_path.iterdir()) == []
    # Exactly at the limit is fine.
    assert save(ImageStore(tmp_path, max_bytes=len(data)), data).width == 200


def test_default_byte_limit_message(tmp_path):
    store = ImageStore(tmp_path)
    with pytest.raises(ImageError, match=r"^图片不能超过 10 MB$"):
        save(store, b"\xff" * (10 * 1024 * 1024 + 1))


def test_too_many_pixels_is_refused_before_decoding(tmp_path, monkeypatch):
    loads = []
    real_load = ImageFile.ImageFile.load

    def counting_load(self):
        loads.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    store = ImageStore(tmp_path, max_pixels=10_000)
    with pytest.raises(ImageError, match=r"图片像素过多（最多 1 万像素）"):
        save(store, encode(Image.new("RGB", (101, 100)), "PNG"))
    assert loads == []  # refused from the header alone
    assert list(tmp_path.iterdir()) == []
    assert save(store, encode(Image.new("RGB", (100, 100)), "PNG")).width == 100
    assert loads and set(loads) == {(100, 100)}


@pytest.mark.parametrize(
    "dims",
    [
        (8_000, 8_000),  # 64 M px: over our 40 M limit, under Pillow's
        (10_000, 10_000),  # 100 M px: Pillow warns (DecompressionBombWarning)
        (20_000, 20_000),  # 400 M px: Pillow raises DecompressionBombError
    ],
)
def test_decompression_bomb_is_refused_without_warnings(store, tmp_path, dims):
    data = bomb_png(*dims)
    assert len(data) < 200_000  # tiny file, huge picture
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # so any warning would be seen here
        with pytest.raises(ImageError, match="图片像素过多（最多 4000 万像素）"):
            save(store, data)
    assert caught == []
    assert list(tmp_path.iterdir()) == []


# -- storage -----------------------------------------------------------------


def test_delete_removes_both_files_only(store, tmp_path):
    keep = save(store, encode(Image.new("RGB", (64, 64), "red"), "JPEG"))
    gone = save(store, encode(Image.new("RGB", (64, 64), "blue"), "JPEG"))
    assert len(files_under(tmp_path)) == 2 * 8  # l, t and 3 widths x 2 formats each

    asyncio.run(store.delete(gone.key))

    assert not any(p.exists() for p in store.all_paths(gone.key))
    assert files_under(tmp_path) == sorted(store.all_paths(keep.key))
    asyncio.run(store.delete(gone.key))  # already gone: fine


def test_delete_with_one_file_missing(store):
    stored = save(store, encode(Image.new("RGB", (64, 64)), "JPEG"))
    store.path(stored.key, "t").unlink()
    asyncio.run(store.delete(stored.key))
    assert not store.path(stored.key, "l").exists()


@pytest.mark.parametrize(
    "key",
    ["", "../" * 10 + "etc/passwd", "/etc/passwd", "0" * 30 + "/x", "0" * 31, "0" * 33]
    + ["A" * 32, "g" * 32, None],
)
def test_bad_keys_are_refused(store, tmp_path, key):
    with pytest.raises(ValueError, match="invalid image key"):
        store.path(key)
    with pytest.raises(ValueError, match="invalid image key"):
        store.url(key)
    with pytest.raises(ValueError, match="invalid image key"):
        asyncio.run(store.delete(key))


def test_bad_size_is_refused(store):
    with pytest.raises(ValueError, match="invalid image size"):
        store.path("0" * 32, "../x")
    with pytest.raises(ValueError, match="invalid image size"):
        store.url("0" * 32, "m")


def test_image_error_is_a_value_error():
    assert issubclass(ImageError, ValueError)


@pytest.mark.parametrize(("target", "fail_on"), [("replace", 1), ("replace", 2), ("fsync", 2)])
def test_failed_write_leaves_no_files(store, tmp_path, monkeypatch, target, fail_on):
    real = getattr(os, target)
    calls = []

    def flaky(*args, **kwargs):
        calls.append(args)
        if len(calls) == fail_on:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(images.os, target, flaky)
    with pytest.raises(OSError, match="No space left"):
        save(store, encode(Image.new("RGB", (640, 480), "orange"), "JPEG"))
    monkeypatch.undo()

    assert len(calls) == fail_on
    assert files_under(tmp_path) == []  # neither temp nor final files


def test_save_runs_in_the_given_executor(tmp_path, monkeypatch):
    seen: dict[str, str] = {}
    real_open, real_replace = Image.open, os.replace

    def spying_open(*args, **kwargs):
        seen["open"] = threading.current_thread().name
        return real_open(*args, **kwargs)

    def spying_replace(*args, **kwargs):
        seen["replace"] = threading.current_thread().name
        return real_replace(*args, **kwargs)

    monkeypatch.setattr(images.Image, "open", spying_open)
    monkeypatch.setattr(images.os, "replace", spying_replace)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="photo-worker") as pool:
        store = ImageStore(tmp_path, executor=pool)
        stored = save(store, encode(Image.new("RGB", (64, 64)), "PNG"))

    assert store.path(stored.key).exists()
    assert seen["open"].startswith("photo-worker")
    assert seen["replace"].startswith("photo-worker")
    assert threading.current_thread().name not in seen.values()


def test_concurrent_saves_get_distinct_keys(tmp_path):
    async def many(store, blobs):
        return await asyncio.gather(*(store.save(b) for b in blobs))

    blobs = [encode(Image.new("RGB", (120, 90), (i * 30, 0, 0)), "JPEG") for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        stored = asyncio.run(many(ImageStore(tmp_path, executor=pool), blobs))
    assert len({s.key for s in stored}) == 8
    assert len(files_under(tmp_path)) == 8 * 8


# -- demo pictures -------------------------------------------------------------


def test_make_demo_photo_is_a_deterministic_jpeg():
    a, again, other = make_demo_photo(7), make_demo_photo(7), make_demo_photo(8)
    assert a == again
    assert a != other
    img = Image.open(io.BytesIO(a))
    img.load()
    assert (img.format, img.mode, img.size) == ("JPEG", "RGB", (1200, 800))
    assert len(img.resize((60, 40)).getcolors(2400)) > 20  # a picture, not a flat fill
    assert Image.open(io.BytesIO(make_demo_photo(1, 640, 480))).size == (640, 480)


def test_make_demo_photo_goes_through_the_store(store):
    stored = save(store, make_demo_photo(3, 2400, 1600))
    assert (stored.width, stored.height) == (1600, 1067)


def test_make_demo_photo_refuses_tiny_sizes():
    with pytest.raises(ValueError):
        make_demo_photo(1, 10, 800)
