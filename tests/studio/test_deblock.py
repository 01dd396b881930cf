"""JPEG blocking and its removal (phota.studio.deblock). Whether a photo is deblocked at all is tested through
the pipeline's readings in test_enhance.py."""

from __future__ import annotations

import cv2
import numpy as np
from bench.degrade import jpeg

from phota.studio.deblock import deblock_amount, remove_blocks
from tests.studio.imagery import delta_e


def test_deblocking_rebuilds_jpeg_chroma_along_the_luma_edges(photo: np.ndarray) -> None:
    """4:2:0 JPEG keeps one colour sample per 2x2 pixels and quantises it in 16-pixel blocks, so colour bleeds
    across edges. Rebuilt from the luma, the colour comes back closer to the original; blurring the chroma
    (the negative control) smooths the blocks but not the bleeding."""
    blocky = jpeg(photo, 20)[0]
    ycc = cv2.cvtColor(blocky, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    ycc[..., 1:] = cv2.GaussianBlur(ycc[..., 1:], (0, 0), 1.5)
    blurred = cv2.cvtColor(np.clip(ycc + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB)
    rebuilt = remove_blocks(blocky, 1.0)
    assert delta_e(photo, rebuilt) < 0.9 * delta_e(photo, blurred) < 0.9 * delta_e(photo, blocky)


def test_a_heavy_jpeg_is_deblocked_and_a_good_one_is_not(photo: np.ndarray) -> None:
    def luma(rgb: np.ndarray) -> np.ndarray:
        return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), np.uint8)

    ratio, amount = deblock_amount(luma(jpeg(photo, 20)[0]), 1.0)
    assert ratio > 1.3 and amount > 0.3
    assert deblock_amount(luma(jpeg(photo, 20)[0]), 0.5)[1] == amount * 0.5  # "subtle" prompts scale it down
    # Negative control: a good-quality JPEG of the same photo shows no grid worth removing.
    assert deblock_amount(luma(jpeg(photo, 92)[0]), 1.0)[1] == 0.0
