"""Local remix: the reference's look moves onto the input; size, faces, prompt, variations."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab

from phota.studio import remix
from phota.studio.remix import parse_remix_prompt, remix_image
from tests.photos import photo_path


def _scene(seed: int, tint: tuple[float, float, float], contrast: float) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:300, 0:400].astype(np.float32)
    base = 0.5 + contrast * (0.3 * np.sin(x / 23 + seed) + 0.2 * np.cos(y / 17) + 0.1 * rng.standard_normal((300, 400)))
    img = np.clip(base[..., None] * np.array(tint, np.float32), 0, 1)
    return Image.fromarray((img * 255).astype(np.uint8))


def _stats(im: Image.Image) -> np.ndarray:
    lab = rgb2lab(np.asarray(im.resize((200, round(200 * im.height / im.width))), np.uint8)).reshape(-1, 3)
    return np.concatenate([lab.mean(0), lab.std(0)])


@pytest.fixture(scope="module")
def pair() -> tuple[Image.Image, Image.Image]:
    return _scene(1, (0.9, 1.0, 1.1), 0.5), _scene(2, (1.2, 0.85, 0.55), 1.0).resize((500, 500))


def test_colour_statistics_move_towards_reference(pair: tuple[Image.Image, Image.Image]) -> None:
    # Towards, not onto: the reference's statistics are its look *and* its own content, and only the
    # look is meant to move (docs/enhance.md, "Remix evaluation").
    inp, ref = pair
    out = remix_image(inp, ref, long_side=800)
    before = np.linalg.norm(_stats(inp) - _stats(ref))
    after = np.linalg.norm(_stats(out) - _stats(ref))
    assert after < 0.85 * before


def _faded_warm(im: Image.Image) -> Image.Image:
    x = np.asarray(im, np.float32) / 255.0
    y = (0.12 + 0.75 * x) * np.array([1.08, 1.0, 0.82], np.float32)
    return Image.fromarray(np.clip(y * 255 + 0.5, 0, 255).astype(np.uint8))


def test_a_look_seen_on_another_photo_is_applied_to_the_input() -> None:
    # The reference is a look (lifted blacks, lowered whites, warm cast) applied to a different scene;
    # the output must land closer to that look applied to the input than the input itself is.
    inp = _scene(3, (1.0, 1.0, 1.0), 0.9)
    other = _scene(4, (0.95, 1.0, 1.05), 0.7)
    truth, out = _faded_warm(inp), remix_image(inp, _faded_warm(other), long_side=400)
    err_out = np.abs(rgb2lab(np.asarray(out)) - rgb2lab(np.asarray(truth))).mean()
    err_in = np.abs(rgb2lab(np.asarray(inp)) - rgb2lab(np.asarray(truth))).mean()
    assert err_out < 0.75 * err_in
    # Negative control: a reference with no look at all leaves the input nearly as it was.
    same = np.asarray(remix_image(inp, other, long_side=400), np.float32)
    assert np.abs(rgb2lab(same / 255) - rgb2lab(np.asarray(inp))).mean() < 0.5 * err_in


def test_output_keeps_input_aspect_at_2k(pair: tuple[Image.Image, Image.Image]) -> None:
    inp, ref = pair
    out = remix_image(inp, ref)
    assert out.mode == "RGB" and out.size == (2048, 1536)


def test_prompt_steers_strength_and_unknown_words_are_ignored(pair: tuple[Image.Image, Image.Image]) -> None:
    inp, ref = pair
    d = {
        p: np.linalg.norm(_stats(remix_image(inp, ref, prompt=p, long_side=400)) - _stats(ref))
        for p in ("subtle", "strong", None)
    }
    assert d["strong"] <= d[None] < d["subtle"]
    plain = np.asarray(remix_image(inp, ref, long_side=400))
    assert np.array_equal(plain, np.asarray(remix_image(inp, ref, prompt="flibbertigibbet", long_side=400)))
    assert parse_remix_prompt("keep colours please").colour == 0.0


def test_keep_colours_keeps_palette(pair: tuple[Image.Image, Image.Image]) -> None:
    inp, ref = pair
    s_in, s_out = _stats(inp), _stats(remix_image(inp, ref, prompt="keep colours", long_side=400))
    assert np.abs(s_out[[1, 2]] - s_in[[1, 2]]).max() < 2.0


def test_variations_differ_and_are_deterministic(pair: tuple[Image.Image, Image.Image]) -> None:
    inp, ref = pair
    outs = [np.asarray(remix_image(inp, ref, variation=v, long_side=400), np.int16) for v in range(6)]
    for i in range(len(outs)):
        for j in range(i + 1, len(outs)):
            assert np.abs(outs[i] - outs[j]).mean() > 0.5, (i, j)
    assert np.array_equal(outs[2], np.asarray(remix_image(inp, ref, variation=2, long_side=400), np.int16))


def test_face_region_protected(pair: tuple[Image.Image, Image.Image]) -> None:
    inp, ref = pair
    face = (150, 80, 250, 200)
    out = np.asarray(remix_image(inp, ref, faces=[face], long_side=400), np.float64)
    a = np.asarray(inp, np.float64)
    x0, t, r, b = face
    la, lo = rgb2lab(a[t:b, x0:r] / 255)[..., 0], rgb2lab(out[t:b, x0:r] / 255)[..., 0]
    assert np.corrcoef(la.ravel(), lo.ravel())[0, 1] > 0.95
    assert np.abs(lo - la)[20:-20, 20:-20].mean() < 13.0


def _toned_black_and_white(rgb: np.ndarray) -> np.ndarray:
    """A toned black and white made here, not by the engine: Rec. 601 luma, warm highlights, cool shadows."""
    y = (rgb.astype(np.float32) / 255) @ np.array([0.299, 0.587, 0.114], np.float32)
    tone = y[..., None] * np.array([1.06, 1.0, 0.85]) + (1 - y[..., None]) * np.array([0.96, 1.0, 1.05])
    return np.clip(y[..., None] * tone * 255 + 0.5, 0, 255).astype(np.uint8)


def _colourfulness(rgb: np.ndarray) -> float:
    """RMS a/b distance from the mean a/b of the pixels of like lightness: colour, not toning."""
    lab = rgb2lab(rgb.astype(np.float64) / 255).reshape(-1, 3)
    bins = np.clip(lab[:, 0] // 5, 0, 19).astype(int)
    dev = sum(((lab[bins == b, 1:] - lab[bins == b, 1:].mean(0)) ** 2).sum() for b in np.unique(bins))
    return float(np.sqrt(dev / len(lab)))


def test_a_black_and_white_reference_gives_a_black_and_white_photo_faces_included(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A face chip, face box over most of the frame: the face protection used to keep the skin's colour
    # there, and the "black and white" output came back a colour photo.
    chip = np.asarray(Image.open(photo_path("dlib_John_Savage_000290_01099067.jpg")).convert("RGB"))
    face = (20, 20, 130, 130)
    other = np.asarray(Image.open(photo_path("df_p01_img1.jpg")).convert("RGB").resize((400, 600)))
    # Saved as a JPEG at quality 75 (a common default), as such a print is shared: its chroma errors at edges
    # are not colour (the plain RMS distance from 8 bands' means reads 1.3 on it, _colour_left 0.8).
    buf = io.BytesIO()
    Image.fromarray(_toned_black_and_white(other)).save(buf, "JPEG", quality=75)
    mono_ref = Image.open(buf)
    centre = (slice(35, 115), slice(35, 115))
    before = _colourfulness(chip[centre])
    assert before > 3.0  # the chip is a colour photo
    out = np.asarray(remix_image(Image.fromarray(chip), mono_ref, faces=[face], long_side=300))
    half = (slice(70, 230), slice(70, 230))  # the face box at the output's 2x scale
    assert _colourfulness(out[half]) < 1.0 and _colourfulness(out) < 1.0
    # The toning is the reference's: warm highlights (b* over 0 in the brightest tenth).
    lab = rgb2lab(out.astype(np.float64) / 255).reshape(-1, 3)
    assert lab[lab[:, 0] > np.percentile(lab[:, 0], 90), 2].mean() > 2.0
    # Negative controls: a colour reference leaves the face colourful (skin keeps its tone); so does the
    # black-and-white reference when the prompt says to keep the colours; and with black and white never
    # read as such (the old behaviour) the face stays in colour.
    warm_ref = Image.fromarray(np.asarray(_faded_warm(Image.fromarray(other))))
    coloured = np.asarray(remix_image(Image.fromarray(chip), warm_ref, faces=[face], long_side=300))
    assert _colourfulness(coloured[half]) > 0.5 * before
    kept = np.asarray(remix_image(Image.fromarray(chip), mono_ref, faces=[face], prompt="keep colours", long_side=300))
    assert _colourfulness(kept[half]) > 0.8 * before
    monkeypatch.setattr(remix, "MONO_DEV", (-2.0, -1.0))
    spared = np.asarray(remix_image(Image.fromarray(chip), mono_ref, faces=[face], long_side=300))
    assert _colourfulness(spared[half]) > 2.0


def test_grain_follows_a_grainy_reference_not_a_textured_one(monkeypatch: pytest.MonkeyPatch) -> None:
    inp = Image.open(photo_path("df_p01_img1.jpg")).convert("RGB").resize((267, 400))
    # A clean reference whose picture is busy (a crowd, clothes, a street): texture, not grain.
    busy = np.asarray(Image.open(photo_path("group_voc_2008_001322.jpg")).convert("RGB"), np.float32)
    grainy = busy + np.random.default_rng(7).normal(0.0, 6.0, busy.shape[:2])[..., None]

    def added(ref: np.ndarray) -> float:
        ref_im = Image.fromarray(np.clip(ref + 0.5, 0, 255).astype(np.uint8))
        out = np.asarray(remix_image(inp, ref_im, long_side=400), np.float32)
        clean = np.asarray(remix_image(inp, ref_im, prompt="no grain", long_side=400), np.float32)
        return float((out - clean).std())  # the grain the engine added, and nothing else

    assert added(grainy) > 3.5  # sigma 6 in the reference, 80 % of it at the default strength
    # Negative controls: the busy but clean reference gets no grain, and nor does one whose texture fills
    # every flat area too (a giraffe's coat: it reads sigma 8 there, but not as white noise) ...
    assert added(busy) < 0.3
    coat = np.asarray(Image.open(photo_path("none_giraffe.jpg")).convert("RGB"), np.float32)
    assert added(coat) < 0.3
    # ... which the median reading alone would have added (its texture read as grain).
    monkeypatch.setattr(remix, "GRAIN_GATE", (-2.0, -1.0))
    assert added(busy) > 0.5


def test_a_white_backdrop_in_the_reference_is_not_read_as_a_look(monkeypatch: pytest.MonkeyPatch) -> None:
    # A studio portrait on white, unedited: about two thirds of it sits at the clip. That is the reference's
    # scene, not its look, and must not take the input's upper tones to white.
    studio = np.asarray(Image.open(photo_path("df_p05_img13.jpg")).convert("RGB"), np.float32)
    plain = Image.fromarray(studio.astype(np.uint8))
    brightened = Image.fromarray(np.clip(255 * (studio / 255) ** 0.6 + 0.5, 0, 255).astype(np.uint8))

    def luma(im: Image.Image) -> float:
        return float((np.asarray(im, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).mean())

    for name in ("dlib_John_Salley_000179_02159509.jpg", "group_voc_2008_001322.jpg"):
        inp = Image.open(photo_path(name)).convert("RGB")
        inp.thumbnail((400, 400))
        untouched = remix_image(inp, plain, long_side=400)
        assert abs(luma(untouched) - luma(inp)) < 8.0
        # Negative control: the same portrait under a real brightening look still brightens the input.
        assert luma(remix_image(inp, brightened, long_side=400)) > luma(untouched) + 8.0
        # With the whole plateau read as look (the old behaviour) the input was lifted by 16-18 levels.
        with monkeypatch.context() as m:
            m.setattr(remix, "PLATEAU_MAX", 1.0)
            assert luma(remix_image(inp, plain, long_side=400)) > luma(inp) + 14.0
