"""Encode output and stored images."""

from __future__ import annotations

import io
from typing import Literal

from PIL import Image

from phota.imaging.colour_profile import converts
from phota.imaging.jpeg_metadata import strip_metadata
from phota.imaging.png_metadata import strip_png
from phota.imaging.tagged_space import cicp_converts, png_cicp, tagged_space

CONTENT_TYPES: dict[str, str] = {"png": "image/png", "jpg": "image/jpeg"}

# zlib level for PNG outputs. Measured at 1024x1024 (median of 7, 3 real photos, this 2-core box):
#   level 1:  92-132 ms, 0.99-1.60 MB     level 2:  97-145 ms, ~2% smaller
#   level 3: 137-184 ms, ~4% smaller      level 6 (Pillow default): 360-514 ms, ~11% smaller
# Photos barely compress losslessly, so higher levels buy a few percent for 1.5-4x the CPU on the
# request path; level 1 keeps encoding well under the time the provider call takes.
PNG_COMPRESS_LEVEL = 1


def encode_image(image: Image.Image, fmt: Literal["png", "jpg"], *, jpeg_quality: int = 92) -> bytes:
    """``image`` as PNG (lossless, alpha kept) or JPEG (alpha flattened onto white)."""
    buf = io.BytesIO()
    if fmt == "png":
        if image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        image.save(buf, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    elif fmt == "jpg":
        _rgb(image).save(buf, "JPEG", quality=jpeg_quality)
    else:
        raise ValueError(f"unknown output format {fmt!r}")
    return buf.getvalue()


def encode_output(image: Image.Image, fmt: Literal["png", "jpg"], source: bytes | None = None) -> bytes:
    """An output as ``fmt``. ``source`` is the file ``image`` was decoded from, when it was decoded from
    one and not changed since (a provider's answer): when that file already is an upright 8-bit RGB
    ``fmt`` picture of ``image``'s size, it is delivered itself with its metadata removed (no second
    generation of JPEG loss, no encoder pass); otherwise ``image`` is encoded. A file whose profile the
    decoder converted from (colour_profile.py) is never delivered itself: without its profile its values
    would read as sRGB."""
    if source is not None:
        if fmt == "png":
            kept = None if _converted(source) else strip_png(source, image.size)
        else:
            kept = _plain_jpeg(source, image.size, ("RGB",))
        if kept is not None:
            return kept
    return encode_image(image.convert("RGB"), fmt)


def _plain_jpeg(data: bytes, size: tuple[int, int], modes: tuple[str, ...] = ("RGB", "L")) -> bytes | None:
    """``data`` without its metadata when it is an upright JPEG in one of ``modes`` of ``size`` that the
    metadata rewrite can vouch for; otherwise ``None``."""
    return strip_metadata(data) if _upright_jpeg_of_size(data, size, modes) else None


def to_storage_jpeg(image: Image.Image, quality: int = 95) -> bytes:
    """Optimized JPEG used to keep PNG inputs and training photos (spec §1.6: "JPEG (quality 95)")."""
    buf = io.BytesIO()
    # optimize=True: a second, optimal Huffman pass; stored bytes live long. On the 10 training-bench photos
    # (q95) it made the files 12.5% smaller for about twice the encode time (60 vs 29 ms in all).
    _rgb(image).save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def stored_photo(data: bytes, image: Image.Image) -> bytes:
    """What to keep of an input that decoded to ``image``: the input itself, metadata removed, when
    it is an upright sRGB JPEG decoded at its full size (its pixels are exactly ``image``'s: no second
    generation of loss, no encoder pass); otherwise ``image`` as JPEG q95 (a JPEG in Adobe RGB or Display
    P3 is kept as the sRGB pixels it was converted to, since removing its profile would change its
    colours)."""
    return _plain_jpeg(data, image.size) or to_storage_jpeg(image)


def _upright_jpeg_of_size(data: bytes, size: tuple[int, int], modes: tuple[str, ...]) -> bool:
    """A single-picture 8-bit JPEG in one of ``modes`` (RGB or grey) of ``size`` that needs no EXIF
    rotation and no colour conversion (header only)."""
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG",)) as img:
            return (
                img.format == "JPEG"  # not MPO (a phone's multi-picture file)
                and img.mode in modes
                and img.size == size
                and img.getexif().get(0x0112, 1) == 1
                and not converts(img.info.get("icc_profile"))
                and tagged_space(img) is None
            )
    except Exception:  # unreadable header or EXIF: re-encoded from the decoded pixels instead
        return False


def _converted(data: bytes) -> bool:
    """Whether the decoder converted ``data``'s colours: by its profile, or by the space its metadata names
    (tagged_space.py), which removing the metadata would lose (header only)."""
    try:
        cicp = png_cicp(data)
        if cicp is not None:  # it outranks the other colour chunks
            return cicp_converts(cicp)
        with Image.open(io.BytesIO(data), formats=("JPEG", "PNG", "WEBP")) as img:
            icc = img.info.get("icc_profile")
            return converts(icc if isinstance(icc, bytes) else None) or tagged_space(img) is not None
    except Exception:  # unreadable header: the decoder, not this, says what is wrong with it
        return False


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "La", "RGBa", "PA") or "transparency" in image.info


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
