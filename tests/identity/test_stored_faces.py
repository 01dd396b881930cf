"""Validation's faces, stored for the train step: a faithful round trip, and only for the same model."""

from __future__ import annotations

import numpy as np

from phota.identity.stored_faces import decode_faces, encode_faces
from tests.identity import faces_of


def test_round_trip_keeps_every_field() -> None:
    faces = {0: list(faces_of("group_obama_and_biden.jpg")), 3: [], 7: list(faces_of("df_p01_img1.jpg"))}
    back = decode_faces(encode_faces("m@1", faces), "m@1")
    assert back is not None and sorted(back) == [0, 3, 7]
    for pos, found in faces.items():
        assert len(back[pos]) == len(found)
        for a, b in zip(found, back[pos], strict=True):
            assert a.box == b.box
            np.testing.assert_array_equal(a.landmarks, b.landmarks)
            np.testing.assert_array_equal(a.embedding, b.embedding)
            assert (a.detection_score, a.sharpness, a.yaw, a.quality) == (
                b.detection_score,
                b.sharpness,
                b.yaw,
                b.quality,
            )


def test_faces_of_another_model_are_not_returned() -> None:
    data = encode_faces("other-model@2", {0: list(faces_of("df_p01_img1.jpg"))})
    assert decode_faces(data, "dlib-resnet-v1@20.0.1") is None
    assert decode_faces(data, "other-model@2") is not None  # control
