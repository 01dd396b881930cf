"""Decode untrusted image bytes into a bounded RGB :class:`PIL.Image.Image`.

Accepted: JPEG, PNG, WebP, HEIC/HEIF (spec §1.6). Everything else, including GIF, is refused with an
:class:`~phota.errors.InvalidImage` that names the input (``images[1]``) and says why (spec A19).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import threading

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError
from PIL.Image import Image

from phota.errors import InvalidImage

# Pillow's format names. Only these plugins parse untrusted headers at all: Pillow's other plugins
# (dozens of rarely used formats) are never offered the data. The JPEG opener yields "MPO" for the
# multi-picture JPEGs many phone cameras write.
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
_ALLOWED_FORMATS = frozenset({*_OPEN_FORMATS, "MPO"})
_FORMATS_HINT = "use JPEG, PNG, WebP or HEIC"
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


def decode_image(data: bytes, name: str, *, max_side: int = 4096, max_pixels: int = 100_000_000) -> Image:
    """Decode ``data`` into an upright RGB image whose longest side is at most ``max_side``.

    Raises :class:`InvalidImage` naming ``name`` for empty, unsupported, corrupt or oversized input.
    """
    if not data:
        raise InvalidImage(f"{name}: image data is empty")
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
        raise InvalidImage(f"{name}: image data is truncated or corrupt") from None

    with img:
        fmt = img.format or "unknown"
        if fmt not in _ALLOWED_FORMATS:
            raise InvalidImage(f"{name}: unsupported format {fmt}; {_FORMATS_HINT}")
        width, height = img.size
        # Header-only size check, before any pixel is decoded.
        if width <= 0 or height <= 0:
            raise InvalidImage(f"{name}: image has no pixels")
        if width * height > max_pixels:
            raise InvalidImage(f"{name}: image is {width}x{height}, over the {max_pixels}-pixel limit")
        try:
            img.load()
            out = _to_rgb(_upright(img))
        except InvalidImage:
            raise
        except PILImage.DecompressionBombError:
            raise _bomb(name) from None
        except Exception as exc:
            if isinstance(exc, MemoryError):
                raise
            raise InvalidImage(f"{name}: image data is truncated or corrupt") from None

    return _fit(out, max_side)


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


def _upright(img: Image) -> Image:
    # Always a new image: the caller closes the one it opened.
    try:
        return ImageOps.exif_transpose(img) or img.copy()
    except Exception:
        # Broken EXIF should not make a viewable photo unusable: keep the stored orientation.
        return img.copy()


def _to_rgb(img: Image) -> Image:
    """RGB with any transparency flattened onto white (providers and JPEG storage have no alpha)."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I") or mode == "F":
        # 16-bit / 32-bit greyscale: Pillow's convert() clips instead of scaling, so scale by hand.
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr = np.clip(np.rint(arr * (255.0 / peak)), 0, 255).astype(np.uint8)
        return PILImage.fromarray(arr, mode="L").convert("RGB")
    if mode == "P":
        mode = "RGBA" if "transparency" in img.info else "RGB"
        img = img.convert(mode)
    elif mode in ("LA", "La", "PA", "RGBa", "RGBA") or "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode == "RGBA":
        background = PILImage.new("RGBA", img.size, (255, 255, 255, 255))
        return PILImage.alpha_composite(background, img).convert("RGB")
    return img.convert("RGB")  # L, 1, CMYK, YCbCr, ...


def _fit(img: Image, max_side: int) -> Image:
    width, height = img.size
    longest = max(width, height)
    if longest <= max_side:
        return img
    scale = max_side / longest
    size = (
        max_side if width == longest else max(1, round(width * scale)),
        max_side if height == longest else max(1, round(height * scale)),
    )
    return img.resize(size, PILImage.Resampling.LANCZOS)


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
