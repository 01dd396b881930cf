"""The enhance evaluation's tables count what they say: best per family, worst photo, the summary line,
and a photo sample that covers the whole split."""

from __future__ import annotations

from bench.degrade import FAMILIES, GOOD
from bench.enhance import METHODS, PHOTA, Case, pick, stat, summary, table
from bench.photoset import Photo

(COOL,) = [f for f in FAMILIES if f.startswith("cool")]


def _case(family: str, photo: str, ssim: dict[str, float], de: dict[str, float]) -> Case:
    c = Case("tune", family, photo, {}, (100, 100), 1)
    for m in METHODS:
        for scale in ("2K", "original"):
            c.scores[(m, scale)] = (ssim.get(m, 0.9), de.get(m, 5.0))
    return c


def test_summary_counts_families_where_phota_is_best_and_checks_harm() -> None:
    cases = [
        # haze: phota best on both
        _case("haze", "a.jpg", {PHOTA: 0.95}, {PHOTA: 2.0}),
        _case("haze", "b.jpg", {PHOTA: 0.93}, {PHOTA: 3.0}),
        # defocus: no-op best on SSIM, phota best on ΔE
        _case("defocus", "a.jpg", {PHOTA: 0.91, "no-op": 0.97}, {PHOTA: 1.0}),
        # cool: every photo loses SSIM to no-op (a decided loss); ΔE a tie
        *(_case(COOL, f"{k}.jpg", {PHOTA: 0.95, "no-op": 0.97}, {}) for k in "abc"),
        # good: phota harms colour (ΔE 3 > 2): not met, and good is not counted as a family to win
        _case(GOOD, "a.jpg", {PHOTA: 0.99, "no-op": 1.0}, {PHOTA: 3.0, "no-op": 0.0}),
    ]
    text = summary(cases, "tune", "2K")
    assert text.startswith("phota best in 1/3 families on SSIM and 3/3 on ΔE")
    # Haze is won by both of its photos on both metrics; defocus rests on one photo, which decides nothing;
    # the cool tie on ΔE is no win to be sure of.
    assert "decided (the 95 % interval excludes 0): SSIM 1 won, 1 lost; ΔE 1 won, 0 lost" in text
    assert "NOT met" in text
    ok = [_case(GOOD, "a.jpg", {PHOTA: 0.99}, {PHOTA: 1.0})]
    assert "(target ΔE ≤ 2, SSIM ≥ 0.98: met)" in summary(ok, "tune", "2K")


def test_worst_photo_is_lowest_ssim_and_highest_delta_e() -> None:
    cases = [
        _case("haze", "a.jpg", {PHOTA: 0.95}, {PHOTA: 2.0}),
        _case("haze", "b.jpg", {PHOTA: 0.80}, {PHOTA: 1.0}),
        _case("haze", "c.jpg", {PHOTA: 0.90}, {PHOTA: 9.0}),
    ]
    assert stat(cases, PHOTA, "2K", 0).worst_photo == "b.jpg"
    assert stat(cases, PHOTA, "2K", 1).worst_photo == "c.jpg"
    assert stat(cases, PHOTA, "2K", 1).mean == 4.0
    rows = table(cases, "tune", "2K")
    cells = rows[2].split(" | ")
    assert cells[2].startswith("0.883 / **4.00**")  # phota: best ΔE, not best SSIM (the others have 0.9)
    assert cells[3].startswith("**0.900** / 5.00")
    assert cells[-1] == "c.jpg |"


def test_families_together_use_every_photo() -> None:
    photos = [Photo(f"p{i}.jpg", "x", "tune") for i in range(23)]
    used = {p.file for fi in range(13) for p in pick(photos, fi, 5)}
    assert used == {p.file for p in photos}
    assert all(len({p.file for p in pick(photos, fi, 5)}) == 5 for fi in range(13))
    assert pick(photos, 3, 0) == photos
