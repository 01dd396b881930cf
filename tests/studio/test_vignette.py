"""Lens falloff (phota.studio.vignette): read on the linear proxy the pipeline reads, and undone by its map.
What the pipeline makes of the reading is tested in test_enhance.py."""

from __future__ import annotations

import numpy as np
from bench.degrade import vignette

from phota.studio.enhance import linear_proxy
from phota.studio.vignette import read_falloff, vignette_map


def test_a_cos4_lens_falloff_is_read_and_a_clean_photo_reads_none(photo: np.ndarray) -> None:
    undo, read, agreed = read_falloff(linear_proxy(vignette(photo, 1.0)), 1.0)
    assert undo > 0.3 and read >= undo and agreed > 0.3
    assert read_falloff(linear_proxy(vignette(photo, 1.0)), 0.5)[0] == undo * 0.5  # "subtle" scales the undo
    # Negative control: the clean photo, a centred portrait, reads no falloff to undo.
    assert read_falloff(linear_proxy(photo), 1.0)[0] == 0.0


def test_the_map_undoes_the_falloff_it_models() -> None:
    h, w = 300, 400
    gain = vignette_map((h, w), 0.8)
    assert gain[h // 2, w // 2] < 1.00001 < 2.2 < gain[0, 0]  # 1 at the centre, exp(0.8) at r = 1
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = (np.hypot(xx - (w - 1) / 2, yy - (h - 1) / 2) / (np.hypot(w, h) / 2)) ** 2
    assert np.allclose(np.exp(-0.8 * r2) * gain, 1.0, atol=1e-5)
    assert np.array_equal(vignette_map((h, w), 0.0), np.ones((h, w), np.float32))  # no falloff, no change
