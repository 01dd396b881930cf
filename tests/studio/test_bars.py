"""Letterbox and pillarbox bars (phota.studio.bars): the picture between them is enhanced as it would be alone,
and the bars are delivered as they were; a cut-out's backdrop, a picture's own dark edge and thin or uneven
borders are not bars."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from phota.studio import bars, enhance
from phota.studio.bars import picture_box
from phota.studio.enhance import enhance_image, measure
from tests.studio.imagery import FACE, enhanced, linear, load_photo, photo_path, srgb8


def _boxed(picture: np.ndarray, pad: int, value: int | tuple[int, ...], *, pillar: bool = False) -> np.ndarray:
    h, w = picture.shape[:2]
    if pillar:
        frame = np.full((h, w + 2 * pad, 3), value, np.uint8)
        frame[:, pad : pad + w] = picture
    else:
        frame = np.full((h + 2 * pad, w, 3), value, np.uint8)
        frame[pad : pad + h] = picture
    return frame


def test_a_letterboxed_picture_is_enhanced_as_the_picture_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Scream between black bars (a third of the frame): the bars had counted as the scene's shadows and
    moved the painting by 16 levels on average."""
    picture = load_photo("none_scream_painting.jpg", 400)
    h = picture.shape[0]
    frame = _boxed(picture, h // 3, 0)
    box = picture_box(frame)
    assert box is not None and box[0] == 0 and box[2] == picture.shape[1]
    # Read on every other line of its 666, and rounded outwards: at most a line either side is bar.
    assert h // 3 - 2 <= box[1] <= h // 3 and h // 3 + h <= box[3] <= h // 3 + h + 2
    out = enhanced(frame)
    alone = enhanced(picture)
    assert np.abs(out[h // 3 : h // 3 + h] - alone).mean() < 1.0
    assert (out[: box[1]] == 0).all() and (out[box[3] :] == 0).all()  # the bars as they were
    boxed, bare = measure(Image.fromarray(frame)), measure(Image.fromarray(picture))
    assert abs(boxed.exposure - bare.exposure) < 0.05 and boxed.vignette == bare.vignette
    assert np.abs(np.subtract(boxed.wb_log_gain, bare.wb_log_gain)).max() < 0.02
    # Negative control: read with its bars, the same painting is changed.
    monkeypatch.setattr(enhance, "picture_box", lambda rgb: None)
    assert np.abs(enhanced(frame)[h // 3 : h // 3 + h] - alone).mean() > 8.0


def test_a_pillarboxed_portrait_keeps_its_faces_and_its_white_bars() -> None:
    """A portrait on a square white canvas (a social app's export): the face box follows the picture."""
    picture = load_photo("df_p01_img1.jpg", 512)
    w = picture.shape[1]
    pad = (picture.shape[0] - w) // 2
    frame = _boxed(picture, pad, 255, pillar=True)
    assert picture_box(frame) == (pad, 0, pad + w, picture.shape[0])
    left, top, right, bottom = FACE
    out = enhanced(frame, [(left + pad, top, right + pad, bottom)])
    alone = enhanced(picture, [FACE])
    assert np.abs(out[:, pad : pad + w] - alone).mean() < 1.0
    assert (out[:, :pad] == 255).all() and (out[:, pad + w :] == 255).all()


def test_a_frame_delivered_larger_keeps_the_bars_and_the_picture_in_place() -> None:
    picture = load_photo("none_scream_painting.jpg", 200)
    h, w = picture.shape[:2]
    frame = _boxed(picture, h // 4, 0)
    out = np.asarray(enhance_image(Image.fromarray(frame), long_side=2 * max(frame.shape[:2])), np.float64)
    assert out.shape == (2 * frame.shape[0], 2 * w, 3)
    # Bars enlarged with the frame: black but for the resampling's few lines beside the picture.
    assert (out[: 2 * (h // 4) - 8] == 0).all() and (out[2 * (h // 4 + h) + 8 :] == 0).all()
    assert out[2 * (h // 4) + 2 : 2 * (h // 4 + h) - 2].mean() > 30  # the painting, enlarged, in its place


def test_what_is_not_a_pair_of_bars() -> None:
    picture = load_photo("none_scream_painting.jpg", 300)
    h, w = picture.shape[:2]
    assert picture_box(picture) is None
    assert picture_box(_boxed(picture, h // 4, 0)) is not None  # the control: a real pair of bars
    # Pure black all round, or on three sides: a cut-out on its backdrop (cutout.py), not bars, even where the
    # object is a rectangle; near black all round (level 12) is a border.
    surrounded = np.zeros((h + 100, w + 100, 3), np.uint8)
    surrounded[50:-50, 50:-50] = picture
    assert picture_box(surrounded) is None
    three = surrounded[:-50]
    assert picture_box(three) is None
    bordered = surrounded.copy()
    bordered[:50] = bordered[-50:] = bordered[:, :50] = bordered[:, -50:] = 12
    assert picture_box(bordered) == (50, 50, 50 + w, 50 + h)
    # One bar, or two of different colours.
    assert picture_box(_boxed(picture, h // 4, 0)[h // 4 :]) is None
    mixed = _boxed(picture, h // 4, 0)
    mixed[: h // 4] = 255
    assert picture_box(mixed) is None
    # A line or two of black at the edge (under BAR_MIN of the side).
    assert picture_box(_boxed(picture, 2, 0)) is None
    # The picture's own edge as dark as bars that are not pure black (a camera's dark, level 12): where it
    # starts is not seen, so it is left as a whole.
    dark_edges = picture.copy()
    dark_edges[:6] = 5
    dark_edges[-6:] = 5
    dark_edges[6:12, : w // 2] = 5
    assert picture_box(_boxed(dark_edges, h // 4, 12)) is None
    # Between pure black bars (as an app adds them) it is found; its all but black lines go with the bars.
    assert picture_box(_boxed(dark_edges, h // 4, 0)) == (0, h // 4 + 6, w, h // 4 + h - 6)
    # Nor between a camera's dark bands (noise about level 10), which are not pure.
    rng = np.random.default_rng(2)
    bands = _boxed(dark_edges, h // 4, 0)
    bands[: h // 4] = np.clip(rng.normal(10.0, 3.0, bands[: h // 4].shape), 0, 255).astype(np.uint8)
    bands[h // 4 + h :] = np.clip(rng.normal(10.0, 3.0, bands[h // 4 + h :].shape), 0, 255).astype(np.uint8)
    assert picture_box(bands) is None


def test_an_object_cut_out_on_black_is_not_cropped_to() -> None:
    """An object's silhouette leaves backdrop on every line above it: the first line that holds it is still
    mostly bar, so no straight edge is found."""
    yy, xx = np.mgrid[:300, :400]
    disc = (yy - 150) ** 2 + (xx - 200) ** 2 < 100**2
    frame = np.zeros((300, 400, 3), np.uint8)
    frame[disc] = (180, 120, 60)
    assert picture_box(frame) is None


@pytest.mark.parametrize(
    ("name", "pillar"), [("dlib_John_Savage_000289_01099139.jpg", True), ("none_hubble_deep_field.jpg", False)]
)
def test_a_picture_with_a_dark_edge_between_pure_bars_is_read_alone(
    name: str, pillar: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A face chip dark along its right edge, pillarboxed, and a star field, letterboxed: their edges are as
    dark as the bars by BAR_BLACK, but the bars are pure black and the pictures' edges are not. Read with their
    bars they had moved by 42 and 23 levels."""
    picture = load_photo(name, max(np.asarray(Image.open(photo_path(name))).shape[:2]))
    h, w = picture.shape[:2]
    pad = (w if pillar else h) // 3
    frame = _boxed(picture, pad, 0, pillar=pillar)
    inside = (slice(None), slice(pad, pad + w)) if pillar else (slice(pad, pad + h), slice(None))
    box = picture_box(frame)
    assert box is not None
    # Read on every n-th line and rounded outwards: at most a few lines either side are bar.
    start, end = (box[0], box[2]) if pillar else (box[1], box[3])
    assert pad - 3 <= start <= pad and pad + (w if pillar else h) <= end <= pad + (w if pillar else h) + 3
    alone = enhanced(picture)
    assert np.abs(enhanced(frame)[inside] - alone).mean() < 1.0
    # Saved as a JPEG, whose ringing reaches level 24 beside the picture, the bars are still found.
    jpeg = io.BytesIO()
    Image.fromarray(frame).save(jpeg, "JPEG", quality=75)
    assert picture_box(np.asarray(Image.open(jpeg).convert("RGB"))) is not None
    # Negative control: without the pure-bar reading the picture is read with its bars, and moves.
    monkeypatch.setattr(bars, "BAR_PURE_BLACK", -1)
    assert picture_box(frame) is None
    assert np.abs(enhanced(frame)[inside] - alone).mean() > 10.0


@pytest.mark.parametrize("margin", [(240, 240, 240), (236, 232, 222), (120, 40, 40)])
def test_a_picture_in_a_margin_all_round_is_enhanced_as_the_picture_alone(
    margin: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A portrait in a print's white or cream margin (with a scanner's grain, 6 % of the long side), or in a
    coloured mat: a light margin had read as a blown exposure and darkened the portrait threefold."""
    picture = load_photo("df_p01_img1.jpg", 512)
    h, w = picture.shape[:2]
    pad = 31
    grain = np.random.default_rng(4).normal(np.array(margin, np.float64), 1.5, (h + 2 * pad, w + 2 * pad, 3))
    frame = np.clip(grain + 0.5, 0, 255).astype(np.uint8)
    frame[pad : pad + h, pad : pad + w] = picture
    box = picture_box(frame)
    assert box is not None  # read on every other line, rounded outwards: at most a line either side is margin
    assert pad - 1 <= box[0] <= pad and pad - 1 <= box[1] <= pad
    assert pad + w <= box[2] <= pad + w + 1 and pad + h <= box[3] <= pad + h + 1
    left, top, right, bottom = FACE
    face = [(left + pad, top + pad, right + pad, bottom + pad)]
    alone = enhanced(picture, [FACE])
    out = enhanced(frame, face)
    assert np.abs(out[pad : pad + h, pad : pad + w] - alone).mean() < 1.0
    assert (out[:pad] == frame[:pad]).all()  # the margin as it was
    assert np.abs(enhanced(frame)[pad : pad + h, pad : pad + w] - enhanced(picture)).mean() < 1.0  # no faces
    if margin[0] > 200:  # Negative control: without faces, and read with its light margin, it is darkened.
        monkeypatch.setattr(enhance, "picture_box", lambda rgb: None)
        read_whole = enhanced(frame)[pad : pad + h, pad : pad + w]
        assert (picture.astype(np.float64) - read_whole).mean() > 20.0


@pytest.mark.parametrize("colour", [(128, 128, 128), (30, 60, 140), (200, 40, 40)])
@pytest.mark.parametrize("pillar", [False, True])
def test_a_picture_on_an_apps_canvas_is_enhanced_as_the_picture_alone(
    colour: tuple[int, int, int], pillar: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cat between two bars of a grey, blue or red canvas (a social app's export): read with them, its
    white balance was halved or its exposure raised, 3-17 levels from the cat alone."""
    picture = load_photo("cat_chelsea.png", 512)
    h, w = picture.shape[:2]
    pad = 102
    frame = _boxed(picture, pad, colour, pillar=pillar)
    inside = np.s_[:, pad : pad + w] if pillar else np.s_[pad : pad + h]
    alone = enhanced(picture)
    out = enhanced(frame)
    assert picture_box(frame) is not None
    # Read on every other line and rounded outwards: a line of canvas may go with the picture.
    assert np.abs(out[inside] - alone).mean() < 1.0
    outside = np.s_[:, : pad - 1] if pillar else np.s_[: pad - 1]
    assert (out[outside] == colour).all()  # the canvas as it was (but the line that may go with the picture)
    # Saved as a JPEG, whose ringing reaches into the canvas beside the picture, it is still found.
    jpeg = io.BytesIO()
    Image.fromarray(frame).save(jpeg, "JPEG", quality=80)
    assert picture_box(np.asarray(Image.open(jpeg).convert("RGB"))) is not None
    # Negative control: read with its canvas, the cat moves.
    monkeypatch.setattr(enhance, "picture_box", lambda rgb: None)
    assert np.abs(enhanced(frame)[inside] - alone).mean() > 2.5


def test_a_canvas_is_found_through_a_jpegs_ringing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Beside a picture's contrasty edge a JPEG's ringing reaches more than BAR_TINT into a grey canvas: the run
    is read within BAR_RING of its colour, only its outer half has to be flat."""
    picture = load_photo("none_eagle.jpg", 512)
    jpeg = io.BytesIO()
    Image.fromarray(_boxed(picture, 102, (128, 128, 128), pillar=True)).save(jpeg, "JPEG", quality=80)
    frame = np.asarray(Image.open(jpeg).convert("RGB"))
    box = picture_box(frame)
    assert box is not None and 96 <= box[0] <= 102 and 102 + picture.shape[1] <= box[2] <= 108 + picture.shape[1]
    monkeypatch.setattr(bars, "BAR_RING", bars.BAR_TINT)  # negative control: read within BAR_TINT, it is not
    assert picture_box(frame) is None


def test_what_is_not_a_canvas() -> None:
    """Two bands of one colour that are not flat (a camera's grain), or that sit at the end of the picture's
    tones in every channel (black bars a fade lifted with the picture), are read with the picture."""
    picture = load_photo("cat_chelsea.png", 400)
    h = picture.shape[0]
    frame = _boxed(picture, h // 4, (30, 60, 140))
    assert picture_box(frame) is not None  # the control: a flat canvas
    grain = np.random.default_rng(7).normal(0.0, 2.0, frame.shape)
    grainy = frame.astype(np.float64)
    grainy[: h // 4] += grain[: h // 4]
    grainy[-(h // 4) :] += grain[-(h // 4) :]
    assert picture_box(np.clip(grainy + 0.5, 0, 255).astype(np.uint8)) is None
    # Black bars and picture under one veil (25 % of white added in linear light): the bars become one flat
    # colour, the picture's darkest, and go with it, so the veil's correction takes them back to dark too.
    veiled = srgb8(0.25 + 0.75 * linear(_boxed(picture, h // 4, 0)))
    assert picture_box(veiled) is None
    out = enhanced(veiled)
    assert out[: h // 8].mean() < veiled[: h // 8].mean() - 20
    # The control: the same flat colour round the picture unveiled sits among its tones and is a canvas.
    assert picture_box(_boxed(picture, h // 4, tuple(int(v) for v in veiled[0, 0]))) is not None


def test_a_rectangle_cut_out_on_pure_white_stays_a_cut_out() -> None:
    """A device drawn on transparency (a plain grey box with a dark face, flattened onto pure white) meets its
    backdrop along four straight edges, but pure white all round is a cut-out's backdrop: read as a picture,
    such icons had been moved by 25-88 levels."""
    frame = np.full((400, 400, 3), 255, np.uint8)
    frame[60:340, 80:320] = (200, 200, 205)
    frame[120:280, 110:290] = (40, 45, 60)
    assert picture_box(frame) is None
    assert np.abs(enhanced(frame) - frame).mean() < 1.0
    # The control: the same drawing in a margin a camera or a scanner saw (level 240) is a picture in a border.
    margin = frame.copy()
    margin[frame.min(axis=2) == 255] = 240
    assert picture_box(margin) == (80, 60, 320, 340)
