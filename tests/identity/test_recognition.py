from __future__ import annotations

import numpy as np

from phota.identity.recognition import ProfileIdentity, match_faces, profile_distance, similarity
from tests.identity import faces_of

P01 = ["df_p01_img1.jpg", "df_p01_img2.heic", "df_p01_img4.jpg", "df_p01_img6.jpg"]
P03 = ["df_p03_img8.jpg", "df_p03_img9.jpg", "df_p03_img47.jpg", "df_p03_img48.jpg"]
OBAMA = ["obama_obama.jpg", "obama_obama1.jpg", "obama_obama3.jpg"]
BIDEN = ["biden_biden.jpg"]


def profile(pid: str, names: list[str]) -> ProfileIdentity:
    emb = np.stack([faces_of(n)[0].embedding for n in names])
    return ProfileIdentity(profile_id=pid, centroid=emb.mean(axis=0), embeddings=emb)


def test_similarity_is_half_at_threshold() -> None:
    assert similarity(0.0, 0.5) == 1.0
    assert similarity(0.5, 0.5) == 0.5
    assert similarity(2.0, 0.5) == 0.0


def test_held_out_photo_matches_its_profile_only() -> None:
    profiles = {"p01": profile("p01", P01), "p03": profile("p03", P03)}
    faces = list(faces_of("df_p01_img7.jpg"))
    (m,) = match_faces(faces, profiles, 0.5)
    assert m.profile_id == "p01" and m.face_index == 0 and m.similarity >= 0.5
    assert profile_distance(faces[0].embedding, profiles["p03"]) > 0.5


def test_unknown_person_matches_nothing() -> None:
    profiles = {"p01": profile("p01", P01), "p03": profile("p03", P03)}
    assert match_faces(list(faces_of("df_p05_img13.jpg")), profiles, 0.5) == []


def test_group_photo_assigns_each_profile_once() -> None:
    profiles = {"obama": profile("obama", OBAMA), "biden": profile("biden", BIDEN), "p01": profile("p01", P01)}
    faces = list(faces_of("group_obama_and_biden.jpg"))
    matches = match_faces(faces, profiles, 0.5)
    assert {m.profile_id for m in matches} == {"obama", "biden"}
    assert len({m.face_index for m in matches}) == 2


def test_a_profile_is_used_at_most_once_per_image() -> None:
    face = faces_of("df_p01_img7.jpg")[0]
    profiles = {"p01": profile("p01", P01)}
    matches = match_faces([face, face], profiles, 0.5)
    assert len(matches) == 1
