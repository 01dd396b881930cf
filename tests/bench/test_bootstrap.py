"""The interval that says whether a ranking is decided: a constant difference is certain, a difference with
no sign is not, a difference one person carries is only as sure as that person, and nothing is decided from
one cluster."""

from __future__ import annotations

import numpy as np
import pytest
from bench.bootstrap import cluster_of, clusters, interval_of, paired_interval
from bench.photoset import Photo


def test_a_constant_difference_is_decided_and_no_difference_is_not() -> None:
    names = [f"{k}" for k in range(10)]
    same = paired_interval([0.25] * 10, names)
    assert (same.mean, same.low, same.high, same.clusters) == (0.25, 0.25, 0.25, 10)
    assert same.decided
    assert not paired_interval([0.0] * 10, names).decided
    # Differences of both signs around zero.
    noisy = paired_interval([0.3, -0.2, 0.1, -0.4, 0.2, -0.1, 0.35, -0.3], [str(k) for k in range(8)])
    assert noisy.low < 0.0 < noisy.high and not noisy.decided


def test_one_cluster_never_decides() -> None:
    one = paired_interval([1.0, 1.2, 0.9], ["a", "a", "a"])
    assert one.clusters == 1 and one.low > 0.0
    assert not one.decided


def test_a_person_with_many_photos_counts_once() -> None:
    # Ten photos of one person gain 1.0, ten other scenes lose 0.05 each.
    diffs = [1.0] * 10 + [-0.05] * 10
    by_photo = paired_interval(diffs, [f"p{k}" for k in range(20)])
    by_person = paired_interval(diffs, ["someone"] * 10 + [f"s{k}" for k in range(10)])
    assert by_photo.mean == pytest.approx(by_person.mean)
    assert by_photo.decided  # counted photo by photo, the gain looks certain
    assert not by_person.decided  # drawn by person, it rests on whether that one person is drawn
    assert by_person.low == pytest.approx(-0.05)


def test_the_interval_covers_the_true_mean_about_as_often_as_it_says() -> None:
    rng = np.random.default_rng(3)
    labels = [str(k) for k in range(40)]
    hits = 0
    for _ in range(200):
        iv = paired_interval(rng.normal(0.3, 1.0, 40).tolist(), labels, resamples=2000)
        hits += iv.low <= 0.3 <= iv.high
    assert 0.88 <= hits / 200 <= 0.99


def test_the_same_cases_give_the_same_interval_and_bad_input_is_refused() -> None:
    diffs, labels = [0.1, -0.3, 0.5, 0.2], ["a", "b", "a", "c"]
    assert paired_interval(diffs, labels) == paired_interval(diffs, labels)
    with pytest.raises(ValueError, match="one cluster label per difference"):
        paired_interval(diffs, labels[:3])
    with pytest.raises(ValueError):
        paired_interval([], [])
    # interval_of pairs two methods' scores photo by photo; a photo the map does not name is its own cluster.
    iv = interval_of(["x", "y"], [0.9, 0.8], [0.7, 0.8], {"x": "a", "y": "a"})
    assert iv.clusters == 1 and iv.mean == pytest.approx(0.1)
    assert interval_of(["x", "y"], [0.9, 0.8], [0.7, 0.8]).clusters == 2


def test_group_and_no_face_photos_are_clusters_of_their_own() -> None:
    assert cluster_of("obama_obama1.jpg", "obama") == cluster_of("obama_obama3.jpg", "obama") == "obama"
    assert cluster_of("group_a.jpg", "group") != cluster_of("group_b.jpg", "group")
    assert cluster_of("none_eagle.jpg", "none") == "none_eagle.jpg"
    photos = [Photo("obama_obama1.jpg", "obama", "tune"), Photo("group_a.jpg", "group", "tune")]
    assert clusters(photos) == {"obama_obama1.jpg": "obama", "group_a.jpg": "group_a.jpg"}
