"""The shipped illuminant template is what bench/light_prior.py fits from the TUNE photos, and nothing else:
a template that was edited, or fitted on other photos, fails the check."""

from __future__ import annotations

import bench.light_prior as fit
import numpy as np
import pytest
from bench.photoset import load_photoset

from phota.studio import light_prior
from tests.photos import photos_dir


@pytest.fixture(scope="module")
def tune_hists() -> np.ndarray:
    return fit.tune_histograms(photos_dir())


def test_the_template_is_fitted_on_the_tune_photos_only(tune_hists: np.ndarray) -> None:
    photos = load_photoset(photos_dir())[0]
    assert len(tune_hists) == sum(p.split == "tune" for p in photos)
    assert len(tune_hists) < len(photos)  # the held-out photos exist and are left out
    assert np.allclose(tune_hists.sum(axis=(1, 2)), 1.0)


def test_the_shipped_template_is_the_tune_fit(monkeypatch: pytest.MonkeyPatch, tune_hists: np.ndarray) -> None:
    monkeypatch.setattr(fit, "tune_histograms", lambda _photos: tune_hists)
    assert fit.main(["--check"]) == 0
    # Negative control: a template fitted on half the photos is not the shipped one.
    half = light_prior.fit_template(tune_hists[::2])
    monkeypatch.setattr(fit, "shipped_template", lambda: half)
    assert fit.main(["--check"]) == 1
