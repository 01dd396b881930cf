"""Training analysis: from per-photo faces to a profile's identity, crops and picture.

Pure logic on already-analysed photos (no database, no model calls), so it runs anywhere:

1. cluster the faces across photos and take the dominant identity: the face whose likeness
   (pairwise distance <= ``cluster_threshold``) appears in the most photos; group photos are fine;
2. per photo, keep the one face close to that identity's centroid; drop the photo when the
   person is absent, ambiguous (two faces of the photo close to the identity) or too small,
   recording why;
3. centroid of the kept embeddings, faces ranked by quality (size, sharpness, pose);
4. head-and-shoulders reference crops with the background replaced by neutral grey, and a
   square profile picture (JPEG) of the best face.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from phota.identity.faces import Face
from phota.imaging.encode import to_storage_jpeg

NO_SUBJECT_MESSAGE = "No subject detected: none of the training photos shows a clearly visible human face."
PET_MESSAGE = (
    "Pet profiles are not supported: recognising a pet needs a pet detector, which is not installed "
    "(only human faces are detected)."
)

CLUSTER_THRESHOLD = 0.55  # face-to-face: the same person across photos (max genuine pair seen: 0.61)
ASSIGN_THRESHOLD = 0.5  # face-to-centroid: the subject in a photo (max genuine seen: 0.49)
AMBIGUITY_MARGIN = 0.1  # a second face this close to the best one makes the photo ambiguous
MIN_FACE_PX = 64  # smaller subject faces give blurry references
CROP_SIZE = 512
# Reference crops made per profile: the best faces only. Requests read at most this many (the
# largest max_references of any engine), so crops of the rest would be made and never read.
MAX_REFERENCE_CROPS = 16
PICTURE_SIZE = 512
# GrabCut's working side: its cost grows much faster than its pixels (3 iterations: ~10 ms at 64,
# ~20 ms at 80, ~35 ms at 96, ~85 ms at 128 on this machine) while the mask, feathered and
# limited to the head-and-shoulders prior at 512 px, changes little.
GRABCUT_SIDE = 80
# Two iterations, not three: on 59 shared photos the third changed the 512 px crop by 0.16 grey
# levels on average (none on 27 of them, 5.1 at most), less than GrabCut's own random start does
# (0.81 on average, 15 at most, between two seeds), for a sixth of a profile's crop time.
GRABCUT_ITERATIONS = 2
GREY = 128


@dataclass(frozen=True)
class PhotoFaces:
    index: int  # the photo's position in the training set
    image: Image.Image | None  # needed only when the analysis makes the crops itself
    faces: list[Face]


@dataclass(frozen=True)
class PhotoVerdict:
    index: int
    used: bool
    reason: str  # empty when used
    face_index: int | None = None  # the subject's face in PhotoFaces.faces, when found
    distance: float | None = None  # of that face to the identity's centroid


@dataclass(frozen=True)
class RankedFace:
    index: int  # photo index
    face_index: int
    face: Face
    distance: float  # to the centroid


@dataclass
class TrainingAnalysis:
    ok: bool
    message: str  # why not ok; empty when ok
    verdicts: list[PhotoVerdict]  # one per input photo, in input order
    embeddings: NDArray[np.float32]  # (k, d) of the used photos, in `ranked` order
    centroid: NDArray[np.float32] | None
    ranked: list[RankedFace]  # used faces, best quality first
    crops: list[Image.Image] = field(default_factory=list)  # of ranked[:MAX_REFERENCE_CROPS], in that order
    profile_picture: bytes | None = None  # JPEG of the best face, square
    no_subject: bool = False  # no human face in any photo

    @property
    def used(self) -> list[int]:
        return [v.index for v in self.verdicts if v.used]


def _dist(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float64]:
    return np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), axis=-1)


def _dominant_seed(photos: Sequence[PhotoFaces], threshold: float) -> tuple[int, int] | None:
    """(photo position, face index) of the face whose likeness is in the most photos."""
    flat = [(p, f) for p, ph in enumerate(photos) for f in range(len(ph.faces))]
    if not flat:
        return None
    emb = np.stack([photos[p].faces[f].embedding for p, f in flat]).astype(np.float64)
    owner = np.array([p for p, _ in flat])
    d = np.linalg.norm(emb[:, None, :] - emb[None, :, :], axis=-1)
    best: tuple[tuple[int, float, float], int] | None = None
    for i, (p, f) in enumerate(flat):
        support, total = 1, 0.0
        for q in range(len(photos)):
            if q == p:
                continue
            mask = owner == q
            if mask.any():
                m = float(d[i, mask].min())
                if m <= threshold:
                    support += 1
                    total += m
        # Most photos first; then the tighter cluster; then the better face.
        key = (support, -total / max(1, support - 1), photos[p].faces[f].quality)
        if best is None or key > best[0]:
            best = (key, i)
    assert best is not None
    return flat[best[1]]


def analyse_training_set(
    photos: Sequence[PhotoFaces],
    *,
    min_usable: int = 1,
    cluster_threshold: float = CLUSTER_THRESHOLD,
    assign_threshold: float = ASSIGN_THRESHOLD,
    min_face_px: int = MIN_FACE_PX,
    make_crops: bool = True,
) -> TrainingAnalysis:
    """Select the training photos that show the dominant person and build the profile's material."""
    empty = np.zeros((0, 128), dtype=np.float32)
    seed = _dominant_seed(photos, cluster_threshold)
    if seed is None:
        return TrainingAnalysis(
            ok=False,
            message=f"{NO_SUBJECT_MESSAGE} {PET_MESSAGE}",
            verdicts=[PhotoVerdict(ph.index, False, "no face detected") for ph in photos],
            embeddings=empty,
            centroid=None,
            ranked=[],
            no_subject=True,
        )

    # Start from the seed and its nearest face in each supporting photo, then re-assign
    # against the centroid twice so one odd seed photo cannot steer the selection.
    sp, sf = seed
    seed_emb = photos[sp].faces[sf].embedding
    members = [seed_emb]
    for q, ph in enumerate(photos):
        if q != sp and ph.faces:
            dq = _dist(np.stack([f.embedding for f in ph.faces]), seed_emb)
            if dq.min() <= cluster_threshold:
                members.append(ph.faces[int(dq.argmin())].embedding)
    centroid = np.mean(np.stack(members), axis=0).astype(np.float32)

    verdicts: list[PhotoVerdict] = []
    for _ in range(3):
        verdicts = []
        for ph in photos:
            if not ph.faces:
                verdicts.append(PhotoVerdict(ph.index, False, "no face detected"))
                continue
            dq = _dist(np.stack([f.embedding for f in ph.faces]), centroid)
            order = np.argsort(dq)
            best = int(order[0])
            bd = float(dq[best])
            if bd > assign_threshold:
                verdicts.append(PhotoVerdict(ph.index, False, "the subject is not in this photo"))
                continue
            if len(order) > 1:
                second = float(dq[order[1]])
                if second <= assign_threshold and second - bd < AMBIGUITY_MARGIN:
                    verdicts.append(
                        PhotoVerdict(ph.index, False, "ambiguous: two faces in this photo resemble the subject")
                    )
                    continue
            if ph.faces[best].size < min_face_px:
                verdicts.append(
                    PhotoVerdict(
                        ph.index,
                        False,
                        f"the subject's face is too small ({ph.faces[best].size} px, at least {min_face_px} needed)",
                        best,
                        bd,
                    )
                )
                continue
            verdicts.append(PhotoVerdict(ph.index, True, "", best, bd))
        used = [
            ph.faces[v.face_index].embedding
            for ph, v in zip(photos, verdicts, strict=True)
            if v.used and v.face_index is not None
        ]
        if not used:
            break
        new = np.mean(np.stack(used), axis=0).astype(np.float32)
        if np.allclose(new, centroid, atol=1e-6):
            break
        centroid = new

    by_index = {ph.index: ph for ph in photos}
    ranked = [
        RankedFace(v.index, v.face_index, by_index[v.index].faces[v.face_index], v.distance or 0.0)
        for v in verdicts
        if v.used and v.face_index is not None
    ]
    ranked.sort(key=lambda r: (-r.face.quality, r.distance))
    if not ranked:
        return TrainingAnalysis(
            ok=False,
            message="No usable photo: the subject's face is too small or ambiguous in every photo.",
            verdicts=verdicts,
            embeddings=empty,
            centroid=None,
            ranked=[],
        )
    embeddings = np.stack([r.face.embedding for r in ranked]).astype(np.float32)
    centroid = embeddings.mean(axis=0).astype(np.float32)
    message = ""
    if len(ranked) < min_usable:
        message = f"Only {len(ranked)} usable photo(s) of the subject; at least {min_usable} are needed. " + "; ".join(
            f"photo {v.index}: {v.reason}" for v in verdicts if not v.used
        )
    crops: list[Image.Image] = []
    picture: bytes | None = None
    if make_crops:
        crops = [reference_crop(_image(by_index[r.index]), r.face) for r in ranked[:MAX_REFERENCE_CROPS]]
        picture = profile_picture(_image(by_index[ranked[0].index]), ranked[0].face)
    return TrainingAnalysis(
        ok=not message,
        message=message,
        verdicts=verdicts,
        embeddings=embeddings,
        centroid=centroid,
        ranked=ranked,
        crops=crops,
        profile_picture=picture,
    )


