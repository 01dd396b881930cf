"""Embedded colour profiles: pixels an ICC profile describes in another RGB space are converted to sRGB.

Every engine and provider reads 8-bit RGB as sRGB, and outputs carry no profile (sRGB by convention).
Cameras and editors often save Adobe RGB (1998), phones Display P3: read as sRGB, those values look
duller and shifted in hue, and so would every output made from them. So a decoded picture is brought to
sRGB from the space its profile names, as a colour-managed viewer shows it (relative colorimetric, the
intent browsers use: colours outside sRGB are clipped to its gamut, the rest kept exactly).

A profile that describes sRGB itself (the full IEC 61966-2.1 profile, compact and v4 copies, vendors'
"sRGB" or "Display" profiles) changes nothing: its pixels are kept bit for bit. A profile that cannot be
read, or that describes a space other than RGB (grey, CMYK), is ignored and the pixels are read as sRGB.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict

import numpy as np
from PIL import Image, ImageCms

# Larger profiles are ignored (the pixels are read as sRGB). RGB input profiles are a few hundred bytes
# (matrix and curves) to a few kilobytes; only printer profiles with large lookup tables reach megabytes,
# and building a transform from a hostile table costs memory and time before a pixel is converted.
MAX_PROFILE_BYTES = 1 << 20
# A profile whose conversion moves no probe colour by more than this (in 8-bit levels) is sRGB: copies of
# the sRGB profile differ in their curves' precision and round a few probes one level apart.
SRGB_TOLERANCE = 1
# Answers of :func:`converts` kept, by the profile's digest (32 bytes each, never the profile itself).
KNOWN_PROFILES = 256

_known: OrderedDict[bytes, bool] = OrderedDict()
_known_lock = threading.Lock()
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# Every combination of 17 levels per channel: the corners and edges of the gamut and the inside.
_PROBE_LEVELS = np.linspace(0, 255, 17).round().astype(np.uint8)
_PROBE = np.stack(np.meshgrid(_PROBE_LEVELS, _PROBE_LEVELS, _PROBE_LEVELS, indexing="ij"), axis=-1).reshape(1, -1, 3)


def to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """``image`` (RGB, as decoded) in sRGB, given the ICC profile its file carried; ``image`` itself where
    no conversion is needed (no profile, an sRGB one, one that cannot be read or is not RGB)."""
    if image.mode != "RGB" or not converts(icc):
        return image
    assert icc is not None
    converted = ImageCms.applyTransform(image, _transform(icc))
    assert converted is not None  # applyTransform returns None only with inPlace=True
    converted.info.pop("icc_profile", None)  # LittleCMS tags it sRGB; outputs carry no profile
    return converted


def converts(icc: bytes | None) -> bool:
    """Whether pixels described by ``icc`` are changed by :func:`to_srgb` (the answer is kept for the last
    KNOWN_PROFILES profiles used, by their digest: real uploads carry a handful of distinct ones)."""
    if not icc or len(icc) > MAX_PROFILE_BYTES:
        return False
    digest = hashlib.sha256(icc).digest()
    with _known_lock:
        answer = _known.get(digest)
        if answer is not None:
            _known.move_to_end(digest)
    if answer is None:
        answer = _probe(icc)
        with _known_lock:
            _known[digest] = answer
            while len(_known) > KNOWN_PROFILES:
                _known.popitem(last=False)
    return answer


def profile_of(data: bytes) -> bytes | None:
    """The ICC profile embedded in an image file (its header only), or ``None``."""
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG", "PNG", "WEBP")) as img:
            icc = img.info.get("icc_profile")
    except Exception:  # unreadable header: the decoder, not this, says what is wrong with it
        return None
    return icc if isinstance(icc, bytes) else None


def _probe(icc: bytes) -> bool:
    """Whether converting from ``icc`` moves any probe colour by more than SRGB_TOLERANCE."""
    try:
        transform = _transform(icc)
        probe = Image.fromarray(_PROBE, "RGB")
        out = np.asarray(ImageCms.applyTransform(probe, transform), np.int16)
    except MemoryError:
        raise
    except Exception:  # unreadable, or not an RGB profile: the pixels are read as sRGB
        return False
    return int(np.abs(out - _PROBE).max()) > SRGB_TOLERANCE


def _transform(icc: bytes) -> ImageCms.ImageCmsTransform:
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    if source.profile.xcolor_space.strip() != "RGB":
        raise ValueError("not an RGB profile")
    # Built for each picture, never shared: a LittleCMS transform keeps the last pixel it converted, which
    # decoding threads sharing one would race on.
    return ImageCms.buildTransform(source, _SRGB, "RGB", "RGB", renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
