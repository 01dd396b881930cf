"""The NumPy forward pass must give dlib's own descriptors for the same chips."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cache
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


# What "equal" means: float32 products summed in another order differ from dlib's by a few
# units in the last place of the descriptor's components (~3e-7 measured).
TOLERANCE = 1e-6


@cache
def shared_chips() -> tuple[np.ndarray, np.ndarray]:
    """Chips of every face in the photos above and dlib's own descriptors of them."""
    chips = np.stack([c for name in PHOTOS for c in chips_of(name)])
    dlib_net = dlib.face_recognition_model_v1(str(model_files().resnet))
    expected = np.array(dlib_net.compute_face_descriptor(list(chips), 0), dtype=np.float32)
    return chips, expected


@cache
def network() -> FaceResNet:
    return FaceResNet(model_files().resnet)


def test_descriptors_equal_dlibs_own_network() -> None:
    chips, expected = shared_chips()
    assert len(chips) >= 6
    got = network()(chips)
    assert got.shape == (len(chips), 128)
    assert np.abs(got - expected).max() < TOLERANCE


def test_one_chip_at_a_time_and_any_batch_size_give_the_same_descriptors() -> None:
    chips, expected = shared_chips()
    net = network()
    # Each thread keeps buffers for the last batch size it saw: alternate sizes so that
    # buffers are both reused and replaced.
    for size in (1, 3, 1, len(chips), 2, 1):
        for start in range(0, len(chips), size):
            got = net(chips[start : start + size])
            assert np.abs(got - expected[start : start + size]).max() < TOLERANCE


def test_a_batch_equals_its_chips_one_by_one_after_the_buffers_grow() -> None:
    """A fresh thread plans for one chip, then a batch grows its buffers under that plan."""
    chips, expected = shared_chips()
    net = network()

    def run() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        first = net(chips[:1])
        batch = net(chips[:4])
        singles = np.concatenate([net(chips[i : i + 1]) for i in range(4)])
        return first, batch, singles

    with ThreadPoolExecutor(max_workers=1) as pool:
        first, batch, singles = pool.submit(run).result()
    assert np.abs(batch - singles).max() < TOLERANCE
    assert np.abs(singles - expected[:4]).max() < TOLERANCE
    # A returned descriptor is the caller's own: later passes did not overwrite it.
    assert np.abs(first[0] - singles[0]).max() < TOLERANCE
    assert np.abs(first[0] - singles[3]).max() > 100 * TOLERANCE  # negative control: other faces differ


def test_concurrent_callers_get_their_own_descriptors() -> None:
    chips, expected = shared_chips()
    net = network()

    def embed(i: int) -> np.ndarray:
        return np.concatenate([net(chips[i : i + 1]) for _ in range(3)])

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(embed, range(len(chips))))
    for i, got in enumerate(results):
        assert np.abs(got - expected[i]).max() < TOLERANCE


def test_the_comparison_notices_a_slightly_wrong_network() -> None:
    """Negative control: one stem weight off by 0.1 % moves descriptors far past the tolerance."""
    chips, expected = shared_chips()
    wrong = FaceResNet(model_files().resnet)
    wrong._stem_weight_t[0, 0] *= np.float32(1.001)
    assert np.abs(wrong(chips) - expected).max() > 10 * TOLERANCE
    assert np.abs(network()(chips) - expected).max() < TOLERANCE  # the shared network is untouched


def test_the_analyser_embeds_with_the_numpy_network() -> None:
    (face,) = faces_of("df_p01_img1.jpg")
    dlib_net = dlib.face_recognition_model_v1(str(model_files().resnet))
    (chip,) = chips_of("df_p01_img1.jpg")
    expected = np.array(dlib_net.compute_face_descriptor(chip, 0), dtype=np.float32)
    assert analyser().distance(face.embedding, expected) < 1e-4


def test_empty_batch_and_wrong_shapes() -> None:
    net = network()
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
