"""Bars: a picture letterboxed (black or white bars above and below it), pillarboxed (on its left and right) or
in a border all round is a picture inside a frame someone added: a video still, a phone's screenshot of a
photo, a square export of a landscape, a print's white margin or a mat. The bars are not the scene. Read with
them, a dark pair counts as a third of the frame's shadows (a well exposed scene was brightened by up to 40
levels) and reads as a lens falloff at the top and bottom, and a white margin as a blown exposure (a portrait
in a print's margin was darkened threefold); so the enhancer corrects the picture alone and leaves the bars as
they are (enhance.py).

Bars count on two opposite sides, the other two running through the picture, or on all four; each meets the
picture along a straight edge. Two bars are black, white, or an app's canvas of one flat colour among the
picture's tones; a border all round may be of any one colour. Backdrop on three sides, or round an object that
meets it along no straight edge, is a cut-out (cutout.py), whose tones the readings leave alone instead: a
product on pure white or black is surrounded, and cropping to it would lose the backdrop that says it was
prepared."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from phota.studio.arrays import U8, channel_max, channel_min
from phota.studio.cutout import cutout

BARS_PROXY_SIDE = 512  # the bars are read on every n-th pixel, n bringing the long side to this at most
# A bar's pixels: every channel at or under BAR_BLACK, or at or over BAR_WHITE (8-bit levels). Video and JPEG
# bars read 0-3 (or 252-255) with ringing beside the picture; a night sky's darkest rows read more, and have
# stars in them.
BAR_BLACK, BAR_WHITE = 24, 231
# Pure bar: every channel at or under BAR_PURE_BLACK, or at or over BAR_PURE_WHITE. Bars an encoder or an app
# added are pure away from the picture (video and JPEG bars read 0-3, their ringing reaching 24 only within a few
# lines of the picture); a camera's dark is noise over them (a night sky, the Hubble deep field's background:
# 1 % of its pixels at 4 or under). Where a picture's own edge is near black too, the edge is read on pure bar.
BAR_PURE_BLACK, BAR_PURE_WHITE = 4, 251
# Share of a line's pixels that are bar over which the line is bar; and the share, in the first line of the
# picture beside the bars or the one after it, under which the picture starts there along a straight edge. An
# object cut out on a backdrop fails the second: the first lines that hold it are still mostly backdrop.
BAR_LINE, BAR_EDGE = 0.99, 0.5
# A border all round may be of any one colour (a print's cream or yellowed margin, a coloured mat): its pixels
# are those within this many levels, in every channel, of the median colour of the frame's outermost lines.
BAR_TINT = 10
# Two bars of a colour other than black or white (an app's grey, blue or red canvas) count only where their
# outer half is flat: every pixel within this many levels, in every channel, of the bars' colour. A canvas is
# flat to the level, and stays so through a JPEG at any quality (a flat block keeps its one value); a camera's
# sky and ground have grain, a gradient and a lens falloff across them. Read with the picture, a canvas had
# halved a cat's white balance or raised its exposure (3-17 levels).
BAR_FLAT = 3
# A canvas's run is read on pixels within this many levels of its colour: a JPEG's ringing beside the picture
# reaches as far from a canvas as from a black bar (BAR_BLACK); only the outer half has to be flat.
BAR_RING = 24
# Percent of the picture's pixels, at either end of each channel, read as its darkest and lightest: a canvas
# within BAR_TINT of them in every channel may be a black or white bar a fade or an exposure moved (_canvas).
BAR_EXTREME = 0.5
# The least width of a bar, as a share of the frame's side across it: a line or two of dark pixels at a
# frame's edge (a scanner's, a resampler's) is not a frame someone added.
BAR_MIN = 0.02


def picture_box(rgb: U8) -> tuple[int, int, int, int] | None:
    """The picture inside letterbox or pillarbox bars, or a border all round, of 8-bit RGB ``rgb``, as (left,
    top, right, bottom) in its pixels (each side rounded outwards, so no line of the picture is left out), or
    ``None`` where there are no such bars."""
    h0, w0 = rgb.shape[:2]
    # Every step-th pixel: reading the lines needs no smoothing, and a resample would cost more than the rest.
    step = max(1, -(-max(h0, w0) // BARS_PROXY_SIDE))
    small = rgb[::step, ::step]
    hi, lo = channel_max(small), channel_min(small)
    # Black and white bars (their pixels, and pure bar), read from the top; flipped and transposed for the others.
    masks = [Bars("black", hi <= BAR_BLACK, hi <= BAR_PURE_BLACK), Bars("white", lo >= BAR_WHITE, lo >= BAR_PURE_WHITE)]
    top, bottom, left, right = _sides(masks)
    if not (top or bottom or left or right):
        top, bottom, left, right = _canvas(small)
    # Sampled line i is input line i * step. Rounded outwards: the picture starts on the line after the last
    # sampled bar line and ends on the line before the first sampled bar line of the other side.
    h, w = small.shape[:2]
    if top and bottom and not left and not right and top[1] == bottom[1]:
        return 0, (top[0] - 1) * step + 1, w0, (h - bottom[0]) * step
    if left and right and not top and not bottom and left[1] == right[1]:
        return (left[0] - 1) * step + 1, 0, (w - right[0]) * step, h0
    # A border all round that meets the picture along four straight edges: a print's margin, a mat, a frame an
    # app drew. An object cut out on its backdrop meets it along no straight edge (cutout.py reads it instead).
    runs = _all_round(top, bottom, left, right)
    if runs is None:
        edges = (small[0], small[-1], small[:, 0], small[:, -1])
        colour = _colour_of(edges)
        if colour is not None:
            runs = _all_round(*_sides([Bars("border", _near(small, colour, BAR_TINT), None)]))
    # Pure white or black all round is a cut-out's backdrop (cutout.py) even where the object is a rectangle (a
    # device or a badge drawn on transparency, which read as a picture was moved by 25-88 levels).
    if runs is not None and not max(cutout(small)):
        t, b, lf, rt = runs
        return (lf - 1) * step + 1, (t - 1) * step + 1, (w - rt) * step, (h - b) * step
    return None


Side = tuple[int, str] | None


class Bars(NamedTuple):
    """One reading of bars: their colour's name, the mask of their pixels, the mask of pure bar (``None`` where
    none is read), and whether the run's outer half must be pure (a canvas's colour, see BAR_FLAT)."""

    kind: str
    bar: NDArray[np.bool_]
    pure: NDArray[np.bool_] | None
    flat: bool = False


def _distance(px: U8, colour: NDArray[np.int16]) -> NDArray[np.int16]:
    """How many levels each pixel is from ``colour`` in its farthest channel."""
    return np.asarray(np.abs(px.astype(np.int16) - colour).max(axis=-1), np.int16)


def _near(px: U8, colour: NDArray[np.int16], levels: int) -> NDArray[np.bool_]:
    """Pixels within ``levels`` of ``colour`` in every channel."""
    return np.asarray(_distance(px, colour) <= levels)


def _colour_of(lines: tuple[U8, ...]) -> NDArray[np.int16] | None:
    """The median colour of the outermost ``lines``, where each of them is of it (BAR_TINT) all along: a run of
    bars can start nowhere else, so most photos stop here, unread."""
    colour = np.median(np.concatenate(lines), axis=0).astype(np.int16)
    return colour if all(_near(line, colour, BAR_TINT).mean() > BAR_LINE for line in lines) else None


def _canvas(small: U8) -> list[Side]:
    """Bars of one colour above and below the picture, or left and right of it, flat in their outer half
    (BAR_FLAT): a picture on an app's canvas. Sides as :func:`_sides` reads them.

    Not where the bars are as dark as the picture's darkest, or as light as its lightest, in every channel: a
    fade, a veil, a cast or an exposure acts on the whole frame alike and keeps the order of its tones, so it
    leaves a black bar about the darkest thing in the frame and a white one about the lightest. Bars there
    may be black or white bars the same harm lifted or dimmed (read whole, the correction takes them back with
    the picture); a canvas an app chose sits among the picture's tones."""
    for first, outer in ((0, (small[0], small[-1])), (2, (small[:, 0], small[:, -1]))):
        colour = _colour_of(outer)
        if colour is None:
            continue
        distance = _distance(small, colour)
        sides = _sides([Bars("canvas", distance <= BAR_RING, distance <= BAR_FLAT, True)])
        if not all(sides[first : first + 2]) or all(sides):  # all round: a border, read below
            continue
        near, far = (side[0] for side in sides[first : first + 2] if side)
        h, w = small.shape[:2]
        if _at_an_end(colour, small[near : h - far] if first == 0 else small[:, near : w - far]):
            continue
        return [side if first <= k < first + 2 else None for k, side in enumerate(sides)]
    return [None, None, None, None]


