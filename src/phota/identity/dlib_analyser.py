"""The default face analyser: dlib HOG detector, 5-point aligner and 128-d ResNet embedding.

Only models that ship inside PyPI packages are used (``dlib-bin`` + ``face-recognition-models``).
The 68-point landmark model is deliberately not loaded (its training data excludes commercial
use) and neither is the CNN detector (about 10 s per photo on a CPU).

Speed: HOG scans one copy of the image scaled so its long side is ``detect_side`` pixels (its
cost is set by that side alone; a face of 80 px in the copy is the smallest it finds; a small
image is enlarged no further than needed to find faces of ``min_size_px``), boxes are
mapped back and the landmarks and 150 px chips are taken from the full-resolution image, so
scaling costs no embedding accuracy. The ResNet runs on NumPy's BLAS (:mod:`dlib_resnet`),
about 8× faster than the BLAS-less ``dlib-bin`` build with the same descriptors.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import dlib
import numpy as np
from numpy.typing import NDArray

from phota.identity.dlib_resnet import FaceResNet
from phota.identity.faces import Face

MODEL_NAME = "dlib-resnet-v1"
# Bump when the calibration below changes, so stored embeddings record which thresholds they
# were matched with; it is stored next to ``model_id`` with every embedding.
THRESHOLD_VERSION = "dlib-resnet-v1/2025-06"
# Calibrated on the shared test photos (see docs/identity.md and `python -m bench.identity`).
DEFAULT_MATCH_THRESHOLD = 0.5

HOG_WINDOW = 80  # px: the frontal detector's window, the smallest face it finds in the copy it scans
CHIP_SIZE = 150  # the ResNet's input size
CHIP_PADDING = 0.25  # what dlib's compute_face_descriptor(img, shape) uses internally
# Landmark indices of the 5-point model: 0-1 one eye (outer, inner), 2-3 the other, 4 nose base.
_EYE_A, _EYE_B, _NOSE = (0, 1), (2, 3), 4


def dlib_model_id() -> str:
    """``model@revision`` recorded with every embedding this analyser makes."""
    return f"{MODEL_NAME}@{dlib.__version__}"


@dataclass(frozen=True)
class ModelFiles:
    shape_predictor_5: Path
    resnet: Path


def model_files() -> ModelFiles:
    """The .dat files of ``face_recognition_models``, found without importing it.

    Importing the package needs ``pkg_resources``, which current setuptools no longer ships.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise RuntimeError("face-recognition-models is not installed; it provides the face models")
    models = Path(spec.origin).parent / "models"
    files = ModelFiles(
        shape_predictor_5=models / "shape_predictor_5_face_landmarks.dat",
        resnet=models / "dlib_face_recognition_resnet_model_v1.dat",
    )
    for path in (files.shape_predictor_5, files.resnet):
        if not path.is_file():
            raise RuntimeError(f"face model file missing: {path}")
    return files


def _yaw(landmarks: NDArray[np.float32]) -> float:
    """Head turn in [-1, 1] from how far the nose sits from the midpoint of the eyes."""
    eye_a = landmarks[list(_EYE_A)].mean(axis=0)
    eye_b = landmarks[list(_EYE_B)].mean(axis=0)
    nose = landmarks[_NOSE]
    da = float(np.linalg.norm(nose - eye_a))
    db = float(np.linalg.norm(nose - eye_b))
    # The ratio is about ±0.5 at a half-profile; doubled so ±1 means a turn the aligner no longer handles.
    return 0.0 if da + db == 0 else float(np.clip(2.0 * (da - db) / (da + db), -1.0, 1.0))


def quality_score(size: int, sharpness: float, yaw: float) -> float:
    """0..1: size (saturating at 200 px), sharpness (saturating) and frontal pose, multiplied."""
    size_q = min(1.0, size / 200.0)
    sharp_q = sharpness / (sharpness + 60.0)
    pose_q = max(0.0, 1.0 - abs(yaw))
    return float((size_q**0.5) * (sharp_q**0.3) * (0.2 + 0.8 * pose_q))


