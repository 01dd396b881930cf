"""The faces validation found in a profile's photos, stored for the train step.

Validation and training may run in different processes (or after a restart), so what training
needs of validation's analysis is kept in the blob store next to the photos, tagged with the
model that made it; faces of another model are never used (training analyses again).
"""

from __future__ import annotations

import io

import numpy as np

from phota.identity.faces import Face
from phota.identity.profiles import profile_prefix

_SCALARS = ("detection_score", "sharpness", "yaw", "quality")


def faces_key(profile_id: str) -> str:
    return f"{profile_prefix(profile_id)}faces.npz"


def encode_faces(model_id: str, faces: dict[int, list[Face]]) -> bytes:
    arrays: dict[str, np.ndarray] = {"model_id": np.array(model_id), "positions": np.array(sorted(faces), np.int64)}
    for pos, found in faces.items():
        n = len(found)
        arrays[f"{pos}.box"] = np.array([f.box for f in found], np.int64).reshape(n, 4)
        if n:
            arrays[f"{pos}.landmarks"] = np.stack([f.landmarks for f in found]).astype(np.float32)
            arrays[f"{pos}.embedding"] = np.stack([f.embedding for f in found]).astype(np.float32)
        else:  # a photo without a face
            arrays[f"{pos}.landmarks"] = np.zeros((0, 0, 2), np.float32)
            arrays[f"{pos}.embedding"] = np.zeros((0, 0), np.float32)
        arrays[f"{pos}.scalars"] = np.array([[getattr(f, a) for a in _SCALARS] for f in found], np.float64).reshape(
            n, len(_SCALARS)
        )
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)
    return buf.getvalue()


def decode_faces(data: bytes, model_id: str) -> dict[int, list[Face]] | None:
    """The stored faces, or None when they were made by another model than ``model_id``."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        if str(z["model_id"]) != model_id:
            return None
        out: dict[int, list[Face]] = {}
        for pos in (int(p) for p in z["positions"]):
            boxes, marks, embs, scalars = (z[f"{pos}.{n}"] for n in ("box", "landmarks", "embedding", "scalars"))
            out[pos] = [
                Face(
                    box=(int(b[0]), int(b[1]), int(b[2]), int(b[3])),
                    landmarks=marks[i].astype(np.float32),
                    embedding=embs[i].astype(np.float32),
                    **{n: float(v) for n, v in zip(_SCALARS, scalars[i], strict=True)},
                )
                for i, b in enumerate(boxes)
            ]
        return out