def _at_an_end(colour: NDArray[np.int16], picture: U8) -> bool:
    """Whether ``colour`` is within BAR_TINT of the picture's darkest, or of its lightest, in every channel
    (BAR_EXTREME)."""
    lo, hi = np.percentile(picture.reshape(-1, 3), (BAR_EXTREME, 100 - BAR_EXTREME), axis=0)
    return bool((colour <= lo + BAR_TINT).all() or (colour >= hi - BAR_TINT).all())


def _all_round(*sides: Side) -> tuple[int, ...] | None:
    """The runs of the sides' bars where every side has one, all of one colour; else ``None``."""
    bars = [side for side in sides if side]
    if len(bars) < len(sides) or len({kind for _, kind in bars}) != 1:
        return None
    return tuple(run for run, _ in bars)


def _sides(masks: list[Bars]) -> list[Side]:
    """The bars read from the top, the bottom, the left and the right (see _bar)."""

    def turned(turn: Callable[[NDArray[np.bool_]], NDArray[np.bool_]]) -> list[Bars]:
        return [m._replace(bar=turn(m.bar), pure=None if m.pure is None else turn(m.pure)) for m in masks]

    return [
        _bar(masks),
        _bar(turned(lambda m: m[::-1])),
        _bar(turned(lambda m: m.T)),
        _bar(turned(lambda m: m.T[::-1])),
    ]


def _bar(masks: list[Bars]) -> Side:
    """(how many lines from the first row of the masks are bar, its colour), or ``None`` where that run is
    shorter than BAR_MIN of the rows, leaves no picture, is not flat where it must be, or meets the picture
    along no straight edge. ``masks`` are tried in turn."""
    for kind, mask, pure, flat in masks:
        rows = mask.shape[0]
        share = mask.mean(axis=1)
        run = int(np.argmin(share > BAR_LINE)) if not (share > BAR_LINE).all() else rows
        if run < max(1.0, BAR_MIN * rows) or run * 2 >= rows:
            continue
        pure_share = None if pure is None else pure.mean(axis=1)
        outer_pure = pure_share is not None and pure_share[: max(1, run // 2)].min() > BAR_LINE
        if flat and not outer_pure:
            continue
        # The line the edge falls in may be part bar (a frame resampled before upload): the next one decides too.
        if share[run : run + 2].min() < BAR_EDGE:
            return run, kind
        # A picture whose own edge is near black (or near white) starts where pure bar stops, if the bar is pure
        # away from it (its outer half): a camera's dark edge is not, an object cut out on pure black is not
        # yet in the first lines beside the run.
        if outer_pure and pure_share is not None and pure_share[run : run + 2].min() < BAR_EDGE:
            return run, kind
    return None