def _image(photo: PhotoFaces) -> Image.Image:
    if photo.image is None:
        raise ValueError(f"photo {photo.index} has no image: crops need it")
    return photo.image


def reference_material(image: Image.Image, face: Face, with_picture: bool) -> tuple[bytes, bytes | None]:
    """One ranked face's stored material: its reference crop as JPEG, and the profile picture
    when it is the best face. A unit of work for the training pool."""
    crop = to_storage_jpeg(reference_crop(image, face))
    return crop, profile_picture(image, face) if with_picture else None


def reference_material_of_jpeg(data: bytes, face: Face, with_picture: bool) -> tuple[bytes, bytes | None]:
    """:func:`reference_material` of a stored JPEG, decoded only as large as the crops need.

    The crop covers 2.8 face widths and the picture 1.9, resampled to 512 px: a face of 540 px
    needs no more than half the photo's resolution for either. JPEG's DCT scaling (``draft``) decodes
    straight to 1/2, 1/4 or 1/8 of the size, never below what the crops need, so the decode and
    the crop's resample cost a fraction of a full-size decode (and the crop is still a downscale).
    """
    image = Image.open(io.BytesIO(data))
    full_w, full_h = image.size
    left, top, right, bottom = face.box
    fw = float(max(right - left, bottom - top, 1))
    need = max(CROP_SIZE / (fw * 2.8), PICTURE_SIZE / (fw * 1.9) if with_picture else 0.0)
    if need < 1.0:
        image.draft("RGB", (math.ceil(full_w * need), math.ceil(full_h * need)))
    rgb = image.convert("RGB")
    if rgb.size != (full_w, full_h):
        sx, sy = rgb.size[0] / full_w, rgb.size[1] / full_h
        face = replace(face, box=(round(left * sx), round(top * sy), round(right * sx), round(bottom * sy)))
    return reference_material(rgb, face, with_picture)


