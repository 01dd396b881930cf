"""Decode untrusted image bytes into a bounded RGB :class:`PIL.Image.Image`.

Accepted: JPEG, PNG, WebP, HEIC/HEIF (spec §1.6). Everything else, including GIF, is refused with an
:class:`~phota.errors.InvalidImage` that names the input (``images[1]``) and says why (spec A19). A picture
whose embedded ICC profile (or HEIF nclx colour) describes another space (Adobe RGB, Display P3, a grey
curve, a press's CMYK) is converted to sRGB (colour_profile.py), and so is one whose metadata names another
space without a profile (a camera's Adobe RGB JPEG, a PNG's gamma or cICP: tagged_space.py); an HDR HEIF or
PNG (PQ or HLG) is shown as SDR (hdr.py).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import threading
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image as PILImage
from PIL import PngImagePlugin, UnidentifiedImageError
from PIL.Image import Image

from phota.errors import InvalidImage
from phota.imaging.colour_profile import MAX_PROFILE_BYTES, to_srgb
from phota.imaging.hdr import is_hdr, to_sdr
from phota.imaging.tagged_space import (
    is_narrow,
    narrow_to_full,
    narrow_to_full_levels,
    png_header,
    tagged_space,
)

# Pillow's format names. Only these plugins parse untrusted headers at all: Pillow's other plugins
# (dozens of rarely used formats) are never offered the data. The JPEG opener yields "MPO" for the
# multi-picture JPEGs many phone cameras write.
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
_ALLOWED_FORMATS = frozenset({*_OPEN_FORMATS, "MPO"})
_FORMATS_HINT = "use JPEG, PNG, WebP or HEIC"
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
# Magic numbers of formats people send by mistake, only to name them in the error message.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"8BPS", "PSD"),
    (b"%PDF", "PDF"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (b"qoif", "QOI"),
)

# PNG keeps its ICC profile zlib-compressed, and Pillow refuses the whole file (it reads as corrupt) when
# one compressed chunk inflates past MAX_TEXT_CHUNK, 1 MiB: large display profiles (a calibration tool's
# lookup tables) reach that. Raised to the largest profile colour_profile reads; Pillow's cap on all of a
# file's text together (MAX_TEXT_MEMORY, 64 MiB) still bounds the memory.
PngImagePlugin.MAX_TEXT_CHUNK = max(PngImagePlugin.MAX_TEXT_CHUNK, MAX_PROFILE_BYTES)

_heif_lock = threading.Lock()
_heif_registered = False


def _register_heif() -> None:
    """Register pillow_heif's opener once, on first use (importing it loads libheif)."""
    global _heif_registered
    if _heif_registered:
        return
    with _heif_lock:
        if not _heif_registered:
            from pillow_heif import register_heif_opener

            register_heif_opener()
            _heif_registered = True


# Longest side of the copy each use needs (docs/configuration.md, "Memory per request").
PROVIDER_INPUT_SIDE = 4096  # what providers accept (spec: > 4096 px is resized)

# Resampling a decoded image down to its target: Pillow first box-reduces by an integer factor while
# the rest of the ratio stays >= this gap, then Lanczos does the rest (Pillow's own thumbnail uses 2.0).
REDUCING_GAP = 2.0

