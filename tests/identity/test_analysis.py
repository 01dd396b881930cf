from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from phota.identity.analysis import (
    MAX_REFERENCE_CROPS,
    PhotoFaces,
    analyse_training_set,
    reference_crop,
    reference_material,
    reference_material_of_jpeg,
)
from phota.imaging.encode import to_storage_jpeg
from tests.identity import analyser, faces_of, load

P01 = [f"df_p01_img{i}" for i in (1, 4, 6, 7, 10, 11)] + ["df_p01_img2", "df_p01_img5"]
EXT = {"df_p01_img2": ".heic", "df_p01_img5": ".webp"}


def photos(names: list[str]) -> list[PhotoFaces]:
    return [PhotoFaces(index=i, image=load(n), faces=list(faces_of(n))) for i, n in enumerate(names)]


def named(stem: str) -> str:
    return stem + EXT.get(stem, ".jpg")


def test_eight_of_one_person_and_two_of_another() -> None:
    names = [named(s) for s in P01] + ["df_p02_img26.jpg", "df_p03_img8.jpg"]
    inputs = photos(names)
    result = analyse_training_set(inputs, min_usable=8)  # its cost is measured in bench/identity.py
    assert result.ok, result.message
    assert result.used == list(range(8))
    for v in result.verdicts[8:]:
        assert not v.used and v.reason == "the subject is not in this photo"
    assert result.centroid is not None and result.embeddings.shape == (8, 128)
    qualities = [r.face.quality for r in result.ranked]
    assert qualities == sorted(qualities, reverse=True)
    assert len(result.crops) == 8
    # The crops are what the engines get: the face must be found again, and be the subject.
    for crop in result.crops[:3]:
        (face,) = analyser().analyse(np.asarray(crop))
        assert analyser().distance(face.embedding, result.centroid) < 0.5
    pic = Image.open(io.BytesIO(result.profile_picture or b""))
    assert pic.format == "JPEG" and pic.size[0] == pic.size[1]


def test_group_photos_are_allowed_and_other_faces_ignored() -> None:
    names = ["obama_obama.jpg", "obama_obama1.jpg", "obama_obama3.jpg", "group_obama_and_biden.jpg"]
    result = analyse_training_set(photos(names))
    assert result.used == [0, 1, 2, 3]
    group = result.verdicts[3]
    assert group.face_index is not None
    assert faces_of("group_obama_and_biden.jpg")[group.face_index].embedding is not None


def test_too_small_subject_is_dropped_with_reason() -> None:
    names = ["obama_obama.jpg", "obama_obama1.jpg", "obama_obama_small.jpg"]
    result = analyse_training_set(photos(names), min_face_px=150)
    assert result.used == [0, 1]
    assert "too small" in result.verdicts[2].reason


def test_ambiguous_photo_is_dropped() -> None:
    face = faces_of("df_p01_img1.jpg")[0]
    twins = PhotoFaces(index=9, image=load("df_p01_img1.jpg"), faces=[face, face])
    result = analyse_training_set([*photos([named(s) for s in P01[:3]]), twins])
    assert result.used == [0, 1, 2]
    assert result.verdicts[3].reason.startswith("ambiguous")


def test_too_few_usable_photos_is_not_ok() -> None:
    result = analyse_training_set(photos(["df_p01_img1.jpg", "df_p01_img4.jpg"]), min_usable=8)
    assert not result.ok and "at least 8" in result.message


def test_no_face_at_all_says_no_subject() -> None:
    result = analyse_training_set(photos(["none_eagle.jpg", "none_coffee.png"]))
    assert not result.ok and result.no_subject
    assert "No subject detected" in result.message
    assert [v.reason for v in result.verdicts] == ["no face detected"] * 2


def test_pet_only_set_explains_pets_need_a_detector() -> None:
    result = analyse_training_set(photos(["dog_dogs.jpg", "dog_dog_bike.jpg", "cat_chelsea.png"]))
    assert not result.ok and result.no_subject
    assert "pet detector" in result.message and "not installed" in result.message