def _as_rgb(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    if image.dtype != np.uint8:
        image = image.astype(np.uint8)
    return np.ascontiguousarray(image)


_NOT_EMBEDDED = np.zeros(0, np.float32)


@dataclass(frozen=True)
class LocatedFaces:
    """Faces of one image found and measured, not yet embedded: ``chips[i]`` is the aligned chip
    of ``faces[i]``, whose embedding is empty until :meth:`embedded` fills it in."""

    faces: list[Face]
    chips: NDArray[np.uint8]  # (n, 150, 150, 3)

    def embedded(self, descriptors: NDArray[np.float32]) -> list[Face]:
        return [
            replace(face, embedding=np.asarray(d, dtype=np.float32))
            for face, d in zip(self.faces, descriptors, strict=True)
        ]


class DlibFaceAnalyser:
    """:class:`~phota.identity.faces.FaceAnalyser` on dlib's models; one instance per process.

    Thread-safe: each thread detects with its own HOG detector, the shared landmark model is
    used under a lock (about 1 ms a face), and the NumPy embedding needs none. Pickling sends only
    the settings and the receiving process loads the models again.
    """

    def __init__(self, detect_side: int = 1024, min_size_px: int = 40) -> None:
        self.detect_side = detect_side
        self.min_size_px = min_size_px
        # Enlarging a small image more than this finds only faces under ``min_size_px``, which are
        # dropped: a 150 px photo is scanned at 300 px, not 1024 (35× fewer pixels).
        self.upsample_cap: float | None = HOG_WINDOW / min_size_px
        self.model_id = dlib_model_id()
        self.threshold_version = THRESHOLD_VERSION
        files = model_files()
        # dlib's object detector keeps per-call scanning state, so each thread gets its own
        # (a few hundred kB); concurrent requests then detect in parallel.
        self._detectors = threading.local()
        self._predictor = dlib.shape_predictor(str(files.shape_predictor_5))
        self._encoder = FaceResNet(files.resnet)
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        return (DlibFaceAnalyser, (self.detect_side, self.min_size_px))

    def detect(self, image: NDArray[np.uint8]) -> list[tuple[dlib.rectangle, float]]:
        """Face boxes in full-resolution coordinates (unclipped) with detector scores."""
        h, w = image.shape[:2]
        scale = self.detect_side / max(h, w)
        if self.upsample_cap is not None:
            scale = min(scale, max(1.0, self.upsample_cap))
        small: NDArray[np.uint8] = image
        if scale != 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
            small = np.asarray(cv2.resize(image, size, interpolation=interpolation), dtype=np.uint8)
        detector = getattr(self._detectors, "hog", None)
        if detector is None:
            detector = self._detectors.hog = dlib.get_frontal_face_detector()
        rects, scores, _ = detector.run(small, 0, 0.0)
        out = []
        for r, s in zip(rects, scores, strict=True):
            box = dlib.rectangle(
                round(r.left() / scale), round(r.top() / scale), round(r.right() / scale), round(r.bottom() / scale)
            )
            out.append((box, float(s)))
        return out

    def embed(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        """(n, 150, 150, 3) aligned chips -> (n, 128) descriptors.

        Needs no lock: the forward pass is reentrant and BLAS releases the interpreter lock.
        """
        return self._encoder(chips)  # passes of at most four chips, buffers kept per thread

    def _found(self, image: NDArray[np.uint8]) -> list[tuple[dlib.rectangle, tuple[int, int, int, int], float]]:
        """Detections at least ``min_size_px`` wide: (rectangle, box clipped to the image, score)."""
        h, w = image.shape[:2]
        found = []
        for rect, score in self.detect(image):
            box = (max(0, rect.left()), max(0, rect.top()), min(w, rect.right() + 1), min(h, rect.bottom() + 1))
            if min(box[2] - box[0], box[3] - box[1]) >= self.min_size_px:
                found.append((rect, box, score))
        return found

    def face_boxes(self, image: NDArray[np.uint8]) -> list[tuple[int, int, int, int]]:
        """The boxes :meth:`analyse` would return, without landmarks, chips or embeddings."""
        boxes = [box for _, box, _ in self._found(_as_rgb(image))]
        return sorted(boxes, key=lambda b: min(b[2] - b[0], b[3] - b[1]), reverse=True)

    def analyse(self, image: NDArray[np.uint8]) -> list[Face]:
        """All faces at least ``min_size_px`` wide in an RGB uint8 image, largest first."""
        located = self.locate(image)
        return located.embedded(self.embed(located.chips))

    def locate(self, image: NDArray[np.uint8]) -> LocatedFaces:
        """:meth:`analyse` up to the embedding: the faces, largest first, and their aligned chips,
        so that the chips of several images can be embedded in one call (cheaper per chip)."""
        image = _as_rgb(image)
        found = self._found(image)
        if not found:
            return LocatedFaces([], np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8))
        with self._lock:
            shapes = [self._predictor(image, rect) for rect, _, _ in found]
            chips = [np.asarray(dlib.get_face_chip(image, s, size=CHIP_SIZE, padding=CHIP_PADDING)) for s in shapes]
        faces = []
        for (_, box, score), shape, chip in zip(found, shapes, chips, strict=True):
            landmarks = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
            gray = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
            sharpness = float(cv2.Laplacian(gray, cv2.CV_64F).var())
            yaw = _yaw(landmarks)
            size = min(box[2] - box[0], box[3] - box[1])
            faces.append(
                Face(
                    box=box,
                    landmarks=landmarks,
                    embedding=_NOT_EMBEDDED,
                    detection_score=score,
                    sharpness=sharpness,
                    yaw=yaw,
                    quality=quality_score(size, sharpness, yaw),
                )
            )
        order = sorted(range(len(faces)), key=lambda i: faces[i].size, reverse=True)  # stable, as before
        return LocatedFaces([faces[i] for i in order], np.stack([chips[i].astype(np.uint8) for i in order]))

    def distance(self, a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
        """Euclidean distance; the ResNet was trained so 0.6 separates people on LFW."""
        return float(np.linalg.norm(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)))