# Segments a JPEG may carry before its first scan, chunks a PNG may carry before its first IDAT. Real
# files have a few dozen (an ICC profile split into 64 KB chunks, extended XMP: a few hundred at
# most); Pillow reads each one in Python, so a file of millions of empty comments or chunks would cost
# tens of seconds of CPU (30 MB: ~26 s for JPEG, ~11 s for PNG) before a pixel is decoded.
MAX_HEADER_SEGMENTS = 4096
# Scans of a progressive JPEG. Each scan is a pass over every block of the image however few bytes it
# holds, and libjpeg sets no limit: 5000 near-empty scans in a 350 KB file cost 9.5 s of CPU to decode
# at 4096x4096 (0.18 s without them). Real files have about ten per picture (a phone's multi-picture
# file, a few pictures).
MAX_JPEG_SCANS = 256
# Share of ``max_full_pixels`` up to which an HDR PNG (cICP naming PQ or HLG) is read at its 16 bits. OpenCV,
# the only decoder here that keeps them, peaks at about 19 bytes a pixel for RGBA (the decoded picture and its
# own working copy), against the 11 of the other full decodes (docs/configuration.md); past this share the
# file is read at 8 bits, as Pillow gives it, and shown as SDR from those (its gradients in coarser steps).
HDR_PNG_DEEP_SHARE = 0.5

# EXIF orientation -> the transpose that makes the picture upright (what ImageOps.exif_transpose does).
_ORIENT: dict[int, PILImage.Transpose] = {
    2: PILImage.Transpose.FLIP_LEFT_RIGHT,
    3: PILImage.Transpose.ROTATE_180,
    4: PILImage.Transpose.FLIP_TOP_BOTTOM,
    5: PILImage.Transpose.TRANSPOSE,
    6: PILImage.Transpose.ROTATE_270,
    7: PILImage.Transpose.TRANSVERSE,
    8: PILImage.Transpose.ROTATE_90,
}
# libjpeg scales while it decodes (DCT scaling) by these factors only.
_DCT_FLAGS: dict[int, int] = {
    1: cv2.IMREAD_COLOR_RGB,
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2 | cv2.IMREAD_COLOR_RGB,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4 | cv2.IMREAD_COLOR_RGB,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8 | cv2.IMREAD_COLOR_RGB,
}

# Called with (how the pixels were decoded, the size decoded): a seam for tests and benchmarks.
# "jpeg/N" = libjpeg decoded at 1/N scale; "full" = every pixel of the file was decoded.
DecodeProbe = Callable[[str, tuple[int, int]], None]


# Pillow allocates image memory in blocks of this size. glibc serves allocations below its dynamic mmap
# threshold (at most 32 MiB) from heaps that rarely shrink, so with Pillow's default 16 MiB blocks every
# decoded-then-freed full-size image stays in the process's RSS, fragmented around the shrunk copies a
# request keeps: ten 50 MP inputs grew RSS by ~1.75 GB instead of ~1.1 GB (docs/configuration.md).
PILLOW_BLOCK_BYTES = 64 * 2**20


def release_freed_images() -> None:
    """Make Pillow allocate full-size images as blocks glibc maps and unmaps on its own (process-wide;
    called once by the composition root)."""
    PILImage.core.set_block_size(PILLOW_BLOCK_BYTES)


