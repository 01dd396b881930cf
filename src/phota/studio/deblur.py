"""Lens-defocus removal for the local enhance engine: find a disc blur in the photo's own spectrum, then
undo it with a Wiener filter in linear light.

An out-of-focus lens spreads every point over the aperture's disc. The disc's transfer function
(an Airy-like ``2 J1(x) / x``) has rings of zeros whose spacing in frequency is about 1 / (2 r): the
log power spectrum of a defocused photo carries that ripple whatever the scene, and its cepstrum (the
Fourier transform of the log spectrum) shows it as a deep negative peak at a distance of about the
disc's diameter. Sharp photos, noise and JPEG blocks leave no such peak. Unsharp masking cannot undo a
disc (it boosts a fixed band); the Wiener filter divides the disc's own transfer function out, holding
back where it nears zero (``DEBLUR_NSR``).

docs/enhance.md (pipeline step 4, "Lens defocus", and the tunables table) has the readings that set each
threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from phota.studio.arrays import F32, F64
from phota.studio.colour import LUMA_LIN

# --- tunables (docs/enhance.md explains each) ---
DEBLUR_TILE = 512  # largest spectrum tile (px); the log spectra of half-overlapping tiles are averaged
DEBLUR_MIN_SIDE = 256  # a smaller frame gives too few samples of the ripple (150 px face chips read noise)
# Search range of the disc radius (working pixels). A radius of 1 is also the softness of many resampled or
# JPEG-compressed sharp photos (three clean TUNE photos read a peak there as deep as a real blur's; their
# re-blur ratio, 0.45-0.5, keeps them out); over 12 a tile holds too few periods of the ripple.
DEBLUR_RADIUS = (1.0, 12.0)
# Depth of the cepstral peak (median of the searched range minus the peak, in median absolute deviations)
# over which deblurring ramps in. Defocused TUNE photos read 5-100 up to a radius of 4.8 (the deepest for
# small discs; larger ones 3-5, left to unsharp masking); sharp, noisy and JPEG copies at most 6 at radii over
# 1.5, but a periodic brick texture (10, see DEBLUR_ZIGZAG) and 150 px face chips (9, under DEBLUR_MIN_SIDE).
# The re-blur ratio (DEBLUR_BLUR) is the second witness; lower: clean photos' own softness is taken for a disc.
DEBLUR_DEPTH = (5.0, 8.0)
# A disc over ~4.5 px reads shallower (2.8-4.2 on the TUNE copies: its ripple's first rings hold the
# signal, the rest lies under the 8-bit noise floor), but it also leaves the frame far softer than anything
# else: defocused TUNE copies with a radius over 3.3 read a re-blur ratio of 0.91-0.98, while no copy in the
# twelve other families reads over 0.871 after denoising or deblocking (HELD-OUT 0.862; 150 px chips, never
# deconvolved, 0.87). Over DEBLUR_SOFT's re-blur ratios DEBLUR_DEPTH eases to DEBLUR_DEPTH_SOFT: the
# softness is the first witness there, the peak (at the radius the softness implies) the second. The ramp
# starts where the other families end: from 0.9 it left three TUNE discs of 3.1-5.3 px at 0.905-0.924 to
# unsharp masking.
DEBLUR_SOFT = (0.88, 0.92)
DEBLUR_DEPTH_SOFT = (2.5, 4.0)
# Re-blur ratio (enhance.estimate_blur) over which deblurring ramps in: a photo that loses much of its
# gradient to a sigma-1 blur has fine detail a disc would have removed. Defocused TUNE photos with a radius
# over 1.5 read 0.70-0.98 (most over 0.8), the brick texture 0.719, sharp photos 0.35-0.7.
DEBLUR_BLUR = (0.72, 0.8)
# Bin-to-bin zigzag of the cepstral profile (median deviation of a half-pixel bin from its neighbours' mean,
# in median absolute deviations) over which deblurring fades out. A disc's profile is smooth at that scale;
# a fine periodic texture (brick, weave, mesh) puts a peak of its own at every multiple of its period, and
# those alternate bin to bin. Defocused TUNE photos read 0.5-1.8, the grey brick texture 2.3-2.4 (sharp or
# defocused: a peak at 2.4 px it took for a disc, SSIM 0.976 -> 0.78). Lower: blurred photos of
# fine-grained scenes are left to unsharp masking; higher: textures get a wrong disc divided out (ringing).
DEBLUR_ZIGZAG = (1.9, 2.2)
# No edge of a frame a disc has blurred climbs faster than the disc's line spread function allows: 2 / (pi r) of
# its height per pixel at most. Steps steeper than DEBLUR_STEEP times that, for an edge spanning the frame's
# range (its 0.5th to 99.5th percentile), contradict the disc; DEBLUR_STEEP_SHARE is the share of pixels with
# such steps over which deblurring fades out. Crisp graphics (a screenshot's text, sparse sharp edges: the
# re-blur ratio keeps the whole of an isolated edge's gradient, so it reads 0.77, and the stroke width puts a
# deep cepstral peak at 2.2 px) read 4 %, and were deconvolved into halos; every case of the evaluation that
# is deconvolved reads 0 on TUNE and at most 0.002 % on HELD-OUT (a star field). Lower: a defocused frame
# with a few clipped glints could be spared; higher: graphics with fewer sharp edges are deconvolved.
DEBLUR_STEEP = 1.5
DEBLUR_STEEP_SHARE = (0.001, 0.005)
# Wiener noise-to-signal ratio: lower restores more and rings more. With the true radius, over all 78 TUNE
# defocus copies: 0.003 SSIM 0.946 / ΔE 1.44, 0.01 0.951 / 1.14, 0.03 0.944 / 1.22 (no-op 0.918 / 1.27).
DEBLUR_NSR = 0.01
# Linear luminance under which the restored ratio is damped towards 1 (see deconvolve; a ratio of two small
# numbers is noise):
# over all 78 TUNE defocus copies 0.0005 SSIM 0.9386 / ΔE 1.793, 0.002 0.9393 / 1.782, 0.006 0.9400 / 1.774,
# 0.02 0.9396 / 1.773. Lower: noise in the shadows multiplied; higher: dark colours lose their saturation.
DEBLUR_DARK = 0.006
# Blur (working pixels) on the colour the per-channel filter restores at colour edges (see deconvolve): each
# channel's own quantisation noise, divided by the disc, is pixel-scale colour noise. Over all 78 TUNE
# defocus copies (ΔE / SSIM; the luminance-ratio restore alone 1.730 / 0.94001), with the colour taken as the
# luminance-free part of the per-channel restore less the ratio's: unblurred 1.751 / 0.93985, 0.6 1.697 /
# 0.93986, 1.0 1.688 / 0.93986, 1.5 1.693 / 0.93991, 3.0 1.713 / 0.93999; the damped form kept, at 1.0:
# 1.683 / 0.93989. Lower: colour noise at every edge; higher: the restored colour spreads past its edge.
DEBLUR_CHROMA_SIGMA = 1.0
# The cepstral minimum of the disc model read on a 1/f scene blurred by it (8-bit), against the disc's radius:
# the minimum sits at about 2r - 0.5 from r = 3 on; smaller discs read a little wide (their ripple has fewer
# periods in the band). tests/studio/test_deblur.py re-derives it.
_READ_RADIUS = (1.33, 1.72, 1.91, 2.03, 2.64, 3.03)
_TRUE_RADIUS = (1.1, 1.5, 1.8, 2.0, 2.5, 3.0)


@dataclass(frozen=True)
class Defocus:
    """A disc blur found in a photo: its radius (working pixels), the peak's depth (see DEBLUR_DEPTH) and the
    profile's zigzag (see DEBLUR_ZIGZAG)."""

    radius: float
    depth: float
    zigzag: float


