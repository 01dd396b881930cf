"""Embedded colour profiles: pixels an ICC profile describes in another space are converted to sRGB.

Every engine and provider reads 8-bit RGB as sRGB, and outputs carry no profile (sRGB by convention).
Cameras and editors often save Adobe RGB (1998), phones Display P3: read as sRGB, those values look
duller and shifted in hue, and so would every output made from them. So a decoded picture is brought to
sRGB from the space its profile names, as a colour-managed viewer shows it (relative colorimetric, the
intent browsers use: colours outside sRGB are clipped to its gamut, the rest kept exactly).

A profile that describes sRGB itself (the full IEC 61966-2.1 profile, compact and v4 copies, vendors'
"sRGB" or "Display" profiles) changes nothing: its pixels are kept bit for bit. A profile that cannot be
read, or that describes another space than the pixels' (grey or CMYK for RGB pixels), is ignored and the
pixels are read as sRGB.

Greyscale photos get the same care: editors tag them with their grey working space (a gamma 1.8 or
2.2 curve, Photoshop's "Dot Gain" curves), whose mid-tones a colour-managed viewer shows up to about
20 levels lighter than the same values read as sRGB (gamma 1.8: level 128 shows as 146). A grey profile
whose curve is sRGB's ("sGray") changes nothing.

CMYK JPEGs (print work from Photoshop and prepress) carry the press profile their inks were separated for;
they are brought to sRGB through it, as a colour-managed viewer shows them. One without a usable profile
falls back to Pillow's ink formula (R = (255 - C)(255 - K) / 255, ...), which shows inks as pure
primaries, as viewers without colour management do.

A profile is untrusted input, and LittleCMS sizes a lookup table's memory from the counts in its header
before it reads the table: a 500-byte profile can claim a table of 500 MB. So each table a profile declares
is checked to fit in the bytes its tag holds before LittleCMS is handed the profile; one that does not is
ignored like any unreadable profile.

Files without a profile may name their space by numbers instead (tagged_space.py reads them: a camera's
Adobe RGB JPEG by its EXIF, a PNG by its gAMA and cHRM chunks): an :class:`RgbSpace` is converted by its
primaries' matrix in linear light, through its own transfer curve.

HEIC files may name their colour with an ``nclx`` box (primaries, transfer, matrix code points) instead
of an ICC profile. Primaries or a white other than sRGB's (Display P3 from phones) with sRGB's transfer
curve are converted the same way, by their matrix in linear light (another white adapted to D65 by
Bradford, as relative colorimetric does); HDR's PQ and HLG curves are shown as SDR by hdr.py, and video
gammas are read as sRGB.
"""

from __future__ import annotations

import hashlib
import io
import struct
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageCms

# Larger profiles are ignored (the pixels are read as sRGB or by Pillow's CMYK formula). RGB input profiles
# are a few hundred bytes (matrix and curves) to a few kilobytes; press profiles with large CMYK tables are
# 0.5-3 MB (SWOP, FOGRA39, GRACoL). Since every table is checked to fit in its tag (_tables_fit), what
# LittleCMS allocates for a profile is a small multiple of its size.
MAX_PROFILE_BYTES = 4 << 20
# More tags than real profiles have (a few to about 40); LittleCMS itself reads at most 100. And more
# processing elements in one multiProcessElement tag than real ones have (a few): each is checked in Python.
MAX_PROFILE_TAGS = 100
MAX_PROFILE_ELEMENTS = 64
# A profile whose conversion moves no probe colour by more than this (in 8-bit levels) is sRGB: copies of
# the sRGB profile differ in their curves' precision and round a few probes one level apart.
SRGB_TOLERANCE = 1
# Answers of :func:`converts` kept, by the profile's digest (32 bytes each, never the profile itself).
KNOWN_PROFILES = 256
# nclx code point of sRGB's transfer curve (ISO/IEC 23091-2), the only SDR one converted (PQ, HLG: hdr.py).
NCLX_SRGB_TRANSFER = 13
# How far (CIE xy) an nclx white may lie from D65 and still be D65, not adapted (files store the
# chromaticities as rounded floats), and how far the primaries' matrix may lie from identity and still be sRGB's.
NCLX_WHITE_TOLERANCE = 0.002
NCLX_IDENTITY_TOLERANCE = 1e-3
NCLX_BAND_ROWS = 256  # rows converted at a time: float copies of a band, never of the whole picture

