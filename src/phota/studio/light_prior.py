"""A learned witness for the scene illuminant: what the colour edges of an ordinary photo look like.

A diagonal change of light moves every pixel's log-chromaticity by the same offset, so it shifts the 2-D
histogram of a photo's log-chromaticities without changing its shape (Barron's convolutional colour
constancy). A template fitted on photos taken as they were (each read as neutral) scores every offset by how
well the shifted histogram matches the shapes those photos had; the best offset is a reading of the light.
Its errors are only loosely tied to the classic estimators' (it has learned, among other things, that a
warm room with warm skin is an ordinary photo), so :mod:`phota.studio.enhance` uses it as a second witness:
only the part of a cast both see is corrected (WITNESS_WEIGHT, WITNESS_AGREE there).

The histogram is of colour *edges*: each channel's local absolute deviation (the pixel less a small blur),
which a large flat backdrop barely enters. ``bench/light_prior.py`` fits the shipped template
(``light_prior.npy``) on the TUNE photos' originals only; docs/enhance.md gives the figures.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

import cv2
import numpy as np
from numpy.typing import NDArray

from phota.studio.arrays import F32, F64
from phota.studio.colour import LUMA_LIN, OPPONENT

# --- tunables (docs/enhance.md explains each) ---
# Histogram bins per opponent axis and their width (log units). The histogram wraps around (a torus), so
# an offset is read modulo BINS * BIN = 3.84: the bench's strongest warm light sits at 1.5 on the blue-amber
# axis. Narrower bins (0.04, a period of 2.56) wrapped the warmest lights onto the cool side.
PRIOR_BINS = 64
PRIOR_BIN = 0.06
PRIOR_EDGE_SIGMA = 1.0  # blur (proxy pixels) the local deviation is taken against
# Fitting: weight of the template's squared bin-to-bin differences (smoothness) and of its squared values.
# Over the TUNE photos, five folds by identity, the reading's mean error (log-chroma) on cast copies went
# 0.199 / 0.188 / 0.195 / 0.216 / 0.241 at a smoothness of 0.0001 / 0.001 / 0.003 / 0.01 / 0.1.
PRIOR_SMOOTH = 0.001
PRIOR_L2 = 1e-5
PRIOR_ITERATIONS = 300
PRIOR_PEAK = 3  # half-width (bins) of the window around the best offset that refines it to a fraction of a bin
# Fewest usable proxy pixels a reading is taken from (the classic estimators' own minimum): a frame almost
# all clipped or black has no witness rather than one that reads neutral from nothing.
PRIOR_MIN_PIXELS = 200

_TEMPLATE_FILE = "light_prior.npy"


def edge_histogram(lin: F32) -> F64:
    """Normalised histogram (PRIOR_BINS x PRIOR_BINS, wrapped) of the opponent log-chromaticities of each
    pixel's local deviation, over the pixels whose colour means something (unclipped, not near black); all
    zeros with fewer than PRIOR_MIN_PIXELS of them."""
    r, g, b = lin[..., 0], lin[..., 1], lin[..., 2]  # (reductions over a last axis of 3 are slow in NumPy)
    valid = (np.maximum(np.maximum(r, g), b) < 0.97) & (np.minimum(np.minimum(r, g), b) > 1e-3)
    valid &= lin @ LUMA_LIN > 0.008
    if int(valid.sum()) < PRIOR_MIN_PIXELS:
        return np.zeros((PRIOR_BINS, PRIOR_BINS), np.float64)
    blurred = cv2.GaussianBlur(lin, (0, 0), PRIOR_EDGE_SIGMA)
    dev = np.abs(lin - blurred)[valid].astype(np.float64) + 1e-4
    logs = np.log(dev)
    logs -= logs.mean(axis=1, keepdims=True)
    idx = np.floor(logs @ OPPONENT.T / PRIOR_BIN + PRIOR_BINS / 2).astype(np.int64) % PRIOR_BINS
    counts = np.bincount(idx[:, 0] * PRIOR_BINS + idx[:, 1], minlength=PRIOR_BINS * PRIOR_BINS)
    return np.asarray(counts.reshape(PRIOR_BINS, PRIOR_BINS) / counts.sum(), np.float64)


def _scores(hist_f: NDArray[np.complex128], template: F64) -> F64:
    """Score of every offset (wrapped bins): the histogram moved back by it, matched against the template."""
    return np.asarray(np.real(np.fft.ifft2(hist_f * np.conj(np.fft.fft2(template)))), np.float64)


def fit_template(hists: F64) -> F32:
    """The template that makes each of ``hists`` (N x BINS x BINS, photos read as neutral) score its own,
    unshifted position highest: multinomial logistic loss over all offsets, smoothness and size penalties."""
    from scipy.optimize import minimize  # only the fit needs it: the server reads the shipped template

    hist_f = np.fft.fft2(hists)
    n = len(hists)

    def loss(theta: F64) -> tuple[float, F64]:
        t = theta.reshape(PRIOR_BINS, PRIOR_BINS)
        s = _scores(hist_f, t)
        s = s - s.max(axis=(1, 2), keepdims=True)
        p = np.exp(s)
        z = p.sum(axis=(1, 2), keepdims=True)
        p /= z
        value = float(-(s[:, 0, 0] - np.log(z[:, 0, 0])).sum())
        p[:, 0, 0] -= 1.0  # d loss / d score
        grad = np.real(np.fft.ifft2(hist_f * np.conj(np.fft.fft2(p)))).sum(axis=0)
        dx, dy = np.roll(t, -1, 1) - t, np.roll(t, -1, 0) - t
        value += PRIOR_SMOOTH * float((dx**2).sum() + (dy**2).sum()) + PRIOR_L2 * float((t**2).sum())
        grad += 2 * PRIOR_SMOOTH * (np.roll(dx, 1, 1) - dx + np.roll(dy, 1, 0) - dy) + 2 * PRIOR_L2 * t
        return value / n, np.asarray(grad.ravel() / n, np.float64)

    start = np.zeros(PRIOR_BINS * PRIOR_BINS, np.float64)
    fitted = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": PRIOR_ITERATIONS})
    return np.asarray(fitted.x.reshape(PRIOR_BINS, PRIOR_BINS), np.float32)


def read_light(hist: F64, template: F32) -> F64:
    """The offset (opponent log-chromaticity: blue-amber, green-magenta) at which ``hist`` best matches the
    template, refined by the scores' centre of mass around the peak."""
    s = _scores(np.fft.fft2(hist)[None], np.asarray(template, np.float64))[0]
    i, j = np.unravel_index(int(np.argmax(s)), s.shape)
    off = np.arange(-PRIOR_PEAK, PRIOR_PEAK + 1)
    w = s[np.ix_((i + off) % PRIOR_BINS, (j + off) % PRIOR_BINS)]
    w = np.exp(w - w.max())
    w /= w.sum()
    peak = np.array([i + (w.sum(axis=1) * off).sum(), j + (w.sum(axis=0) * off).sum()])
    return np.asarray(((peak + PRIOR_BINS / 2) % PRIOR_BINS - PRIOR_BINS / 2) * PRIOR_BIN, np.float64)


@lru_cache(maxsize=1)
def shipped_template() -> F32:
    """The template fitted by ``bench/light_prior.py`` and shipped with the package."""
    with files("phota.studio").joinpath(_TEMPLATE_FILE).open("rb") as fh:
        template = np.load(fh)
    if template.shape != (PRIOR_BINS, PRIOR_BINS):
        raise ValueError(f"{_TEMPLATE_FILE} is {template.shape}, expected {(PRIOR_BINS, PRIOR_BINS)}")
    template = np.asarray(template, np.float32)
    template.setflags(write=False)  # one array shared by every request
    return template
