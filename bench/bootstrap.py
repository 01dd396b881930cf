"""How sure a ranking is: a paired cluster bootstrap of the difference between two methods' means.

Two methods scored on the same photos give one difference per photo. Those photos are not independent draws:
one person contributes up to eleven of them (crops, rescales and re-encodes of the same face, often from one
shoot), so resampling photos one by one would make a difference carried by a single person look certain.
The unit resampled is therefore the cluster: a person, or, for group and no-face photos (each a different
scene), the photo itself. The interval is the percentile interval of the resampled means; a ranking is
*decided* when it excludes zero, and *within noise* otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bench.photoset import ALTERNATING, Photo

RESAMPLES = 10_000
LEVEL = 0.95
SEED = 20261206  # fixed: the same cases always print the same interval


@dataclass(frozen=True)
class Interval:
    mean: float  # the observed mean difference
    low: float
    high: float
    clusters: int  # how many clusters the photos came from

    @property
    def decided(self) -> bool:
        """The interval excludes zero: the sign of the difference is not a matter of which photos were drawn.
        One cluster is never enough: resampling it only ever redraws the same photos."""
        return self.clusters >= 2 and (self.low > 0.0 or self.high < 0.0)


def cluster_of(file: str, identity: str) -> str:
    """A person's photos form one cluster; each group or no-face photo is a cluster of its own."""
    return file if identity in ALTERNATING else identity


def clusters(photos: Sequence[Photo]) -> dict[str, str]:
    """File name → cluster, for :func:`paired_interval`."""
    return {p.file: cluster_of(p.file, p.identity) for p in photos}


def paired_interval(
    diffs: Sequence[float],
    groups: Sequence[str],
    *,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
) -> Interval:
    """The ``level`` percentile interval of the mean of ``diffs`` (one per photo) when whole clusters
    (``groups``, one label per photo) are drawn with replacement, as many as there are."""
    d = np.asarray(diffs, np.float64)
    if d.ndim != 1 or len(d) != len(groups) or len(d) == 0:
        raise ValueError(f"need one cluster label per difference, got {len(d)} differences and {len(groups)} labels")
    labels, index = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    sums = np.bincount(index, weights=d, minlength=len(labels))
    counts = np.bincount(index, minlength=len(labels)).astype(np.float64)
    draw = np.random.default_rng(seed).integers(0, len(labels), size=(resamples, len(labels)))
    means = sums[draw].sum(axis=1) / counts[draw].sum(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Interval(float(d.mean()), float(low), float(high), len(labels))


def interval_of(
    photos: Sequence[str], a: Sequence[float], b: Sequence[float], cluster: Mapping[str, str] | None = None
) -> Interval:
    """Interval of mean(a − b) over ``photos`` (paired); a photo missing from ``cluster`` is its own cluster."""
    cluster = cluster or {}
    return paired_interval([x - y for x, y in zip(a, b, strict=True)], [cluster.get(p, p) for p in photos])