def _radial_profile(a: F64, max_radius: float) -> F64:
    """Mean of ``a`` (an FFT-ordered 2-D array) over rings of half a pixel, out to ``max_radius``."""
    h, w = a.shape
    yy = np.minimum(np.arange(h), h - np.arange(h))[:, None]
    xx = np.minimum(np.arange(w), w - np.arange(w))[None, :]
    bins = np.round(np.sqrt(yy * yy + xx * xx) * 2).astype(np.int64).ravel()
    n = int(max_radius * 2) + 1
    keep = bins < n
    total = np.bincount(bins[keep], a.ravel()[keep], minlength=n)
    count = np.bincount(bins[keep], minlength=n)
    # Some half-pixel rings near the centre hold no grid point (none lies at a distance of 2.5): they take
    # their neighbours' value.
    filled = count > 0
    idx = np.arange(n)
    return np.interp(idx, idx[filled], total[filled] / count[filled])


def estimate_defocus(lin_luma: F32) -> Defocus | None:
    """The disc blur in ``lin_luma`` (linear luminance of the working image), or None when the frame is too
    small to tell. Its depth says how sure the reading is; the caller gates on it."""
    h, w = lin_luma.shape
    if min(h, w) < DEBLUR_MIN_SIDE:
        return None
    tile = DEBLUR_TILE
    while tile > min(h, w):
        tile //= 2
    window = np.outer(np.hanning(tile), np.hanning(tile)).astype(np.float32)
    acc = np.zeros((tile, tile // 2 + 1), np.float64)
    n = 0
    step = tile // 2
    for y in range(0, h - tile + 1, step):
        for x in range(0, w - tile + 1, step):
            t = lin_luma[y : y + tile, x : x + tile]
            spec = np.fft.rfft2((t - t.mean()) * window)
            acc += np.log(np.abs(spec) ** 2 + 1e-10)
            n += 1
    # The rfft half-plane is enough: the log spectrum of a real image is symmetric, so its cepstrum is the
    # inverse real FFT of that half.
    cep = np.fft.irfft2(acc / n, s=(tile, tile))
    lo, hi = DEBLUR_RADIUS
    # The disc's own cepstrum has its minimum 0.5 px short of the diameter (2r - 0.5 for radii 1.5-12).
    q_lo, q_hi = 2 * lo - 0.5, min(2 * hi - 0.5, tile / 8)
    prof = _radial_profile(cep, q_hi + 1)
    q = np.arange(len(prof)) / 2.0
    sel = np.flatnonzero((q >= q_lo) & (q <= q_hi))
    if len(sel) < 3:
        return None
    vals = prof[sel]
    base = float(np.median(vals))
    mad = float(np.median(np.abs(vals - base))) + 1e-12
    depths = (base - vals) / mad
    zigzag = float(np.median(np.abs(vals[1:-1] - 0.5 * (vals[:-2] + vals[2:])))) / mad
    # The disc's ripple is not a pure cosine: its cepstrum has further negative peaks past the first (near
    # 2q + 0.5), and a small disc's first one can read shallower than its second. The nearest peak that is
    # deep enough to act on is the disc's; a deeper one further out would be read as a disc twice the size.
    i = int(np.argmin(vals))
    for j in range(1, len(vals) - 1):
        if vals[j] < vals[j - 1] and vals[j] <= vals[j + 1] and depths[j] >= DEBLUR_DEPTH[0]:
            i = j
            break
    depth = float(depths[i])
    # Sub-bin position of the minimum from a parabola through it and its neighbours.
    qm = float(q[sel[i]])
    if 0 < i < len(vals) - 1:
        a, b, c = float(vals[i - 1]), float(vals[i]), float(vals[i + 1])
        denom = a - 2 * b + c
        if denom > 0:
            qm += 0.25 * (a - c) / denom  # half-pixel bins: an offset of one bin is 0.5 px
    read = (qm + 0.5) / 2.0
    if read >= _READ_RADIUS[-1]:
        radius = read
    elif read <= _READ_RADIUS[0]:
        radius = read * _TRUE_RADIUS[0] / _READ_RADIUS[0]
    else:
        radius = float(np.interp(read, _READ_RADIUS, _TRUE_RADIUS))
    return Defocus(radius=radius, depth=depth, zigzag=zigzag)


def steep_share(lin_luma: F32, radius: float) -> float:
    """Share of pixels whose step to a neighbour is steeper than a disc of ``radius`` lets any edge climb
    (DEBLUR_STEEP)."""
    lo, hi = np.percentile(lin_luma, (0.5, 99.5))
    bound = DEBLUR_STEEP * 2.0 / (math.pi * radius) * float(hi - lo)
    if bound <= 0.0:
        return 0.0
    steps = int((np.abs(np.diff(lin_luma, axis=1)) > bound).sum()) + int(
        (np.abs(np.diff(lin_luma, axis=0)) > bound).sum()
    )
    return steps / lin_luma.size


def disc_psf(radius: float) -> F32:
    """The defocus point spread: a uniform disc, each edge pixel weighted by the share of it inside."""
    half = math.ceil(radius)
    sub = 8
    offs = (np.arange(sub, dtype=np.float32) + 0.5) / sub - 0.5
    ax = (np.arange(-half, half + 1, dtype=np.float32)[:, None] + offs[None, :]).ravel()
    inside = (ax[:, None] ** 2 + ax[None, :] ** 2 <= radius * radius).astype(np.float32)
    k = inside.reshape(2 * half + 1, sub, 2 * half + 1, sub).mean(axis=(1, 3))
    return np.asarray(k / k.sum(), np.float32)


def deconvolve(lin: F32, radius: float, amount: float) -> F32:
    """``lin`` (H x W x 3 linear light) with a disc of ``radius`` divided out by a Wiener filter, blended in
    by ``amount`` (0-1).

    Light and colour are restored apart. The luminance is filtered, and each pixel's three channels are
    scaled by its luminance's restored ratio (under ``DEBLUR_DARK`` the ratio is damped): adding the
    restored detail to the three channels alike instead (0.9376 / 1.856 over all 78 TUNE defocus copies,
    SSIM / ΔE, against 0.9400 / 1.774 then) darkened a dim colour's weak channels to black at every edge,
    which a dye-fade reading then took for a print's blacks. That ratio keeps each pixel's chromaticity as
    the blur left it, so a colour edge stays a smear of both colours; what the per-channel filter restores
    beyond the luminance restore, as a change of chromaticity, is added back after a small blur
    (``DEBLUR_CHROMA_SIGMA``), which removes the colour noise the filter makes of each channel's
    quantisation. By linearity two more filtered planes (red and blue less the luminance) give all three
    channels. The frame is mirrored at its edges first, so the filter's wrap-around sees the photo's own
    continuation instead of the opposite edge."""
    h, w = lin.shape[:2]
    pad = 3 * math.ceil(radius) + 8
    ph, pw = cv2.getOptimalDFTSize(h + 2 * pad), cv2.getOptimalDFTSize(w + 2 * pad)
    k = disc_psf(radius)
    otf_src = np.zeros((ph, pw), np.float32)
    kh, kw = k.shape
    otf_src[:kh, :kw] = k
    otf_src = np.roll(otf_src, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    # Spectra in OpenCV's packed layout (real and imaginary parts side by side, about twice as fast as
    # numpy's FFT here). The disc is symmetric about its centre, so its transfer function is real: the
    # imaginary slots of its packed spectrum are 0, and the real Wiener filter H / (H^2 + NSR) can be taken
    # slot by slot (0 stays 0) and applied as a complex product.
    otf = np.asarray(cv2.dft(otf_src), np.float32)
    wiener = np.asarray(otf / (otf * otf + np.float32(DEBLUR_NSR)), np.float32)

    def restored(plane: F32) -> F32:
        padded = cv2.copyMakeBorder(plane, pad, ph - h - pad, pad, pw - w - pad, cv2.BORDER_REFLECT)
        spectrum = cv2.mulSpectrums(cv2.dft(padded), wiener, 0)
        out = cv2.idft(spectrum, flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)[pad : pad + h, pad : pad + w]
        return plane + np.float32(amount) * (np.asarray(out, np.float32) - plane)

    # The arithmetic runs plane by plane on contiguous 2-D arrays (OpenCV's transform for the luminance):
    # numpy's broadcasting over the interleaved H x W x 3 frame made the filter a sixth slower on a 2K frame.
    planes = [np.ascontiguousarray(lin[..., c]) for c in range(3)]
    y = np.asarray(cv2.transform(lin, LUMA_LIN.reshape(1, 3)), np.float32).reshape(h, w)
    target = restored(y)
    eps = np.float32(DEBLUR_DARK)
    shade = y + eps
    gain = (np.maximum(target, 0.0) + eps) / shade
    # The per-channel restore, from the luminance's and two colour planes' (the filter is linear).
    red = restored(planes[0] - y) + target
    blue = restored(planes[2] - y) + target
    green = (target - LUMA_LIN[0] * red - LUMA_LIN[2] * blue) / LUMA_LIN[1]
    # Its change of chromaticity at the restored luminance, (P y - lin t) / y, has no luminance of its own; the
    # division is damped as the ratio's is, so a flat colour (P = lin t / y) gets none and the shadows little.
    out = np.empty_like(lin)
    sigma = DEBLUR_CHROMA_SIGMA
    for c, restored_c in enumerate((red, green, blue)):
        colour = (restored_c * y - planes[c] * target) / shade
        out[..., c] = planes[c] * gain + cv2.GaussianBlur(colour, (0, 0), sigma)
    return np.clip(out, 0.0, 1.0, out=out)
