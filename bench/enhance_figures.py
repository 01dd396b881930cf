"""Pictures of the enhance evaluation: per-family contact sheets and bar charts (PNG, each < 400 KB)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from bench.enhance import Case, Thumbs

MAX_BYTES = 400_000
U8 = NDArray[np.uint8]


def slug(family: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", family.lower()).strip("-")


def save_png(img: Image.Image, path: Path, max_bytes: int = MAX_BYTES) -> None:
    """Save as PNG; when too large, as a 256-colour PNG, then smaller, until it fits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = img
    for attempt in range(8):
        buf = io.BytesIO()
        candidate.save(buf, "PNG", optimize=True)
        if buf.tell() <= max_bytes:
            path.write_bytes(buf.getvalue())
            return
        if attempt == 0:
            candidate = img.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
        else:
            img = img.resize((round(img.width * 0.85), round(img.height * 0.85)), Image.Resampling.LANCZOS)
            candidate = img.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
    raise RuntimeError(f"{path} stays over {max_bytes} bytes")


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):
        return ImageFont.load_default()


def best_baseline(cases: list[Case], split: str, family: str) -> str:
    from bench.baselines import BASELINES

    fc = [c for c in cases if c.split == split and c.family == family]
    means = {m: float(np.mean([c.scores[(m, "2K")][1] for c in fc])) for m in BASELINES}
    return min(means, key=lambda m: means[m])


def contact_sheets(sheets: dict[tuple[str, str], list[Thumbs]], cases: list[Case], out_dir: Path) -> list[Path]:
    """One sheet per family (held-out photos where there are): original | degraded | phota | the
    family's best baseline by mean ΔE."""
    written = []
    families = list(dict.fromkeys(f for _, f in sheets))
    for family in families:
        split = "heldout" if ("heldout", family) in sheets else "tune"
        rows = sheets[(split, family)]
        base = best_baseline(cases, split, family)
        cols = ["original", "degraded", "phota", base]
        gap, head = 6, 28
        widths = [max(r.images[c].shape[1] for r in rows) for c in cols]
        height = rows[0].images["original"].shape[0]
        sheet = Image.new("RGB", (sum(widths) + gap * (len(cols) + 1), head + (height + gap) * len(rows)), "white")
        draw = ImageDraw.Draw(sheet)
        font = _font(16)
        x = gap
        for c, w in zip(cols, widths, strict=True):
            label = c if c != base else f"best baseline: {c}"
            draw.text((x, 6), label, fill="black", font=font)
            x += w + gap
        for i, r in enumerate(rows):
            x = gap
            for c, w in zip(cols, widths, strict=True):
                tile = r.images[c]
                sheet.paste(Image.fromarray(tile), (x + (w - tile.shape[1]) // 2, head + i * (height + gap)))
                x += w + gap
        path = out_dir / f"sheet-{slug(family)}.png"
        save_png(sheet, path)
        written.append(path)
    return written


def bar_charts(cases: list[Case], out_dir: Path) -> list[Path]:
    """One chart per family: mean SSIM and mean ΔE2000 at 2K per method, TUNE and HELD-OUT side by side."""
    from bench.enhance import METHODS

    written = []
    families = list(dict.fromkeys(c.family for c in cases))
    splits = [s for s in ("tune", "heldout") if any(c.split == s for c in cases)]
    for family in families:
        fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.0), dpi=90)
        x = np.arange(len(METHODS))
        width = 0.8 / len(splits)
        titles = ("mean SSIM (higher is better)", "mean ΔE2000 (lower is better)")
        for k, (ax, title) in enumerate(zip(axes, titles, strict=True)):
            lowest = 1.0
            for j, split in enumerate(splits):
                fc = [c for c in cases if c.family == family and c.split == split]
                vals = [float(np.mean([c.scores[(m, "2K")][k] for c in fc])) for m in METHODS]
                lowest = min(lowest, *vals)
                label = "HELD-OUT" if split == "heldout" else split.upper()
                ax.bar(x + (j - (len(splits) - 1) / 2) * width, vals, width, label=label)
            ax.set_xticks(x, METHODS, rotation=25, ha="right", fontsize=8)
            ax.set_title(title, fontsize=9)
            if k == 0:  # SSIM: zoom in on the range the methods span
                ax.set_ylim(max(0.0, lowest - 0.05), 1.0)
        axes[0].legend(fontsize=7)
        fig.suptitle(f"{family}: scored at 2K", fontsize=10)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        path = out_dir / f"bars-{slug(family)}.png"
        save_png(Image.open(buf).convert("RGB"), path)
        written.append(path)
    return written
