"""The remix evaluation's own parts: its looks really change photos, its Reinhard baseline is plain
Reinhard, and its split keeps the held-out photos and looks apart."""

from __future__ import annotations

import numpy as np
import pytest
from bench.photoset import SEEN_BEFORE
from bench.remix import (
    HELD_OUT_LOOKS,
    LOOKS,
    TUNE_LOOKS,
    Outcome,
    Pair,
    apply_look,
    reinhard,
    split_photos,
    verdict,
)
from PIL import Image

from tests.photos import photo_path, photos_dir


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    im = Image.open(photo_path("df_p01_img1.jpg")).convert("RGB")
    return np.asarray(im.resize((320, round(320 * im.height / im.width))), np.uint8)


@pytest.fixture(scope="module")
def other() -> np.ndarray:
    im = Image.open(photo_path("none_giraffe.jpg")).convert("RGB")
    return np.asarray(im.resize((300, round(300 * im.height / im.width))), np.uint8)


def _lab_stats(rgb: np.ndarray) -> np.ndarray:
    import cv2

    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    return np.concatenate([lab.mean(0), lab.std(0)])


@pytest.mark.parametrize("look", list(LOOKS))
def test_each_look_changes_the_photo_and_acts_per_pixel(look: str, photo: np.ndarray) -> None:
    out = apply_look(look, photo)
    assert out.shape == photo.shape and out.dtype == np.uint8
    # Negative control: a look that leaves the photo (nearly) alone would make no-op the truth.
    assert np.abs(out.astype(np.int16) - photo).mean() > 6.0
    # The same look on a crop is the crop of the look: what makes L(B) an example of L(A).
    crop = photo[40:140, 60:200]
    assert np.array_equal(apply_look(look, crop), out[40:140, 60:200])


def test_looks_differ_from_each_other(photo: np.ndarray) -> None:
    outs = {k: apply_look(k, photo).astype(np.int16) for k in LOOKS}
    names = list(outs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.abs(outs[a] - outs[b]).mean() > 3.0, (a, b)


def test_reinhard_of_an_image_to_itself_is_identity(photo: np.ndarray) -> None:
    out = reinhard(photo, photo)
    assert np.abs(out.astype(np.int16) - photo).max() <= 2


def test_reinhard_moves_lab_statistics_to_the_reference(photo: np.ndarray, other: np.ndarray) -> None:
    ref = apply_look("teal-orange", other)
    out = reinhard(photo, ref)
    # Negative control: the input was far from the reference's statistics to begin with.
    assert np.abs(_lab_stats(photo) - _lab_stats(ref)).max() > 5.0
    assert np.abs(_lab_stats(out) - _lab_stats(ref)).max() < 2.5  # clipping to sRGB costs a little


def test_split_is_disjoint_and_keeps_held_out_looks_out_of_tuning() -> None:
    split = split_photos(photos_dir() / "MANIFEST.csv")
    tune = {f for f, _ in split["tune"]}
    held = {f for f, _ in split["held-out"]}
    assert tune and held and not tune & held
    assert not held & SEEN_BEFORE
    assert all(not f.lower().endswith(".gif") for f in tune | held)  # /remix refuses GIF inputs
    assert not {i for _, i in split["tune"]} - {"group", "none"} & {i for _, i in split["held-out"]}
    assert not set(TUNE_LOOKS) & set(HELD_OUT_LOOKS) and set(TUNE_LOOKS) | set(HELD_OUT_LOOKS) == set(LOOKS)


def test_fast_metrics_agree_with_scikit_image(photo: np.ndarray) -> None:
    from bench.remix import _LUMA, _to_lab, ciede2000, ssim_luma
    from skimage.color import deltaE_ciede2000
    from skimage.metrics import structural_similarity

    other = apply_look("cross-process", photo)
    ref_ssim = structural_similarity(
        photo.astype(np.float32) @ _LUMA, other.astype(np.float32) @ _LUMA, data_range=255.0
    )
    assert abs(ssim_luma(photo, other) - ref_ssim) < 1e-4
    assert abs(ssim_luma(photo, photo) - 1.0) < 1e-6 and ref_ssim < 0.99  # negative control
    lab1, lab2 = _to_lab(photo), _to_lab(other)
    assert np.abs(ciede2000(lab1, lab2) - deltaE_ciede2000(lab1, lab2)).max() < 1e-3


def _outcome(look: str, a: str, phota: tuple[float, float], reinhard_: tuple[float, float]) -> Outcome:
    scores = {"phota": {"2K": phota}, "Reinhard": {"2K": reinhard_}, "no-op": {"2K": (0.9, 9.0)}}
    return Outcome(Pair("held-out", look, a, "b.jpg"), scores)


def test_the_verdict_counts_wins_on_both_metrics_and_says_which_are_decided() -> None:
    film, high_key = "film", "high key"
    outcomes = [_outcome(film, f"p{k}.jpg", (0.95 + 0.01 * k, 5.0), (0.90, 7.0 + k)) for k in range(4)]
    # high key: phota's SSIM lower on every pair (a decided loss), its ΔE lower on the mean only because of
    # one person's two pairs (not a decided win).
    outcomes += [_outcome(high_key, f"q{k}.jpg", (0.90, 6.0), (0.93, 5.5)) for k in range(3)]
    outcomes += [_outcome(high_key, f"r{k}.jpg", (0.90, 1.0), (0.93, 9.0)) for k in range(2)]
    person = {"r0.jpg": "someone", "r1.jpg": "someone"}
    text = verdict(outcomes, (film, high_key), "Reinhard", person)
    assert text == (
        "than Reinhard in 1 of 2 looks (1 decided on both metrics; "
        "decided losses: 1 of the 1 where a look's mean is worse on a metric: high key SSIM)"
    )
    # A look won on the mean by one pair among scattered others is not decided.
    noisy = [_outcome(film, f"p{k}.jpg", (0.95, 5.0), (0.90, 7.0)) for k in range(1)]
    noisy += [_outcome(film, f"s{k}.jpg", (0.90, 7.2), (0.91, 7.0)) for k in range(3)]
    quiet = verdict(noisy, (film,), "Reinhard", {})
    assert quiet.startswith("than Reinhard in 1 of 1 looks (0 decided")
    assert quiet.endswith("on a metric)")  # no loss decided, none named
