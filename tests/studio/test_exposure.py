"""Exposure (phota.studio.exposure): the camera-like change it makes, and what the pipeline reads as under-
or over-exposure, with faces and without, on photos taken down or up through the bench's camera curve (which
the engine does not implement)."""

from __future__ import annotations

import numpy as np
import pytest
from bench.degrade import exposure, haze
from PIL import Image

from phota.studio import exposure as exposure_step
from phota.studio import veil
from phota.studio.enhance import enhance_image, measure
from tests.photos import photo_path
from tests.studio.imagery import FACE, linear, luminance, srgb8


def test_the_camera_curve_takes_a_value_where_its_gain_says_and_spares_the_highlights() -> None:
    x = np.linspace(0.001, 1.0, 1000, dtype=np.float32)
    for value, target in ((0.05, 0.25), (0.3, 0.85), (0.8, 0.4)):
        gain = exposure_step.scene_log_gain(value, target)
        assert (gain > 0) == (target > value)
        assert abs(float(exposure_step.scene_gain_curve(np.array([value], np.float32), gain)[0]) - target) < 1e-5
        assert np.all(np.diff(exposure_step.scene_gain_curve(x, gain)) >= 0)  # the order of tones is kept
    assert exposure_step.scene_gain_curve(x, 0.0) is x  # no gain, no change
    # Brightening through the shoulder gives the highlights less gain than the shadows, so fewer tones reach
    # white than under a plain gain that takes the same value to the same target (the negative control).
    out = exposure_step.scene_gain_curve(x, exposure_step.scene_log_gain(0.05, 0.25))
    assert np.all(np.diff(out / x) <= 1e-6)
    plain = x * np.float32(0.25 / 0.05)
    assert float(x[out >= 1.0].min()) > float(x[plain >= 1.0].min()) + 0.1


def test_a_darkening_that_keeps_white_keeps_the_order_of_tones_and_only_white_at_white() -> None:
    x = np.linspace(0.0, 1.0, 1001, dtype=np.float32)
    plain = exposure_step.scene_gain_curve(x, -1.2)
    pinned = exposure_step.pin_white(x, -1.2, 1.0)
    assert float(plain[-1]) < 0.6 and float(pinned[-1]) == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.diff(pinned) > 0)  # the order of tones is kept
    assert np.all(pinned >= plain) and float(pinned[500]) < 0.5 * float(x[500]) + 0.1  # mid-tones still darkened
    half = exposure_step.pin_white(x, -1.2, 0.5)
    assert float(plain[-1]) < float(half[-1]) < float(pinned[-1])
    # Negative controls: nothing to keep, or a brightening, is the plain curve.
    assert np.array_equal(exposure_step.pin_white(x, -1.2, 0.0), plain)
    assert np.array_equal(exposure_step.pin_white(x, 0.8, 1.0), exposure_step.scene_gain_curve(x, 0.8))


def test_a_lit_face_on_a_dark_ground_is_not_brightened(photo: np.ndarray) -> None:
    dim = srgb8(np.minimum(linear(photo), 0.3))  # nothing in the frame brighter than the lit face ...
    assert np.log(0.85 / np.percentile(luminance(dim), 99.5)) > exposure_step.UNDER_GATE[1]
    out = np.asarray(enhance_image(Image.fromarray(dim), faces=[FACE], long_side=photo.shape[0]), np.uint8)
    assert abs(float(out.mean()) - float(dim.mean())) < 2.0  # ... but the face is lit: left as it is
    # Negative control: the same frame with an under-exposed face is brightened.
    dark = srgb8(linear(photo) * 0.08)
    out = np.asarray(enhance_image(Image.fromarray(dark), faces=[FACE], long_side=photo.shape[0]), np.uint8)
    assert float(out.mean()) > float(dark.mean()) + 20


