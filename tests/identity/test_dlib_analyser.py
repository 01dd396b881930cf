from __future__ import annotations

import pickle

import numpy as np
import pytest

from phota.identity.dlib_analyser import (
    THRESHOLD_VERSION,
    DlibFaceAnalyser,
    model_files,
)
from tests.identity import analyser, faces_of, load


def test_model_files_found_without_importing_the_package() -> None:
    files = model_files()
    assert files.shape_predictor_5.name == "shape_predictor_5_face_landmarks.dat"
    assert files.resnet.stat().st_size > 10_000_000


def test_model_id_and_threshold_version() -> None:
    a = analyser()
    assert a.model_id.startswith("dlib-resnet-v1@")
    assert a.threshold_version == THRESHOLD_VERSION


def test_single_portrait_yields_one_well_formed_face() -> None:
    (face,) = faces_of("df_p01_img1.jpg")
    w, h = load("df_p01_img1.jpg").size
    left, top, right, bottom = face.box
    assert 0 <= left < right <= w and 0 <= top < bottom <= h
    assert face.landmarks.shape == (5, 2)
    assert face.embedding.shape == (128,) and face.embedding.dtype == np.float32
    assert 0.0 < face.quality <= 1.0 and abs(face.yaw) < 0.3 and face.sharpness > 0


def test_same_person_is_close_and_different_people_are_far() -> None:
    a = analyser()
    p1 = [faces_of(n)[0].embedding for n in ("df_p01_img1.jpg", "df_p01_img2.heic", "df_p01_img5.webp")]
    other = faces_of("df_p03_img8.jpg")[0].embedding
    assert a.distance(p1[0], p1[1]) < 0.5 and a.distance(p1[0], p1[2]) < 0.5
    assert all(a.distance(e, other) > 0.6 for e in p1)


def test_group_photo_yields_several_faces_largest_first() -> None:
    faces = faces_of("group_obama_and_biden.jpg")
    assert len(faces) >= 2
    assert [f.size for f in faces] == sorted((f.size for f in faces), reverse=True)


@pytest.mark.parametrize("name", ["none_eagle.jpg", "none_coffee.png", "dog_dogs.jpg", "cat_chelsea.png"])
def test_no_human_face(name: str) -> None:
    assert faces_of(name) == ()


def test_grayscale_and_rgba_inputs_are_accepted() -> None:
    rgb = np.asarray(load("obama_obama.jpg"))
    gray = rgb.mean(axis=2).astype(np.uint8)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert len(analyser().analyse(gray)) == 1
    assert len(analyser().analyse(rgba)) == 1


def test_min_size_filters_small_faces() -> None:
    big = DlibFaceAnalyser(min_size_px=200)
    assert big.analyse(np.asarray(load("obama_obama_small.jpg"))) == []


def test_pickles_by_settings() -> None:
    clone = pickle.loads(pickle.dumps(DlibFaceAnalyser(min_size_px=50)))
    assert clone.min_size_px == 50 and clone.model_id == analyser().model_id


def test_concurrent_analyses_match_sequential_ones() -> None:
    """Threads detect with their own HOG detectors and embed without a lock: same answers."""
    from concurrent.futures import ThreadPoolExecutor

    names = ["group_obama_and_biden.jpg", "df_p01_img1.jpg", "obama_obama.jpg", "df_p03_img8.jpg"] * 3
    images = [np.asarray(load(n)) for n in names]
    sequential = [analyser().analyse(im) for im in images]
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(analyser().analyse, images))
    for seq, conc in zip(sequential, concurrent, strict=True):
        assert [f.box for f in seq] == [f.box for f in conc]
        for a, b in zip(seq, conc, strict=True):
            assert np.allclose(a.embedding, b.embedding, atol=1e-5)