def test_reference_crop_of_a_group_face_redetects() -> None:
    image = load("group_two_people.jpg")
    for face in faces_of("group_two_people.jpg"):
        crop = reference_crop(image, face)
        assert crop.size == (512, 512)
        found = analyser().analyse(np.asarray(crop))
        assert found and analyser().distance(found[0].embedding, face.embedding) < 0.4
        # background replaced by neutral grey at the top corners
        assert np.allclose(np.asarray(crop)[:8, :8].astype(float), 128, atol=3)


def test_crops_only_for_the_best_sixteen_faces() -> None:
    names = [named(s) for s in P01[:6]]
    base = photos(names)
    # 18 usable photos of one person (the same six, three times).
    many = [PhotoFaces(index=i, image=base[i % 6].image, faces=base[i % 6].faces) for i in range(18)]
    result = analyse_training_set(many, min_usable=8)
    assert result.ok and len(result.ranked) == 18
    assert result.embeddings.shape == (18, 128)  # every usable photo still counts for the identity
    assert len(result.crops) == MAX_REFERENCE_CROPS == 16
    # Without images the selection still runs; only crops need them.
    lean = analyse_training_set(
        [PhotoFaces(index=p.index, image=None, faces=p.faces) for p in many], min_usable=8, make_crops=False
    )
    assert lean.ok and [r.index for r in lean.ranked] == [r.index for r in result.ranked]
    assert lean.crops == [] and lean.profile_picture is None


def test_reference_material_is_a_jpeg_crop_and_a_picture_for_the_best_face_only() -> None:
    (photo,) = photos([named(P01[0])])
    crop, picture = reference_material(photo.image, photo.faces[0], with_picture=True)
    assert Image.open(io.BytesIO(crop)).size == (512, 512)
    assert picture is not None and Image.open(io.BytesIO(picture)).format == "JPEG"
    assert reference_material(photo.image, photo.faces[0], with_picture=False)[1] is None


def _pixels(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=np.float32)


def test_material_of_a_stored_jpeg_decoded_smaller_looks_like_the_full_size_one() -> None:
    # df_p01_img1's face is about 580 px: the crop (2.8 face widths) and the picture (1.9) need
    # half the photo's resolution, so the JPEG is decoded at half size, the face box with it.
    (photo,) = photos([named(P01[0])])
    assert photo.image is not None
    face = photo.faces[0]
    assert face.box[2] - face.box[0] > 2 * 512 / 1.9
    stored = to_storage_jpeg(photo.image)
    cv2.setRNGSeed(7)  # GrabCut starts at random: the same start for both
    full = reference_material(Image.open(io.BytesIO(stored)).convert("RGB"), face, with_picture=True)
    cv2.setRNGSeed(7)
    reduced = reference_material_of_jpeg(stored, face, with_picture=True)
    assert reduced[1] is not None and full[1] is not None
    for got, want in ((reduced[0], full[0]), (reduced[1], full[1])):
        assert Image.open(io.BytesIO(got)).size == (512, 512)
        diff = np.abs(_pixels(got) - _pixels(want))
        # Same framing: a misplaced box would move the whole face by tens of levels.
        assert float(diff.mean()) < 3.0, float(diff.mean())
    found = analyser().analyse(_pixels(reduced[0]).astype(np.uint8))
    assert found and analyser().distance(found[0].embedding, face.embedding) < 0.4


def test_material_of_a_small_face_is_made_from_the_full_size_decode() -> None:
    # A face under 512 / 1.9 px needs every pixel of the photo: nothing is reduced, the bytes
    # are those of the full-size path.
    name = "df_p02_img27.jpg"
    image = load(name)
    face = faces_of(name)[0]
    assert face.box[2] - face.box[0] < 512 / 1.9
    stored = to_storage_jpeg(image)
    cv2.setRNGSeed(3)
    full = reference_material(Image.open(io.BytesIO(stored)).convert("RGB"), face, with_picture=True)
    cv2.setRNGSeed(3)
    assert reference_material_of_jpeg(stored, face, with_picture=True) == full