def decode_image(
    data: bytes,
    name: str,
    *,
    max_side: int = PROVIDER_INPUT_SIDE,
    max_pixels: int = 100_000_000,
    max_full_pixels: int = 50_000_000,
    probe: DecodeProbe | None = None,
) -> Image:
    """Decode ``data`` into an upright RGB image whose longest side is at most ``max_side``.

    The image is shrunk while it is decoded where the format allows it: JPEG is decoded by libjpeg at
    1/2, 1/4 or 1/8 scale (DCT scaling) to the smallest size still >= the target, then resampled once.
    Formats decoded in full (PNG, WebP, HEIC) are refused above ``max_full_pixels``; every format above
    ``max_pixels``. Both checks read the header only, before any pixel is decoded.

    Raises :class:`InvalidImage` naming ``name`` for empty, unsupported, corrupt or oversized input.
    """
    if not data:
        raise InvalidImage(f"{name}: image data is empty")
    scan_data: int | None = None  # where a JPEG's first scan's data starts
    if data[:2] == b"\xff\xd8":
        segments, scan_data = _jpeg_first_scan(data)
        if segments > MAX_HEADER_SEGMENTS:
            raise InvalidImage(f"{name}: JPEG has more than {MAX_HEADER_SEGMENTS} segments before its image data")
        # FF DA cannot occur inside entropy-coded data, so this counts the scans (and any chance
        # pair inside metadata: one per 64 KB of random bytes).
        if data.count(b"\xff\xda") > MAX_JPEG_SCANS:
            raise InvalidImage(f"{name}: JPEG has more than {MAX_JPEG_SCANS} scans")
    # (0, None) without PNG's signature, which no opener but Pillow's PNG one takes: a cICP is a PNG's.
    png_chunks, cicp = png_header(data, MAX_HEADER_SEGMENTS)
    if png_chunks > MAX_HEADER_SEGMENTS:
        raise InvalidImage(f"{name}: PNG has more than {MAX_HEADER_SEGMENTS} chunks before its image data")
    _register_heif()
    try:
        img = PILImage.open(io.BytesIO(data), formats=_OPEN_FORMATS)
    except UnidentifiedImageError:
        other = _sniff(data)
        if other is not None:
            raise InvalidImage(f"{name}: unsupported format {other}; {_FORMATS_HINT}") from None
        raise InvalidImage(f"{name}: not a recognised image; {_FORMATS_HINT}") from None
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        # The Warning only arrives as an exception where warnings are errors (e.g. -W error). We do not
        # touch the global warning filters: decoding runs in worker threads and catch_warnings() is not
        # thread-safe. The max_pixels check below is the authoritative limit.
        raise _bomb(name) from None
    except Exception as exc:  # a plugin choking on a malformed header
        if isinstance(exc, MemoryError):
            raise
        if isinstance(exc, ValueError) and "MAX_TEXT_CHUNK" in str(exc):  # Pillow's message for it
            raise InvalidImage(
                f"{name}: PNG has a compressed chunk (an ICC profile or text) that inflates past "
                f"{PngImagePlugin.MAX_TEXT_CHUNK >> 20} MiB"
            ) from None
        raise InvalidImage(f"{name}: image data is truncated or corrupt") from None

    with img:
        fmt = img.format or "unknown"
        if fmt not in _ALLOWED_FORMATS:
            raise InvalidImage(f"{name}: unsupported format {fmt}; {_FORMATS_HINT}")
        width, height = img.size
        # Header-only size checks, before any pixel is decoded.
        if width <= 0 or height <= 0:
            raise InvalidImage(f"{name}: image has no pixels")
        if width * height > max_pixels:
            raise InvalidImage(f"{name}: image is {width}x{height}, over the {max_pixels}-pixel limit")
        jpeg = fmt in ("JPEG", "MPO")
        if not jpeg and width * height > max_full_pixels:
            raise InvalidImage(
                f"{name}: {fmt} image is {width}x{height}, over the {max_full_pixels}-pixel limit for "
                "formats that are decoded in full (JPEG may be larger)"
            )
        # The long side is the same before and after the EXIF rotation, so the target can be computed
        # in the stored orientation.
        target = fit_size(width, height, max_side)
        orientation = _orientation(img)
        icc, nclx = img.info.get("icc_profile"), img.info.get("nclx_profile")
        space = tagged_space(img)
        if cicp is not None:  # it outranks every other colour chunk (tagged_space.py)
            icc, nclx, space = None, cicp, None
        grey = img.mode in _GREY_MODES
        try:
            # libjpeg pads a truncated file with grey and only warns; Pillow reports it. A file whose first
            # scan has no end-of-image marker after it goes to Pillow, which decides (entropy-coded data
            # never contains FF D9).
            has_end = scan_data is not None and data.find(b"\xff\xd9", scan_data) != -1
            if jpeg and img.mode in ("RGB", "L") and has_end:
                out = _decode_jpeg(data, (width, height), target, probe)
            elif fmt == "HEIF" and not icc and isinstance(nclx, dict) and is_hdr(nclx):
                out = _decode_hdr_heif(data, nclx, target, probe)
            elif cicp is not None and is_hdr(cicp) and width * height <= max_full_pixels * HDR_PNG_DEEP_SHARE:
                out = _decode_hdr_png(data, cicp, target, probe)
            elif cicp is not None and is_hdr(cicp):  # too large to read at 16 bits: Pillow's 8 bits
                out = _hdr_to_sdr(
                    np.asarray(_decode_pil(img, target, probe)), 16, cicp, target, None, narrow=is_narrow(cicp)
                )
            else:
                out = _decode_pil(img, target, probe)
                if is_narrow(cicp):  # after any transparency is flattened onto white, which stays white
                    out = narrow_to_full(out)
            if orientation in _ORIENT:
                out = out.transpose(_ORIENT[orientation])
            # At the target size: a colour transform costs per pixel, and the resampling above is done in
            # the file's encoded values either way.
            if icc and grey:  # a grey profile converts grey levels (the decoded RGB's channels are equal)
                out = out.convert("L")
            out = to_srgb(out, icc if isinstance(icc, bytes) else None, nclx if isinstance(nclx, dict) else None, space)
        except InvalidImage:
            raise
        except PILImage.DecompressionBombError:
            raise _bomb(name) from None
        except Exception as exc:
            if isinstance(exc, MemoryError):
                raise
            raise InvalidImage(f"{name}: image data is truncated or corrupt") from None
    return out


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled so the longest side is at most ``max_side``; never enlarged."""
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    scale = max_side / longest
    return (
        max_side if width == longest else max(1, round(width * scale)),
        max_side if height == longest else max(1, round(height * scale)),
    )


def dct_scale(size: tuple[int, int], target: tuple[int, int]) -> int:
    """The largest libjpeg scale-down (1, 2, 4 or 8) that still decodes at least ``target``."""
    ratio = min(size[0] // target[0], size[1] // target[1])
    return next(s for s in (8, 4, 2, 1) if ratio >= s)


def _decode_jpeg(data: bytes, size: tuple[int, int], target: tuple[int, int], probe: DecodeProbe | None) -> Image:
    """libjpeg-turbo through OpenCV: about 1.5x faster than Pillow's decode of the same file here, and
    it decodes straight into a 3-byte RGB array (Pillow keeps 4 bytes a pixel)."""
    scale = dct_scale(size, target)
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), _DCT_FLAGS[scale] | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None or arr.ndim != 3:
        raise ValueError("libjpeg could not decode the image")
    decoded = (arr.shape[1], arr.shape[0])
    if probe is not None:
        probe(f"jpeg/{scale}", decoded)
    if decoded != target:
        arr = cv2.resize(arr, target, interpolation=cv2.INTER_AREA)
    return PILImage.fromarray(np.ascontiguousarray(arr), "RGB")


def _decode_pil(img: Image, target: tuple[int, int], probe: DecodeProbe | None) -> Image:
    jpeg, stored = img.format in ("JPEG", "MPO"), img.size
    if jpeg:  # CMYK/YCCK, or a JPEG whose end is missing (Pillow then says whether it is truncated)
        img.draft(None, target)
    img.load()
    if probe is not None:
        probe(f"jpeg/{round(stored[0] / img.size[0])}" if jpeg else "full", img.size)
    if img.size == target:
        return _to_rgb(_resizable(img, lambda: None, premultiply=False))
    full = _resizable(img, lambda: img.close())
    return _to_rgb(full.resize(target, PILImage.Resampling.LANCZOS, reducing_gap=REDUCING_GAP))


def _decode_hdr_heif(data: bytes, nclx: dict[str, object], target: tuple[int, int], probe: DecodeProbe | None) -> Image:
    """A PQ or HLG HEIF read at 16 bits, shrunk (area average) and shown as SDR sRGB (hdr.py)."""
    from pillow_heif import open_heif

    heif = open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
    values = np.asarray(heif)
    bits = int(heif.info.get("bit_depth", 16)) if values.dtype == np.uint16 else 16
    del heif
    return _hdr_to_sdr(values, bits, nclx, target, probe)


def _decode_hdr_png(data: bytes, nclx: dict[str, object], target: tuple[int, int], probe: DecodeProbe | None) -> Image:
    """A PNG whose cICP chunk names PQ or HLG, read at its 16 bits (Pillow keeps 8), shrunk and shown as SDR."""
    values = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)  # EXIF orientation not applied
    if values is None:
        raise ValueError("PNG could not be decoded")
    return _hdr_to_sdr(values, 16, nclx, target, probe, bgr=True, narrow=is_narrow(nclx))


def _hdr_to_sdr(
    values: NDArray[Any],
    bits: int,
    nclx: dict[str, object],
    target: tuple[int, int],
    probe: DecodeProbe | None,
    *,
    bgr: bool = False,
    narrow: bool = False,
) -> Image:
    """HDR ``values`` (grey or RGB(A), in OpenCV's BGR(A) order where ``bgr``; 8 or 16 bits; in narrow range
    where ``narrow``) shrunk (area average) to ``target`` and shown as SDR sRGB. Every copy is made at the
    target size: the decoded picture is the only full-size buffer."""
    if probe is not None:
        probe("full", (values.shape[1], values.shape[0]))
    if values.dtype not in (np.uint8, np.uint16) or values.ndim not in (2, 3):
        raise ValueError("HDR picture is neither grey nor RGB")
    if values.ndim == 3 and values.shape[2] not in (3, 4):
        raise ValueError("HDR picture is neither grey nor RGB")
    if (values.shape[1], values.shape[0]) != target:
        values = cv2.resize(values, target, interpolation=cv2.INTER_AREA)
    if values.dtype == np.uint8:  # an 8-bit file: its levels at 16 bits
        values = values.astype(np.uint16) * np.uint16(257)
    # A PNG's narrow-range levels (tagged_space.py), widened in place where that is allowed. Never a HEIF's: its
    # range flag is its YCbCr coding's, which libheif has already undone.
    if narrow:
        values = narrow_to_full_levels(values if values.flags.writeable else values.copy())
    if values.ndim == 2:  # monochrome: the grey level in each channel
        values = np.repeat(values[..., None], 3, axis=2)
    elif bgr:
        values = values[..., [2, 1, 0, 3][: values.shape[2]]]
    return _to_rgb(to_sdr(values, nclx, bits))


def _orientation(img: Image) -> int:
    try:
        return int(img.getexif().get(0x0112, 1))
    except Exception:
        # Broken EXIF should not make a viewable photo unusable: keep the stored orientation.
        return 1


def _jpeg_first_scan(data: bytes) -> tuple[int, int | None]:
    """(segments before the first scan, where that scan's entropy-coded data starts).

    The segments are skipped by their lengths, so an EXIF thumbnail inside them (with its own end
    marker) is not mistaken for the picture. The walk stops one segment past the limit, and gives no
    scan position when it stops anywhere but at a scan (Pillow then says what is wrong).
    """
    i, n, count = 2, len(data), 0
    while i + 4 <= n and count <= MAX_HEADER_SEGMENTS:
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            count += 1
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker == 0xDA:
            return count, i + 2 + length
        count += 1
        i += 2 + length
    return count, None


def _sniff(data: bytes) -> str | None:
    for magic, fmt in _SIGNATURES:
        if data.startswith(magic):
            return fmt
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return "AVIF"
    head = data[:256].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "SVG"
    return None


def _bomb(name: str) -> InvalidImage:
    return InvalidImage(f"{name}: image dimensions are too large (possible decompression bomb)")


def _resizable(img: Image, release: Callable[[], None], *, premultiply: bool = True) -> Image:
    """``img`` in a mode Pillow resamples properly, converted at full size only where it must be.

    Each full-size copy made here calls ``release`` to free the decoded original at once, so no more
    than two full-size buffers ever coexist (docs/configuration.md: about 8 bytes a pixel at worst).
    """
    mode = img.mode
    if mode.startswith("I") or mode == "F":
        out = _deep_to_l(img)
    elif mode == "1":
        out = img.convert("L")
    elif mode in ("P", "PA") or (mode in ("L", "RGB") and "transparency" in img.info):
        # Palette indices and colour-key transparency cannot be interpolated: expand them first.
        out = img.convert("RGBA" if mode == "PA" or "transparency" in img.info else "RGB")
    else:
        out = img  # RGB, RGBA, L, LA, CMYK, YCbCr, ...
    if out is not img:
        release()
    if premultiply and out.mode in ("RGBA", "LA"):
        # Alpha is resampled premultiplied. Pillow's resize would make this copy itself while the
        # straight-alpha one is still alive; made here, the straight one is freed first.
        premultiplied = out.convert("RGBa" if out.mode == "RGBA" else "La")
        if out is img:
            release()
        out = premultiplied
    return out


def _deep_to_l(img: Image) -> Image:
    """16-bit / 32-bit greyscale to 8 bits, scaled (Pillow's convert() clips), a band of rows at a time so
    no full-size float temporary exists."""
    arr = np.asarray(img)
    peak = 65535 if img.mode.startswith("I;16") or int(arr.max(initial=0)) > 255 else 255
    out = np.empty(arr.shape, np.uint8)
    for top in range(0, arr.shape[0], 512):
        band = arr[top : top + 512].astype(np.float32)
        out[top : top + 512] = np.clip(np.rint(band * (255.0 / peak)), 0, 255)
    return PILImage.fromarray(out, "L")


def _to_rgb(img: Image) -> Image:
    """RGB with any transparency flattened onto white (providers and JPEG storage have no alpha); CMYK is
    left to :func:`to_srgb`, which reads it through the file's press profile."""
    mode = img.mode
    if mode in ("RGB", "CMYK"):
        return img
    if mode in ("LA", "La", "PA", "RGBa", "RGBA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = PILImage.new("RGBA", img.size, (255, 255, 255, 255))
        return PILImage.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")  # L, YCbCr, ...


_DATA_URL = re.compile(r"^data:([^,]*?),", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_B64_CHARS = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def decode_base64(value: str, name: str) -> bytes:
    """Bytes of a base64 image string.

    Accepts an optional ``data:image/...;base64,`` prefix, embedded whitespace/newlines, the URL-safe
    alphabet and missing ``=`` padding.
    """
    text = value.strip()
    match = _DATA_URL.match(text)
    if match:
        if not match.group(1).lower().endswith(";base64"):
            raise InvalidImage(f"{name}: data URL must be base64-encoded (data:image/...;base64,...)")
        text = text[match.end() :]
    text = _WHITESPACE.sub("", text)
    if not text:
        raise InvalidImage(f"{name} is empty")
    if not _B64_CHARS.match(text):
        raise InvalidImage(f"{name} is neither a URL nor valid base64")
    text = text.rstrip("=").replace("-", "+").replace("_", "/")
    if len(text) % 4 == 1:  # no valid encoding has this length
        raise InvalidImage(f"{name} is neither a URL nor valid base64")
    text += "=" * (-len(text) % 4)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidImage(f"{name} is neither a URL nor valid base64") from None
    if not data:
        raise InvalidImage(f"{name} is empty")
    return data


def looks_like_url(value: str) -> bool:
    """True for an ``http://`` or ``https://`` URL (the only schemes fetched)."""
    return url_scheme(value) in ("http", "https")


def url_scheme(value: str) -> str | None:
    """The lower-cased URL scheme of ``value`` or None.

    Base64 never contains ``:``, so any ``scheme:`` prefix marks a URL (``data:`` included).
    """
    match = _SCHEME.match(value.strip())
    return match.group(1).lower() if match else None