def _square_crop(image: Image.Image, cx: float, cy: float, side: float, out: int) -> NDArray[np.uint8]:
    """A square of ``side`` px around (cx, cy), padded with grey outside the image, resized to ``out``."""
    left, top, n = round(cx - side / 2), round(cy - side / 2), max(1, round(side))
    w, h = image.size
    x0, y0, x1, y1 = max(0, left), max(0, top), min(w, left + n), min(h, top + n)
    arr = np.full((n, n, 3), GREY, dtype=np.uint8)
    if x1 > x0 and y1 > y0:
        # Only the part inside the image is converted and copied, not the whole photo.
        arr[y0 - top : y1 - top, x0 - left : x1 - left] = np.asarray(image.crop((x0, y0, x1, y1)).convert("RGB"))
    interp = cv2.INTER_AREA if n > out else cv2.INTER_CUBIC
    return np.asarray(cv2.resize(arr, (out, out), interpolation=interp), dtype=np.uint8)


def _head_shoulders_prior(size: int, face_in_crop: tuple[float, float, float]) -> NDArray[np.float32]:
    """Soft 0..1 mask: an ellipse over the head and a wider one for the shoulders."""
    cx, cy, fw = face_in_crop
    prior = np.zeros((size, size), dtype=np.uint8)
    head_axes = (round(fw * 0.8), round(fw * 1.1))
    cv2.ellipse(prior, (round(cx), round(cy - fw * 0.25)), head_axes, 0, 0, 360, 255, -1)
    cv2.ellipse(prior, (round(cx), round(cy + fw * 1.6)), (round(fw * 1.5), round(fw * 0.9)), 0, 0, 360, 255, -1)
    cv2.rectangle(prior, (round(cx - fw * 0.45), round(cy)), (round(cx + fw * 0.45), round(cy + fw * 1.2)), 255, -1)
    k = max(3, (size // 24) | 1)
    return cv2.GaussianBlur(prior, (k, k), 0).astype(np.float32) / 255.0


def reference_crop(image: Image.Image, face: Face, size: int = CROP_SIZE) -> Image.Image:
    """Tight head-and-shoulders crop of ``face`` with the background replaced by neutral grey.

    GrabCut runs on a small copy seeded from the face box (the face itself is certain
    foreground, the frame border certain background, a head-and-shoulders shape probable
    foreground); its mask is feathered and limited to the head-and-shoulders prior, and the face
    ellipse is always kept, so the face stays re-detectable by the analyser.
    """
    left, top, right, bottom = face.box
    fw = float(max(right - left, bottom - top))
    cx, cy = (left + right) / 2.0, (top + bottom) / 2.0
    side = fw * 2.8  # head, hair and shoulders
    ccy = cy + fw * 0.2  # the dlib box is eyebrows to chin: room for hair above, shoulders below
    crop = _square_crop(image, cx, ccy, side, size)
    scale = size / side
    face_c = (size / 2.0, size / 2.0 - fw * 0.2 * scale, fw * scale)
    prior = _head_shoulders_prior(size, face_c)

    small_n = GRABCUT_SIDE
    small = np.asarray(cv2.resize(crop, (small_n, small_n), interpolation=cv2.INTER_AREA), dtype=np.uint8)
    prior_small = np.asarray(cv2.resize(prior, (small_n, small_n)), dtype=np.float32)
    s = small_n / size
    mask = np.full((small_n, small_n), cv2.GC_PR_BGD, dtype=np.uint8)
    mask[prior_small > 0.5] = cv2.GC_PR_FGD
    fx, fy, fwc = face_c[0] * s, face_c[1] * s, face_c[2] * s
    cv2.ellipse(mask, (round(fx), round(fy)), (round(fwc * 0.35), round(fwc * 0.45)), 0, 0, 360, cv2.GC_FGD, -1)
    border = max(2, small_n // 32)
    mask[:border, :] = cv2.GC_BGD
    mask[:, :border] = cv2.GC_BGD
    mask[:, -border:] = cv2.GC_BGD
    # The bottom edge is left open: it is the body, not background.
    alpha_small: NDArray[np.float32]
    try:
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        bgr = np.asarray(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        cv2.grabCut(bgr, mask, None, bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]
        alpha_small = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    except cv2.error:
        alpha_small = prior_small
    fg_share = float(alpha_small.mean())
    if not 0.1 <= fg_share <= 0.85:  # GrabCut lost the person or took everything: use the prior alone
        alpha_small = prior_small
    alpha = np.asarray(cv2.resize(alpha_small, (size, size), interpolation=cv2.INTER_LINEAR), dtype=np.float32)
    k = max(3, (size // 40) | 1)
    alpha = cv2.GaussianBlur(alpha, (k, k), 0) * np.clip(prior * 1.5, 0, 1)
    keep = np.zeros((size, size), dtype=np.uint8)
    cv2.ellipse(
        keep,
        (round(face_c[0]), round(face_c[1])),
        (round(face_c[2] * 0.6), round(face_c[2] * 0.75)),
        0,
        0,
        360,
        255,
        -1,
    )
    alpha = np.maximum(alpha, cv2.GaussianBlur(keep, (k, k), 0).astype(np.float32) / 255.0)
    # crop × alpha + grey × (1 - alpha), rounded, in one OpenCV pass (a third of NumPy's time).
    grey = np.full_like(crop, GREY)
    out = cv2.blendLinear(crop, grey, alpha, np.ascontiguousarray(1.0 - alpha))
    return Image.fromarray(np.asarray(out, dtype=np.uint8))


def profile_picture(image: Image.Image, face: Face, size: int = PICTURE_SIZE, quality: int = 90) -> bytes:
    """A square JPEG around the face with some hair and neck, background untouched."""
    left, top, right, bottom = face.box
    fw = float(max(right - left, bottom - top))
    crop = _square_crop(image, (left + right) / 2.0, (top + bottom) / 2.0 + fw * 0.1, fw * 1.9, size)
    buf = io.BytesIO()
    Image.fromarray(crop).save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()
