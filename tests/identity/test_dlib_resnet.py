"""The NumPy forward pass must give dlib's own descriptors for the same chips."""

from __future__ import annotations

from pathlib import Path

import dlib
import numpy as np
import pytest

from phota.identity.dlib_analyser import CHIP_PADDING, CHIP_SIZE, model_files
from phota.identity.dlib_resnet import FaceResNet, ModelFormatError
from tests.identity import analyser, faces_of, load

PHOTOS = ["df_p01_img1.jpg", "df_p03_img8.jpg", "obama_obama.jpg", "df_p05_img13.jpg", "group_obama_and_biden.jpg"]


def chips_of(name: str) -> list[np.ndarray]:
    image = np.asarray(load(name))
    predictor = dlib.shape_predictor(str(model_files().shape_predictor_5))
    out = []
    for face in faces_of(name):
        left, top, right, bottom = face.box
        shape = predictor(image, dlib.rectangle(left, top, right - 1, bottom - 1))
        out.append(np.asarray(dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING)))
    return out


def test_descriptors_equal_dlibs_own_network() -> None:
    chips = [c for name in PHOTOS for c in chips_of(name)]
    assert len(chips) >= 6
    dlib_net = dlib.face_recognition_model_v1(str(model_files().resnet))
    expected = np.array(dlib_net.compute_face_descriptor(chips, 0), dtype=np.float32)
    got = FaceResNet(model_files().resnet)(np.stack(chips))
    assert got.shape == (len(chips), 128)
    assert np.abs(got - expected).max() < 1e-4
    # A batch gives what single chips give.
    single = FaceResNet(model_files().resnet)(np.stack(chips[:1]))
    assert np.abs(single[0] - got[0]).max() < 1e-5


def test_the_analyser_embeds_with_the_numpy_network() -> None:
    (face,) = faces_of("df_p01_img1.jpg")
    dlib_net = dlib.face_recognition_model_v1(str(model_files().resnet))
    (chip,) = chips_of("df_p01_img1.jpg")
    expected = np.array(dlib_net.compute_face_descriptor(chip, 0), dtype=np.float32)
    assert analyser().distance(face.embedding, expected) < 1e-4


def test_empty_batch_and_wrong_shapes() -> None:
    net = FaceResNet(model_files().resnet)
    assert net(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)
    with pytest.raises(ValueError, match="150"):
        net(np.zeros((1, 112, 112, 3), np.uint8))


def test_a_truncated_or_foreign_file_is_refused(tmp_path: Path) -> None:
    data = model_files().resnet.read_bytes()
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match="end of file"):
        FaceResNet(truncated)
    other = tmp_path / "landmarks.dat"
    other.write_bytes(model_files().shape_predictor_5.read_bytes())
    with pytest.raises(ModelFormatError):
        FaceResNet(other)
    padded = tmp_path / "padded.dat"
    padded.write_bytes(data + b"\x00")
    with pytest.raises(ModelFormatError, match="trailing"):
        FaceResNet(padded)
