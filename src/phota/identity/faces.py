"""The face-analysis interface: detect -> align -> embed.

It knows nothing of profiles. A stronger recogniser can replace the default one by
implementing :class:`FaceAnalyser`; every stored embedding records ``model_id`` so
embeddings of different models are never compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Face:
    """One detected face in image pixel coordinates."""

    box: tuple[int, int, int, int]  # left, top, right, bottom (clipped to the image)
    landmarks: NDArray[np.float32]  # (5, 2) x, y
    embedding: NDArray[np.float32]  # (128,) for the default model
    detection_score: float
    sharpness: float  # variance of the Laplacian of the aligned chip
    yaw: float  # rough head turn in [-1, 1] from landmark symmetry; 0 = frontal
    quality: float  # 0..1, combines size, sharpness and pose; higher is better

    @property
    def size(self) -> int:
        return min(self.box[2] - self.box[0], self.box[3] - self.box[1])


class FaceAnalyser(Protocol):
    model_id: str  # e.g. "dlib-resnet-v1@20.0.1"

    def analyse(self, image: NDArray[np.uint8]) -> list[Face]:
        """All faces in an RGB uint8 image, largest first."""
        ...

    def face_boxes(self, image: NDArray[np.uint8]) -> list[tuple[int, int, int, int]]:
        """The boxes of :meth:`analyse`, largest first, without computing embeddings."""
        ...

    def distance(self, a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
        """Distance between two embeddings; smaller is more alike."""
        ...