def test_a_dim_face_says_how_far_to_brighten(photo: np.ndarray) -> None:
    """Backlit and under-exposed: the frame's highlights alone would brighten too little for the face."""
    face = (slice(FACE[1], FACE[3]), slice(FACE[0], FACE[2]))
    lin = linear(photo) * 0.45
    lin[face] *= 0.25
    dark = srgb8(lin)
    with_face = np.asarray(enhance_image(Image.fromarray(dark), faces=[FACE], long_side=photo.shape[0]), np.uint8)
    without = np.asarray(enhance_image(Image.fromarray(dark), long_side=photo.shape[0]), np.uint8)
    lum = [float(_luma_y(x[face]).mean()) for x in (dark, without, with_face)]
    assert lum[0] < lum[1] < lum[2] - 10


def test_a_dark_face_under_a_lamp_is_brightened(photo: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two stops under through the bench's camera curve, with a lamp in the corner (1 % of the frame, white):
    the highlights read as well exposed, the face at a skin median far under any lit face's."""
    dark = exposure(photo, -2.0)
    dark[8:48, 8:58] = 255
    y = luminance(dark)
    assert np.log(0.85 / np.percentile(y, 99.5)) < 0  # the highlights alone ask for nothing
    assert np.median(y[FACE[1] : FACE[3], FACE[0] : FACE[2]]) < exposure_step.UNDER_FACE_DARK[0]
    out = np.asarray(enhance_image(Image.fromarray(dark), faces=[FACE], long_side=photo.shape[0]), np.uint8)
    assert float(out.mean()) > float(dark.mean()) + 40
    # Negative controls: the same lamp over the lit face is left alone; without the dark-face evidence the
    # under-exposed copy is too.
    lit = photo.copy()
    lit[8:48, 8:58] = 255
    kept = np.asarray(enhance_image(Image.fromarray(lit), faces=[FACE], long_side=photo.shape[0]), np.uint8)
    assert abs(float(kept.mean()) - float(lit.mean())) < 1.0
    monkeypatch.setattr(exposure_step, "UNDER_FACE_DARK", (0.0, 1e-6))
    left = np.asarray(enhance_image(Image.fromarray(dark), faces=[FACE], long_side=photo.shape[0]), np.uint8)
    assert abs(float(left.mean()) - float(dark.mean())) < 1.0


def test_a_face_in_the_cameras_shoulder_is_darkened(photo: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """One stop over through the bench's camera curve: its shoulder compresses before the sensor clips, so
    little of the frame is near white, but the skin has climbed towards the face's own highlights."""
    over = exposure(photo, 1.0)
    y = luminance(over)
    assert float((y > 0.93).mean()) < exposure_step.OVER_CLIP[0]  # the clipped share alone asks for nothing
    out = np.asarray(enhance_image(Image.fromarray(over), faces=[FACE], long_side=photo.shape[0]), np.uint8)
    assert float(out.mean()) < float(over.mean()) - 25
    assert abs(float(out.mean()) - float(photo.mean())) < 12  # back near the photo as it was taken
    # The flat face alone is enough: counting only clipped pixels (OVER_NEAR_WHITE at 0.93) still darkens it.
    monkeypatch.setattr(exposure_step, "OVER_NEAR_WHITE", 0.93)
    flat = np.asarray(enhance_image(Image.fromarray(over), faces=[FACE], long_side=photo.shape[0]), np.uint8)
    assert float(flat.mean()) < float(over.mean()) - 25
    # Negative controls: the photo as taken is left alone; without the flat-face evidence as well, so is the copy.
    kept = np.asarray(enhance_image(Image.fromarray(photo), faces=[FACE], long_side=photo.shape[0]), np.uint8)
    assert abs(float(kept.mean()) - float(photo.mean())) < 1.0
    monkeypatch.setattr(exposure_step, "OVER_FACE_FLAT", (2.0, 3.0))
    left = np.asarray(enhance_image(Image.fromarray(over), faces=[FACE], long_side=photo.shape[0]), np.uint8)
    assert abs(float(left.mean()) - float(over.mean())) < 1.0


def _face_range(rgb: np.ndarray, box: tuple[int, int, int, int]) -> tuple[float, float]:
    """Median linear luminance of a face box's central part, and its log range from the 5th to the 99th
    percentile (the toe's shadows to the face's own highlights)."""
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    y = luminance(rgb[top + h // 5 : bottom - h // 5, left + w // 5 : right - w // 5])
    return float(np.median(y)), float(np.log(np.percentile(y, 99) / max(np.percentile(y, 5), 1e-4)))


def test_a_face_squeezed_from_both_ends_is_darkened(monkeypatch: pytest.MonkeyPatch) -> None:
    """One stop over through the bench's camera curve on a portrait whose skin stays well under its own
    highlights (so the flat-face reading asks for little): the toe has lifted the face's shadows and the
    shoulder pressed its skin up, and that squeezed range is the evidence (OVER_FACE_RANGE)."""
    im = Image.open(photo_path("obama_obama1.jpg")).convert("RGB")
    scene = np.asarray(im.resize((740, round(740 * im.height / im.width)), Image.Resampling.LANCZOS), np.uint8)
    face = (284, 119, 472, 306)
    over = exposure(scene, 1.0)
    clean_med, clean_range = _face_range(scene, face)
    over_med, over_range = _face_range(over, face)
    assert over_med > 2 * clean_med and over_range < clean_range - 0.5  # brighter and squeezed
    out = np.asarray(enhance_image(Image.fromarray(over), faces=[face], long_side=740), np.uint8)
    assert float(out.mean()) < float(over.mean()) - 30
    assert abs(float(out.mean()) - float(scene.mean())) < 20  # back near the photo as it was taken
    # Negative controls: the photo as taken is left alone; without the squeezed-range evidence, the copy is
    # barely darkened (the other readings see a face only partly in the shoulder).
    kept = np.asarray(enhance_image(Image.fromarray(scene), faces=[face], long_side=740), np.uint8)
    assert abs(float(kept.mean()) - float(scene.mean())) < 1.0
    monkeypatch.setattr(exposure_step, "OVER_FACE_RANGE", (-2.0, -1.0))
    left = np.asarray(enhance_image(Image.fromarray(over), faces=[face], long_side=740), np.uint8)
    assert float(left.mean()) > float(over.mean()) - 10


def test_a_face_a_veil_squeezed_is_not_read_as_over_exposed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Haze squeezes a face from below as over-exposure does (airlight lifts its shadows). When the veil step
    has lifted the frame, the squeezed range is the veil's, and the squeezed-range evidence adds nothing."""
    scene = np.asarray(Image.open(photo_path("df_p01_img10.jpg")).convert("RGB"), np.uint8)
    face = (90, 162, 307, 379)
    hazy = haze(scene, 0.85, 0.6, (0.835, 0.84, 0.845))

    def mean_out(**patch: object) -> float:
        with monkeypatch.context() as m:
            for name, value in patch.items():
                m.setattr(veil if name.startswith("VEIL_") else exposure_step, name, value)
            out = enhance_image(Image.fromarray(hazy), faces=[face], long_side=max(scene.shape[:2]))
            return float(np.asarray(out, np.float32).mean())

    off = (-2.0, -1.0)  # OVER_FACE_RANGE that no face reads under
    dehazed = mean_out()
    assert dehazed < float(hazy.mean()) - 10  # the veil was taken out
    assert dehazed == mean_out(OVER_FACE_RANGE=off)  # and the squeezed face did not darken the frame
    # Not a vacuous control: with the veil left unread, the same squeezed face would darken it by 9 levels.
    unread = (5.0, 6.0)
    assert mean_out(VEIL_GATE=unread) < mean_out(VEIL_GATE=unread, OVER_FACE_RANGE=off) - 5


def test_an_over_exposed_scene_without_faces_is_darkened(monkeypatch: pytest.MonkeyPatch) -> None:
    """A landscape one stop over through the bench's camera curve: almost nothing clips, but the shoulder has
    packed 14 % of the frame into near white (OVER_NEAR_WHITE) over a bright median. Without a face, that
    share is the only evidence."""
    im = Image.open(photo_path("none_horses.jpg")).convert("RGB")
    scene = np.asarray(im.resize((512, round(512 * im.height / im.width)), Image.Resampling.LANCZOS), np.uint8)
    over = exposure(scene, 1.0)
    y = luminance(over)
    assert float((y > 0.93).mean()) < exposure_step.OVER_CLIP[0]  # clipped pixels alone ask for nothing
    out = np.asarray(enhance_image(Image.fromarray(over), long_side=512), np.uint8)
    assert float(out.mean()) < float(over.mean()) - 40
    assert abs(float(out.mean()) - float(scene.mean())) < 10
    # Negative controls: the scene as taken is left alone; counting only clipped pixels leaves the copy too.
    kept = np.asarray(enhance_image(Image.fromarray(scene), long_side=512), np.uint8)
    assert abs(float(kept.mean()) - float(scene.mean())) < 1.0
    monkeypatch.setattr(exposure_step, "OVER_NEAR_WHITE", 0.93)
    left = np.asarray(enhance_image(Image.fromarray(over), long_side=512), np.uint8)
    assert abs(float(left.mean()) - float(over.mean())) < 1.0


def test_a_blown_sky_is_no_evidence_against_the_land_under_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two dogs on a lawn, well exposed, under a sky blown to pure white (the top 30 %): counted in, the white
    took the frame's near-white share and median past the over-exposure ramps and the lawn was darkened by 28
    levels. Judged without it (WHITE_AREA_SHARE), the lawn is left; the same scene one stop over through the
    bench's camera curve, under the same sky, is still darkened."""
    im = Image.open(photo_path("dog_dogs.jpg")).convert("RGB")
    scene = np.asarray(im.resize((512, round(512 * im.height / im.width)), Image.Resampling.LANCZOS), np.uint8)
    k = scene.shape[0] * 3 // 10
    sky = scene.copy()
    sky[:k] = 255
    over = exposure(scene, 1.0)
    over[:k] = 255
    assert float((luminance(sky) >= exposure_step.WHITE_AREA).mean()) > exposure_step.WHITE_AREA_SHARE[1]
    out = np.asarray(enhance_image(Image.fromarray(sky), long_side=512), np.uint8)
    assert abs(float(out[k:].mean()) - float(sky[k:].mean())) < 1.0
    out = np.asarray(enhance_image(Image.fromarray(over), long_side=512), np.uint8)
    assert float(out[k:].mean()) < float(over[k:].mean()) - 40
    # Negative control: with the white counted in, the well exposed lawn is darkened.
    monkeypatch.setattr(exposure_step, "WHITE_AREA_SHARE", (2.0, 3.0))
    out = np.asarray(enhance_image(Image.fromarray(sky), long_side=512), np.uint8)
    assert float(out[k:].mean()) < float(sky[k:].mean()) - 15


def test_a_dark_skinned_face_with_bright_highlights_does_not_pull_exposure_up() -> None:
    """Skin brightness depends on the complexion as much as on the exposure. A well exposed dark-skinned
    face reads dim, but its teeth and eyes' whites are near white, so the face adds little brightening to
    what the frame itself asks for. (The negative control, a face dimmed with its highlights, is
    test_a_dim_face_says_how_far_to_brighten.)"""
    chip = Image.open(photo_path("dlib_John_Salley_000194_02159572.jpg")).convert("RGB")
    face = [(11, 11, 141, 141)]
    with_face = np.asarray(enhance_image(chip, faces=face, long_side=chip.height), np.float32).mean()
    frame_only = np.asarray(enhance_image(chip, long_side=chip.height), np.float32).mean()
    assert with_face - frame_only < 3.5  # 8-bit levels; 4.8 when the skin alone set the target


def _luma_y(im: np.ndarray) -> np.ndarray:
    return im.astype(np.float64) @ [0.299, 0.587, 0.114]


def _on_white(lin: np.ndarray, margin: int = 70) -> np.ndarray:
    """The photo's face and shoulders on a pure white studio backdrop."""
    keep = (slice(FACE[1] - margin, FACE[3] + margin), slice(FACE[0] - margin, FACE[2] + margin))
    out = np.ones_like(lin)
    out[keep] = lin[keep]
    return srgb8(out)


def test_a_portrait_on_white_is_not_read_as_over_exposed(photo: np.ndarray) -> None:
    studio = _on_white(np.clip(linear(photo) * 2.0, 0, 1))  # brightly lit skin, most of the frame white
    out = np.asarray(enhance_image(Image.fromarray(studio), faces=[FACE], long_side=photo.shape[0]), np.uint8)
    assert abs(float(_luma_y(out).mean()) - float(_luma_y(studio).mean())) < 3.0
    # Negative control: the same portrait blown out (skin pushed to near white) is pulled down, and its pure
    # white backdrop stays white (a cut-out's: cutout.py, exposure.pin_white).
    blown = _on_white(np.clip(linear(photo) * 5.0, 0, 1))
    out = np.asarray(enhance_image(Image.fromarray(blown), faces=[FACE], long_side=photo.shape[0]), np.uint8)
    face = (slice(FACE[1], FACE[3]), slice(FACE[0], FACE[2]))
    assert float(_luma_y(out[face]).mean()) < float(_luma_y(blown[face]).mean()) - 10
    assert float(_luma_y(out[:8, :8]).min()) > 250


def test_two_stops_under_through_a_camera_curve_are_brought_back(photo: np.ndarray) -> None:
    # The bench's camera model (an S-curve with toe crush, not a gain): 2.2 stops under, the portrait's mean
    # luma falls from 121 to 31. Bringing it back takes more than a 6x scene gain.
    dark = exposure(photo, -2.2)
    out = np.asarray(enhance_image(Image.fromarray(dark), faces=[FACE], long_side=photo.shape[0]), np.uint8)
    assert abs(float(_luma_y(out).mean()) - float(_luma_y(photo).mean())) < 0.2 * float(_luma_y(photo).mean())
    # Negative control: one stop under is inside the range a photo may be shot at and is barely touched.
    mild = exposure(photo, -1.0)
    out = np.asarray(enhance_image(Image.fromarray(mild), faces=[FACE], long_side=photo.shape[0]), np.uint8)
    assert abs(float(_luma_y(out).mean()) - float(_luma_y(mild).mean())) < 10


def test_a_photo_with_normal_midtones_and_no_white_in_it_is_not_brightened() -> None:
    # A close-up of a tabby: no white object, so its brightest 0.5 % sit at 0.48 linear, far under the
    # exposure target; but its median (0.19 linear) is where a well exposed frame's is. Dim highlights with
    # normal mid-tones are the scene, not the exposure.
    cat = np.asarray(Image.open(photo_path("cat_chelsea.png")).convert("RGB"), np.uint8)
    assert measure(Image.fromarray(cat)).exposure == 0.0
    out = np.asarray(enhance_image(Image.fromarray(cat), long_side=cat.shape[1]), np.uint8)
    assert abs(float(_luma_y(out).mean()) - float(_luma_y(cat).mean())) < 3
    # Negative control: the same photo two stops under through a camera curve is brought back up.
    dark = exposure(cat, -2.0)
    out = np.asarray(enhance_image(Image.fromarray(dark), long_side=cat.shape[1]), np.uint8)
    assert float(_luma_y(out).mean()) > 1.6 * float(_luma_y(dark).mean())


def test_a_frame_without_a_range_keeps_its_exposure() -> None:
    """A uniform grey, a dark wall and a white backdrop have no white and no black to read an exposure from
    (EXPOSURE_FLAT): a grey at level 100 had been brightened to 200, a backdrop at 235 darkened to 216."""
    rng = np.random.default_rng(5)
    for level in (40.0, 100.0, 235.0):
        frame = np.clip(level + rng.normal(0.0, 1.5, (240, 320, 3)), 0, 255).astype(np.uint8)
        assert measure(Image.fromarray(frame)).exposure == 0.0, level
        out = np.asarray(enhance_image(Image.fromarray(frame), long_side=320), np.float64)
        assert abs(out.mean() - frame.mean()) < 2.0, level
    # Negative control: a scene with a white and a black in it, two stops under at the same mean, is brightened.
    scene = np.full((240, 320), 0.18, np.float32)
    scene[20:80, 20:120] = 0.9
    scene[150:220, 180:300] = 0.01
    dark = exposure(srgb8(np.repeat(scene[..., None], 3, axis=2)), -2.0)
    assert measure(Image.fromarray(dark)).exposure > 0.5