_known: OrderedDict[bytes, str] = OrderedDict()  # digest -> the space the profile converts, or ""
_known_lock = threading.Lock()
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# Every combination of 17 levels per channel: the corners and edges of the gamut and the inside.
_PROBE_LEVELS = np.linspace(0, 255, 17).round().astype(np.uint8)
_PROBE = np.stack(np.meshgrid(_PROBE_LEVELS, _PROBE_LEVELS, _PROBE_LEVELS, indexing="ij"), axis=-1).reshape(1, -1, 3)
_GREY_PROBE = np.arange(256, dtype=np.uint8).reshape(1, -1)  # every grey level
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


@dataclass(frozen=True)
class RgbSpace:
    """An RGB space a file names by numbers rather than by an ICC profile: its primaries and white (CIE xy),
    and its transfer, a pure power curve whose decoding exponent is ``gamma``, or sRGB's own where ``None``."""

    primaries: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    white: tuple[float, float]
    gamma: float | None = None


SRGB_PRIMARIES: tuple[tuple[float, float], tuple[float, float], tuple[float, float]] = (
    (0.64, 0.33),
    (0.30, 0.60),
    (0.15, 0.06),
)
D65 = (0.3127, 0.3290)
# ITU-T H.273 colour primaries (the code points of HEIF's nclx box and PNG's cICP chunk) read here: red, green,
# blue and white (CIE xy).
H273_PRIMARIES: dict[int, tuple[tuple[tuple[float, float], ...], tuple[float, float]]] = {
    1: (SRGB_PRIMARIES, D65),  # BT.709, sRGB
    5: (((0.64, 0.33), (0.29, 0.60), (0.15, 0.06)), D65),  # BT.601, 625 lines
    6: (((0.630, 0.340), (0.310, 0.595), (0.155, 0.070)), D65),  # BT.601, 525 lines (SMPTE 170M)
    9: (((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)), D65),  # BT.2020, BT.2100
    11: (((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), (0.314, 0.351)),  # DCI-P3 (theatre white)
    12: (((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), D65),  # Display P3
}


def h273_chromaticities(code: int) -> dict[str, float]:
    """The chromaticities of H.273 primaries ``code`` (a key of H273_PRIMARIES) under the keys pillow_heif
    gives an nclx box's (``color_primary_red_x`` ...)."""
    (red, green, blue), white = H273_PRIMARIES[code]
    out: dict[str, float] = {}
    for name, (x, y) in zip(("red", "green", "blue", "white"), (red, green, blue, white), strict=True):
        out[f"color_primary_{name}_x"], out[f"color_primary_{name}_y"] = x, y
    return out


def to_srgb(
    image: Image.Image,
    icc: bytes | None,
    nclx: Mapping[str, Any] | None = None,
    space: RgbSpace | None = None,
) -> Image.Image:
    """``image`` (RGB, grey or CMYK, as decoded) as sRGB RGB, given the ICC profile its file carried, or
    else its HEIF ``nclx`` colour or the ``space`` its file names (tagged_space.py); an RGB ``image`` itself
    where no conversion is needed (none of these, an sRGB one, a profile that cannot be read or describes
    another space). Other modes are returned as they are."""
    if image.mode == "CMYK":
        return _cmyk_to_srgb(image, icc)
    if image.mode == "L":
        kind, transform = _answer(icc)
        if kind != "GRAY":
            rgb = image.convert("RGB")
            return _convert_space(rgb, space) if not icc and space is not None else rgb
        assert icc is not None
        return _apply(image, transform or _transform(icc, "GRAY"))
    if image.mode != "RGB":
        return image
    if not icc and nclx:
        matrix = nclx_matrix(nclx)
        return image if matrix is None else _convert_linear(image, matrix)
    if not icc and space is not None:
        return _convert_space(image, space)
    kind, transform = _answer(icc)
    if kind != "RGB":
        return image
    assert icc is not None
    return _apply(image, transform or _transform(icc, "RGB"))


def converts(icc: bytes | None) -> bool:
    """Whether the RGB or grey pixels ``icc`` describes are changed by :func:`to_srgb` (the answer is kept
    for the last KNOWN_PROFILES profiles used, by their digest: real uploads carry a handful of distinct
    ones)."""
    return bool(_answer(icc)[0])


def _answer(icc: bytes | None) -> tuple[str, ImageCms.ImageCmsTransform | None]:
    """The space ("RGB" or "GRAY") whose pixels ``icc`` changes, or "" where it changes none; and the
    transform the probe built where this call asked LittleCMS (a profile's first use), so that the picture
    that brought it is converted without building it again."""
    if not icc or len(icc) > MAX_PROFILE_BYTES:
        return "", None
    digest = hashlib.sha256(icc).digest()
    with _known_lock:
        answer = _known.get(digest)
        if answer is not None:
            _known.move_to_end(digest)
    if answer is not None:
        return answer, None
    answer, transform = _probe(icc)
    with _known_lock:
        _known[digest] = answer
        while len(_known) > KNOWN_PROFILES:
            _known.popitem(last=False)
    return answer, transform


def _cmyk_to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    transform = None
    if icc and len(icc) <= MAX_PROFILE_BYTES:
        try:
            transform = _transform(icc, "CMYK")
        except MemoryError:
            raise
        except Exception:  # unreadable, or not a CMYK profile: Pillow's formula below
            transform = None
    if transform is None:
        return image.convert("RGB")
    return _apply(image, transform)


def _apply(image: Image.Image, transform: ImageCms.ImageCmsTransform) -> Image.Image:
    converted = ImageCms.applyTransform(image, transform)
    assert converted is not None  # applyTransform returns None only with inPlace=True
    converted.info.pop("icc_profile", None)  # LittleCMS tags it sRGB; outputs carry no profile
    return converted


def nclx_matrix(nclx: Mapping[str, Any]) -> NDArray[np.float64] | None:
    """Linear RGB in an nclx box's primaries to linear sRGB, or ``None`` where nothing is converted (sRGB's
    own primaries and white, another transfer curve, unreadable chromaticities)."""
    if nclx.get("transfer_characteristics") != NCLX_SRGB_TRANSFER:
        return None
    matrix = primaries_matrix(nclx)
    return matrix if matrix is not None and _moves(matrix, None) else None


def primaries_matrix(nclx: Mapping[str, Any]) -> NDArray[np.float64] | None:
    """Linear RGB in an nclx box's primaries and white to linear sRGB, a white other than D65 adapted to it
    (Bradford, as LittleCMS's relative colorimetric intent does for ICC profiles); ``None`` where the
    chromaticities cannot be read."""
    try:
        xy = [
            (float(nclx[f"color_primary_{c}_x"]), float(nclx[f"color_primary_{c}_y"]))
            for c in ("red", "green", "blue", "white")
        ]
    except (KeyError, TypeError, ValueError):
        return None
    return space_matrix(xy[:3], xy[3])


def space_matrix(primaries: Any, white: tuple[float, float]) -> NDArray[np.float64] | None:
    """Linear RGB in ``primaries`` and ``white`` (CIE xy) to linear sRGB, another white adapted to D65
    (Bradford); ``None`` where they are not chromaticities or the primaries are collinear."""
    xy = [*primaries, white]
    if not all(0.0 < x < 1.0 and 0.0 < y < 1.0 for x, y in xy):
        return None
    if max(abs(white[0] - D65[0]), abs(white[1] - D65[1])) <= NCLX_WHITE_TOLERANCE:
        white = D65
    try:
        to_xyz = _adapt_to_d65(white) @ _rgb_to_xyz(primaries, white)
        matrix = np.asarray(np.linalg.solve(_rgb_to_xyz(SRGB_PRIMARIES, D65), to_xyz), np.float64)
    except np.linalg.LinAlgError:  # collinear primaries
        return None
    return matrix if np.isfinite(matrix).all() else None


def _adapt_to_d65(white: tuple[float, float]) -> NDArray[np.float64]:
    """Bradford's chromatic adaptation of XYZ under ``white`` (CIE xy) to D65."""
    if white == D65:
        return np.eye(3)

    def xyz(w: tuple[float, float]) -> NDArray[np.float64]:
        return np.array([w[0] / w[1], 1.0, (1.0 - w[0] - w[1]) / w[1]])

    gains = (_BRADFORD @ xyz(D65)) / (_BRADFORD @ xyz(white))
    return np.asarray(np.linalg.inv(_BRADFORD) @ np.diag(gains) @ _BRADFORD, np.float64)


def _rgb_to_xyz(primaries: Any, white: tuple[float, float]) -> NDArray[np.float64]:
    """The RGB -> XYZ matrix of three primaries and a white (CIE xy), white at Y = 1."""
    columns = np.array([[x / y, 1.0, (1.0 - x - y) / y] for x, y in primaries]).T
    wx, wy = white
    scale = np.linalg.solve(columns, np.array([wx / wy, 1.0, (1.0 - wx - wy) / wy]))
    return np.asarray(columns * scale, np.float64)


_LEVELS = np.arange(256) / 255.0
_DECODE = np.where(_LEVELS <= 0.04045, _LEVELS / 12.92, ((_LEVELS + 0.055) / 1.055) ** 2.4).astype(np.float32)
_LINEAR = np.arange(65536) / 65535.0  # linear light in 16-bit steps, encoded by table
_ENCODE = np.round(
    255.0 * np.where(_LINEAR <= 0.0031308, 12.92 * _LINEAR, 1.055 * _LINEAR ** (1 / 2.4) - 0.055)
).astype(np.uint8)


def encode_linear(linear: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Linear light in [0, 1] as 8-bit sRGB levels (through a table in 16-bit steps)."""
    return np.asarray(_ENCODE[(linear * 65535.0 + 0.5).astype(np.uint16)], np.uint8)


def _moves(matrix: NDArray[np.float64], gamma: float | None) -> bool:
    """Whether a space's primaries ``matrix`` (to sRGB's) and transfer (a power ``gamma``, or sRGB's curve
    where ``None``) move any pixel: not sRGB's curve with primaries within NCLX_IDENTITY_TOLERANCE of sRGB's."""
    return gamma is not None or float(np.abs(matrix - np.eye(3)).max()) >= NCLX_IDENTITY_TOLERANCE


def changes(space: RgbSpace) -> bool:
    """Whether :func:`to_srgb` changes pixels read in ``space``: not where it is sRGB or unusable (such a
    file is read as sRGB)."""
    matrix = space_matrix(space.primaries, space.white)
    return matrix is not None and _moves(matrix, space.gamma)


def _convert_space(image: Image.Image, space: RgbSpace) -> Image.Image:
    """``image``'s values read in ``space`` as sRGB; ``image`` itself where that changes nothing."""
    matrix = space_matrix(space.primaries, space.white)
    if matrix is None or not _moves(matrix, space.gamma):
        return image
    decode = _DECODE if space.gamma is None else (_LEVELS**space.gamma).astype(np.float32)
    return _convert_linear(image, matrix, decode)


def _convert_linear(
    image: Image.Image, matrix: NDArray[np.float64], decode: NDArray[np.float32] = _DECODE
) -> Image.Image:
    """``image``'s values taken to linear light by the table ``decode`` (sRGB's curve unless given), through
    ``matrix``, clipped to sRGB's gamut and encoded again (a band of rows at a time)."""
    pixels = np.asarray(image, np.uint8)
    out = np.empty_like(pixels)
    m = matrix.T.astype(np.float32)
    for top in range(0, pixels.shape[0], NCLX_BAND_ROWS):
        out[top : top + NCLX_BAND_ROWS] = encode_linear(
            np.clip(decode[pixels[top : top + NCLX_BAND_ROWS]] @ m, 0.0, 1.0)
        )
    return Image.fromarray(out, "RGB")


def profile_of(data: bytes) -> bytes | None:
    """The ICC profile embedded in an image file (its header only), or ``None``."""
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG", "PNG", "WEBP")) as img:
            icc = img.info.get("icc_profile")
    except Exception:  # unreadable header: the decoder, not this, says what is wrong with it
        return None
    return icc if isinstance(icc, bytes) else None


def _probe(icc: bytes) -> tuple[str, ImageCms.ImageCmsTransform | None]:
    """The profile's space where converting from it moves a probe colour (RGB) or level (grey) by more than
    SRGB_TOLERANCE, and the transform; ("", None) where nothing moves or the profile cannot be used."""
    try:
        source = _open(icc)
        space = source.profile.xcolor_space.strip()
        if space not in ("RGB", "GRAY"):
            return "", None
        transform = _build(source, space)
        probe = _PROBE if space == "RGB" else _GREY_PROBE
        image = Image.fromarray(probe, "RGB" if space == "RGB" else "L")
        out = np.asarray(ImageCms.applyTransform(image, transform), np.int16)
    except MemoryError:
        raise
    except Exception:  # unreadable: the pixels are read as sRGB
        return "", None
    expected = _PROBE if space == "RGB" else np.repeat(_GREY_PROBE[..., None], 3, axis=-1)
    return (space, transform) if int(np.abs(out - expected).max()) > SRGB_TOLERANCE else ("", None)


def _open(icc: bytes) -> ImageCms.ImageCmsProfile:
    if not _tables_fit(icc):
        raise ValueError("a lookup table does not fit in its tag")
    return ImageCms.ImageCmsProfile(io.BytesIO(icc))


def _transform(icc: bytes, space: str) -> ImageCms.ImageCmsTransform:
    """A transform from ``icc``, which must describe ``space`` ("RGB", "GRAY" or "CMYK"), to sRGB."""
    return _build(_open(icc), space)


def _build(source: ImageCms.ImageCmsProfile, space: str) -> ImageCms.ImageCmsTransform:
    if source.profile.xcolor_space.strip() != space:
        raise ValueError(f"not a {space} profile")
    # Built for each picture, never shared: a LittleCMS transform keeps the last pixel it converted, which
    # decoding threads sharing one would race on.
    mode = {"GRAY": "L"}.get(space, space)
    return ImageCms.buildTransform(source, _SRGB, mode, "RGB", renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)


def _tables_fit(icc: bytes) -> bool:
    """Whether the profile's tag table lies inside it and every lookup table it declares (ICC.1 lut8,
    lut16, lutAtoB / lutBtoA and multiProcessElement CLUTs) fits in the bytes of its tag."""
    if len(icc) < 132:
        return False
    (count,) = struct.unpack_from(">I", icc, 128)
    if count > MAX_PROFILE_TAGS or 132 + 12 * count > len(icc):
        return False
    data = memoryview(icc)  # slices without copies
    places = {struct.unpack_from(">II", icc, 132 + 12 * k + 4) for k in range(count)}  # tags may share data
    for offset, size in places:
        if offset + size > len(icc):
            return False
        if size >= 12 and not _table_fits(data[offset : offset + size]):
            return False
    return True


def _table_fits(tag: memoryview) -> bool:
    """Whether a tag's lookup table (if it is one) needs no more bytes than the tag holds."""
    kind, size = tag[:4], len(tag)
    if kind in (b"mft1", b"mft2"):
        if size < 52:
            return False
        inputs, outputs, grid = tag[8], tag[9], tag[10]
        if kind == b"mft1":
            return 48 + 256 * inputs + grid**inputs * outputs + 256 * outputs <= size
        entries_in, entries_out = struct.unpack_from(">HH", tag, 48)
        return 52 + 2 * (entries_in * inputs + grid**inputs * outputs + entries_out * outputs) <= size
    if kind in (b"mAB ", b"mBA "):
        if size < 32:
            return False
        inputs, outputs = tag[8], tag[9]
        (clut,) = struct.unpack_from(">I", tag, 24)
        return clut == 0 or _clut_fits(tag, clut, inputs, outputs, precision=None)
    if kind == b"mpet":
        if size < 16:
            return False
        (elements,) = struct.unpack_from(">I", tag, 12)
        if elements > MAX_PROFILE_ELEMENTS or 16 + 8 * elements > size:
            return False
        for k in range(elements):
            offset, length = struct.unpack_from(">II", tag, 16 + 8 * k)
            if offset + length > size:
                return False
            element = tag[offset : offset + length]
            if element[:4] == b"clut":
                if len(element) < 28:
                    return False
                inputs, outputs = struct.unpack_from(">HH", element, 8)
                if not _clut_fits(element, 12, inputs, outputs, precision=4, header=16):
                    return False
    return True


def _clut_fits(tag: memoryview, at: int, inputs: int, outputs: int, *, precision: int | None, header: int = 20) -> bool:
    """Whether a CLUT at ``at`` (16 grid-point counts, then for lutAtoB a precision byte and padding) with
    ``inputs`` and ``outputs`` channels fits in ``tag``."""
    if inputs > 16 or at + header > len(tag):
        return False
    points = 1
    for n in tag[at : at + inputs]:
        points *= n
    width = tag[at + 16] if precision is None else precision
    return at + header + points * outputs * width <= len(tag)
