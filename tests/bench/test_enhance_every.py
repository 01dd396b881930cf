"""The every-photo enhance tables say what the scores say: which family phota loses and on what, the best
other method, the do-no-harm verdict; and the per-photo CSV reads back into the same cases."""

from __future__ import annotations

from pathlib import Path

from bench.degrade import GOOD
from bench.enhance import METHODS, PHOTA, Case, write_cases
from bench.enhance_every import read_cases, report, table


def _case(family: str, photo: str, ssim: dict[str, float], de: dict[str, float], split: str = "tune") -> Case:
    c = Case(split, family, photo, {"radius_px": 1.5}, (120, 80), 1)
    for m in METHODS:
        c.scores[(m, "2K")] = (ssim.get(m, 0.9), de.get(m, 5.0))
    return c


def _row(rows: list[str], family: str) -> list[str]:
    (row,) = [r for r in rows if r.startswith(f"| {family} |")]
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_a_family_is_lost_on_the_metric_another_method_wins() -> None:
    cases = [
        _case("haze", "a.jpg", {PHOTA: 0.95}, {PHOTA: 2.0}),
        _case("haze", "b.jpg", {PHOTA: 0.93}, {PHOTA: 3.0}),
        # defocus: no-op has the better ΔE on average, phota the better SSIM
        _case("defocus", "a.jpg", {PHOTA: 0.95}, {PHOTA: 2.0, "no-op": 1.0}),
        _case("defocus", "b.jpg", {PHOTA: 0.95}, {PHOTA: 1.0, "no-op": 1.5}),
        _case(GOOD, "a.jpg", {PHOTA: 0.99, "no-op": 1.0}, {PHOTA: 3.0, "no-op": 0.0}),
    ]
    rows, text = table(cases, "tune")
    haze, defocus, good = _row(rows, "haze"), _row(rows, "defocus"), _row(rows, GOOD)
    assert haze[-1] == "—"
    assert defocus[-1] == "ΔE"
    assert defocus[-3] == "no-op 1.250"  # best other ΔE: the mean of 1.0 and 1.5
    assert defocus[2] == "**0.9500** / 1.500"
    assert good[-1] == "SSIM and ΔE (do-no-harm NOT met)"  # ΔE 3 > 2
    # The good family is not a family to win; the other two count.
    assert text == "phota best in 2/2 degraded families on SSIM and 1/2 on ΔE"
    # A split with no cases has no rows.
    assert table(cases, "heldout")[0][2:] == []


def test_cases_read_back_from_the_csv(tmp_path: Path) -> None:
    cases = [
        _case("haze", "a.jpg", {PHOTA: 0.95}, {PHOTA: 2.0}),
        _case("haze", "a.jpg", {PHOTA: 0.91}, {PHOTA: 4.0}, split="heldout"),
    ]
    path = tmp_path / "every.csv"
    write_cases(cases, path)
    back = sorted(read_cases([path]), key=lambda c: c.split)
    assert [(c.split, c.family, c.photo, c.size, c.params) for c in back] == [
        ("heldout", "haze", "a.jpg", (120, 80), {"radius_px": 1.5}),
        ("tune", "haze", "a.jpg", (120, 80), {"radius_px": 1.5}),
    ]
    assert back[0].scores[(PHOTA, "2K")] == (0.91, 4.0)
    assert back[1].scores == cases[0].scores
    body = report(back, None)
    assert "#### TUNE, every photo" in body and "#### HELD-OUT, every photo" in body
    assert "TUNE 1 photos, HELD-OUT 1 photos; 2 cases" in body
