"""Degradation families for the enhance evaluation, each from a physical camera or print model.

None of these is the inverse of a step of the enhancer (which works with linear-light gains, sRGB levels
and an unsharp mask): white balance is broken with a Bradford chromatic adaptation to a black-body or
off-locus illuminant, exposure goes through an S-shaped camera curve with sensor clipping, haze is the
atmospheric scattering model, fading acts on dye densities, noise is photon shot noise plus read noise,
blur is a disc (defocus) PSF, vignetting the cos⁴ law. Every family draws its parameters per photo from a
range with a seeded generator, and reports them.

All models take an upright RGB uint8 photo and return the degraded photo as uint8 plus the bytes a user
would upload: lossless PNG, except the JPEG family, whose upload is the JPEG itself.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]
Params = dict[str, float]


# ------------------------------------------------------------------------------- colour science


def srgb_to_linear(v: NDArray[np.floating]) -> F32:
    v = np.asarray(v, np.float32)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(v: NDArray[np.floating]) -> F32:
    v = np.clip(np.asarray(v, np.float32), 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055).astype(np.float32)


_TO_LINEAR = srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0)
_ENCODE_STEPS = 65535  # linear → 8-bit table resolution: under 0.05 of an 8-bit step anywhere on the curve
_TO_U8 = np.asarray(
    np.clip(linear_to_srgb(np.arange(_ENCODE_STEPS + 1, dtype=np.float32) / _ENCODE_STEPS) * 255.0 + 0.5, 0, 255),
    np.uint8,
)


def to_linear(rgb: U8) -> F32:
    return np.asarray(_TO_LINEAR[rgb], np.float32)


def to_u8(lin: F32) -> U8:
    """Linear light back to 8-bit sRGB, clipped as a camera's encoder clips (by table: exact maths on
    19 MP photos costs seconds)."""
    idx = np.clip(lin, 0.0, 1.0) * np.float32(_ENCODE_STEPS) + np.float32(0.5)
    return np.asarray(_TO_U8[idx.astype(np.int32)], np.uint8)


# Linear sRGB (D65) <-> CIE XYZ, and the Bradford cone-response matrix (IEC 61966-2-1; Lam 1985).
RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
XYZ_TO_RGB = np.linalg.inv(RGB_TO_XYZ)
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
D65_XY = (0.31271, 0.32902)


def planckian_xy(cct: float) -> tuple[float, float]:
    """Chromaticity of a black body at ``cct`` kelvin (Kim et al.'s cubic fit, 1667–25000 K)."""
    t = float(cct)
    if not 1667 <= t <= 25000:
        raise ValueError(f"{t} K is outside the fit's 1667–25000 K")
    if t <= 4000:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    return x, y


def _xy_to_uv(x: float, y: float) -> tuple[float, float]:  # CIE 1960 UCS
    d = -2 * x + 12 * y + 3
    return 4 * x / d, 6 * y / d


def _uv_to_xy(u: float, v: float) -> tuple[float, float]:
    d = 2 * u - 8 * v + 4
    return 3 * u / d, 2 * v / d


def illuminant_xy(cct: float, duv: float = 0.0) -> tuple[float, float]:
    """Chromaticity at ``cct`` moved ``duv`` off the Planckian locus in CIE 1960 uv, along its normal:
    positive towards green (above the locus), negative towards magenta (below)."""
    u0, v0 = _xy_to_uv(*planckian_xy(cct))
    u1, v1 = _xy_to_uv(*planckian_xy(cct + 10.0))
    du, dv = u1 - u0, v1 - v0
    norm = math.hypot(du, dv)
    # The tangent points down and left as the temperature rises; this normal points up (green).
    nu, nv = dv / norm, -du / norm
    if nv < 0:
        nu, nv = -nu, -nv
    return _uv_to_xy(u0 + duv * nu, v0 + duv * nv)


def _white_xyz(x: float, y: float) -> NDArray[np.float64]:
    return np.array([x / y, 1.0, (1 - x - y) / y])


def bradford_rgb(src_xy: tuple[float, float], dst_xy: tuple[float, float]) -> NDArray[np.float32]:
    """3x3 matrix on linear sRGB: a surface seen under ``src`` as it reflects under ``dst`` (Bradford
    von Kries adaptation in the sharpened cone space)."""
    s = BRADFORD @ _white_xyz(*src_xy)
    d = BRADFORD @ _white_xyz(*dst_xy)
    cat = np.linalg.inv(BRADFORD) @ np.diag(d / s) @ BRADFORD
    return np.asarray(XYZ_TO_RGB @ cat @ RGB_TO_XYZ, np.float32)


# ---------------------------------------------------------------------------------- the models


def cast_matrix(cct: float, duv: float = 0.0) -> NDArray[np.float32]:
    """Linear-sRGB matrix of a camera white-balanced for D65 shooting under ``cct`` K, ``duv`` off the locus."""
    return bradford_rgb(D65_XY, illuminant_xy(cct, duv))


def wrong_white_balance(rgb: U8, cct: float, duv: float = 0.0) -> U8:
    """The scene lit by an illuminant at ``cct`` K (``duv`` off the locus) and rendered by a camera
    white-balanced for D65: every reflectance takes the illuminant's colour; the sensor clips at 1."""
    lin = to_linear(rgb) @ cast_matrix(cct, duv).T
    return to_u8(lin)


def light_of(params: Params) -> tuple[float, float, float] | None:
    """The colour, in linear sRGB with the camera's D65 white at 1, of the light a colour-cast copy was made
    under (:func:`wrong_white_balance`), from its drawn parameters; None for a copy made without one. Only a
    diagnostic reads it: the enhancer told the true light (bench/enhance_every.py --told-light)."""
    if "cct_K" not in params:
        return None
    white = cast_matrix(params["cct_K"], params.get("duv", 0.0)) @ np.ones(3)
    return float(white[0]), float(white[1]), float(white[2])


# The camera's tone curve: log-logistic S-curve on scene-linear exposure (toe and shoulder), per
# channel as in-camera rendering does, normalised so that the sensor's clip point maps to white.
CURVE_N = 1.6  # contrast of the S (slope in log exposure)
CURVE_SIGMA = 0.3  # exposure at the curve's half height
SENSOR_CLIP = 2.5  # scene-linear exposure at which the sensor saturates (middle grey ≈ 0.18)


def camera_curve(e: F32) -> F32:
    e = np.clip(e, 0.0, SENSOR_CLIP)
    en = np.power(e, CURVE_N)
    top = SENSOR_CLIP**CURVE_N / (SENSOR_CLIP**CURVE_N + CURVE_SIGMA**CURVE_N)
    return np.asarray(en / (en + CURVE_SIGMA**CURVE_N) / top, np.float32)


def inverse_camera_curve(d: F32) -> F32:
    top = SENSOR_CLIP**CURVE_N / (SENSOR_CLIP**CURVE_N + CURVE_SIGMA**CURVE_N)
    y = np.clip(d * top, 0.0, top)
    return np.asarray(CURVE_SIGMA * np.power(y / np.maximum(1.0 - y, 1e-6), 1.0 / CURVE_N), np.float32)


def exposure(rgb: U8, ev: float) -> U8:
    """The same scene re-shot ``ev`` stops brighter or darker through the camera curve: the photo is
    taken back to scene exposure through the curve's inverse, scaled by 2^ev, rendered again. ev = 0
    returns the photo; over-exposure clips at the sensor, under-exposure sinks into the toe."""
    d = rgb.astype(np.float32) / 255.0
    scene = inverse_camera_curve(d) * np.float32(2.0**ev)
    return np.asarray(np.clip(camera_curve(scene) * 255.0 + 0.5, 0, 255), np.uint8)


def haze(rgb: U8, t_near: float, t_far: float, airlight: tuple[float, float, float]) -> U8:
    """Atmospheric scattering, I = J·t + A·(1 − t), in linear light. Without depth, transmission falls
    linearly from ``t_near`` at the bottom of the frame to ``t_far`` at the top (farther away)."""
    lin = to_linear(rgb)
    h = lin.shape[0]
    t = np.linspace(t_far, t_near, h, dtype=np.float32)[:, None, None]
    a = np.asarray(airlight, np.float32)
    return to_u8(lin * t + a * (1.0 - t))


def faded_print(rgb: U8, dye_loss: tuple[float, float, float], stain: tuple[float, float, float]) -> U8:
    """A colour print whose cyan, magenta and yellow dyes lost a share of their density, on paper
    whose base yellowed. Each dye governs one channel's reflectance (cyan absorbs red, ...):
    density D = −log10 R; faded D' = D·(1 − loss) + stain. Blacks lift as the maximum density falls."""
    lin = np.maximum(to_linear(rgb), 10.0**-2.4)  # the print's maximum density, 2.4
    density = -np.log10(lin)
    faded = density * (1.0 - np.asarray(dye_loss, np.float32)) + np.asarray(stain, np.float32)
    return to_u8(np.power(10.0, -faded).astype(np.float32))


def sensor_noise(rgb: U8, full_well: float, read_noise: float, seed: int) -> U8:
    """Low light: ``full_well`` photo-electrons reach a white pixel (few, in the dark), so each raw
    value is Poisson(signal) plus Gaussian read noise of ``read_noise`` electrons; the camera's gain
    then renders the frame at the same brightness. Noise σ grows as the light (full_well) falls."""
    rng = np.random.default_rng(seed)
    electrons = to_linear(rgb) * np.float32(full_well)
    raw = rng.poisson(electrons).astype(np.float32) + rng.normal(0.0, read_noise, electrons.shape).astype(np.float32)
    return to_u8(raw / np.float32(full_well))


def jpeg(rgb: U8, quality: int) -> tuple[U8, bytes]:
    """Baseline JPEG at ``quality`` (4:2:0 chroma subsampling, as cameras and web encoders use)."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=int(quality), subsampling="4:2:0")
    data = buf.getvalue()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.uint8), data


def disc_kernel(radius: float) -> F32:
    """A defocus PSF: a uniform disc of ``radius`` px, its edge pixels weighted by covered area."""
    r = max(radius, 0.5)
    half = math.ceil(r)
    sub = 8  # supersampling per pixel for the disc's edge
    ax = (np.arange((2 * half + 1) * sub, dtype=np.float32) + 0.5) / sub - (half + 0.5)
    inside = (ax[None, :] ** 2 + ax[:, None] ** 2 <= r * r).astype(np.float32)
    k = inside.reshape(2 * half + 1, sub, 2 * half + 1, sub).mean(axis=(1, 3))
    return np.asarray(k / k.sum(), np.float32)


def defocus(rgb: U8, radius: float) -> U8:
    """Out-of-focus blur: light from each point spreads over the lens aperture's disc (linear light)."""
    out = cv2.filter2D(to_linear(rgb), -1, disc_kernel(radius), borderType=cv2.BORDER_REFLECT)
    return to_u8(np.asarray(out, np.float32))


def vignette(rgb: U8, focal: float) -> U8:
    """Natural vignetting, the cos⁴ law: a pixel at distance r from the centre (1 = the corner) sees
    the aperture at angle θ = atan(r / focal) and receives cos⁴θ of the light."""
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot((xx - (w - 1) / 2), (yy - (h - 1) / 2)) / (math.hypot(w, h) / 2)
    falloff = np.cos(np.arctan(r / np.float32(focal))) ** 4
    return to_u8(to_linear(rgb) * falloff[..., None])


# ------------------------------------------------------------------------------------ families


@dataclass(frozen=True)
class Degraded:
    image: U8  # what the camera or scanner produced, at the photo's size
    upload: bytes  # the bytes a user sends (PNG, or the JPEG itself)
    params: Params  # what was drawn for this photo


def png(rgb: U8) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return round(float(rng.uniform(lo, hi)), 4)


def _warm(rgb: U8, rng: np.random.Generator) -> tuple[U8, Params]:
    p = {"cct_K": _u(rng, 2800, 4500)}
    return wrong_white_balance(rgb, p["cct_K"]), p


def _cool(rgb: U8, rng: np.random.Generator) -> tuple[U8, Params]:
    p = {"cct_K": _u(rng, 8000, 12000)}
    return wrong_white_balance(rgb, p["cct_K"]), p


def _magenta(rgb: U8, rng: np.random.Generator) -> tuple[U8, Params]:
    p = {"cct_K": _u(rng, 5500, 7000), "duv": _u(rng, -0.03, -0.015)}
    return wrong_white_balance(rgb, p["cct_K"], p["duv"]), p


def _green(rgb: U8, rng: np.random.Generator) -> tuple[U8, Params]:
    p = {"cct_K": _u(rng, 5500, 7000), "duv": _u(rng, 0.015, 0.03)}
    return wrong_white_balance(rgb, p["cct_K"], p["duv"]), p


def _under(rgb: U8, rng: np.random.Generator) -> tuple[U8, Params]:
    p = {"ev": _u(rng, -2.2, -1.0)}
    return exposure(rgb, p["ev"]), p


def _over(rgb: U8, rng: np.random.Generator) -> tuple[U8, Params]:
    p = {"ev": _u(rng, 0.6, 1.4)}
    return exposure(rgb, p["ev"]), p


def _haze(rgb: U8, rng: np.random.Generator) -> tuple[U8, Params]:
    t_near = _u(rng, 0.55, 0.85)
    level = _u(rng, 0.55, 0.9)
    tint = _u(rng, -0.08, 0.12)  # > 0 bluish sky light, < 0 warm (smog, low sun)
    p = {"t_near": t_near, "t_far": round(t_near - _u(rng, 0.0, 0.25), 4), "airlight": level, "airlight_tint": tint}
    air = (level * (1 - tint), level, min(1.0, level * (1 + tint)))
    return haze(rgb, p["t_near"], p["t_far"], air), p


def _faded(rgb: U8, rng: np.random.Generator) -> tuple[U8, Params]:
    p = {
        "cyan_loss": _u(rng, 0.25, 0.55),
        "magenta_loss": _u(rng, 0.05, 0.25),
        "yellow_loss": _u(rng, 0.15, 0.45),
        "stain_blue_density": _u(rng, 0.03, 0.15),
    }
    loss = (p["cyan_loss"], p["magenta_loss"], p["yellow_loss"])
    stain = (0.0, p["stain_blue_density"] * 0.25, p["stain_blue_density"])
    return faded_print(rgb, loss, stain), p


def _noise(rgb: U8, rng: np.random.Generator) -> tuple[U8, Params]:
    p = {"full_well_e": _u(rng, 40, 250), "read_noise_e": _u(rng, 1.5, 4.0)}
    return sensor_noise(rgb, p["full_well_e"], p["read_noise_e"], int(rng.integers(2**31))), p


def _defocus(rgb: U8, rng: np.random.Generator) -> tuple[U8, Params]:
    # The disc scales with the frame (a 150 px face chip and a 1600 px photo blur alike, relatively).
    rel = _u(rng, 1.5, 3.5)
    p = {"radius_per_1000px": rel, "radius_px": round(max(1.0, rel * max(rgb.shape[:2]) / 1000), 3)}
    return defocus(rgb, p["radius_px"]), p


def _vignette(rgb: U8, rng: np.random.Generator) -> tuple[U8, Params]:
    p = {"focal": _u(rng, 1.0, 1.8)}
    return vignette(rgb, p["focal"]), p


FAMILY_MODELS: dict[str, Callable[[U8, np.random.Generator], tuple[U8, Params]]] = {
    "warm (2800–4500 K)": _warm,
    "cool (8000–12000 K)": _cool,
    "magenta tint": _magenta,
    "green tint": _green,
    "under-exposed": _under,
    "over-exposed": _over,
    "haze": _haze,
    "faded print": _faded,
    "low-light noise": _noise,
    "jpeg q20–40": lambda rgb, rng: (rgb, {}),  # handled in degrade(): its upload is the JPEG
    "defocus": _defocus,
    "vignetting": _vignette,
}
GOOD = "good (no degradation)"
FAMILIES = [GOOD, *FAMILY_MODELS]


def degrade(family: str, rgb: U8, original_bytes: bytes, seed: int) -> Degraded:
    """Apply ``family`` to ``rgb`` with parameters drawn from ``seed``. A good photo is uploaded as its
    original file."""
    rng = np.random.default_rng(seed)
    if family == GOOD:
        return Degraded(rgb, original_bytes, {})
    if family.startswith("jpeg"):
        q = int(rng.integers(20, 41))
        img, data = jpeg(rgb, q)
        return Degraded(img, data, {"quality": float(q)})
    img, params = FAMILY_MODELS[family](rgb, rng)
    return Degraded(img, png(img), params)
