"""The every-photo enhance tables say what the scores say: which family phota loses and on what, the best
other method, the do-no-harm verdict; and the per-photo CSV reads back into the same cases."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.case_cache import CaseCache, fingerprint
from bench.degrade import GOOD
from bench.enhance import METHODS, PHOTA, PHOTOS, Case, ServerPath, run_case, write_cases
from bench.enhance_every import apply_overrides, cached_case, read_cases, report, table
from bench.photoset import Photo, load_photoset

from bench import enhance_every
from phota.config import Settings
from phota.studio import deblur, enhance, illuminant


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
    # Lost on ΔE by the mean, but one photo says +1.0 and the other −0.5: nothing is decided.
    assert defocus[-1] == "ΔE (within noise)"
    assert defocus[-5] == "no-op 1.250"  # best other ΔE: the mean of 1.0 and 1.5
    assert defocus[-2] == "+0.250 [−0.500, +1.000]"  # phota − no-op, and its interval over the two photos
    assert defocus[-3] == "+0.05000 [+0.05000, +0.05000]"  # SSIM: 0.95 against 0.90 on both
    assert defocus[2] == "**0.9500** / 1.500"
    # One photo is one cluster: never decided, however large the difference.
    assert good[-1] == "SSIM (within noise) and ΔE (within noise) (do-no-harm NOT met)"  # ΔE 3 > 2
    # The good family is not a family to win; the other two count. Haze is won on both metrics by every photo
    # (decided); defocus SSIM likewise; its ΔE is lost within noise.
    assert text == (
        "phota best in 2/2 degraded families on SSIM and 1/2 on ΔE; decided (the 95 % interval excludes 0): "
        "SSIM 2 won, 0 lost; ΔE 1 won, 0 lost"
    )
    # A split with no cases has no rows.
    assert table(cases, "heldout")[0][2:] == []


def test_a_loss_every_photo_shows_is_decided_and_the_photos_of_one_person_count_once() -> None:
    # Six photos lose to no-op by 0.2 ΔE each: a decided loss.
    lost = [_case("defocus", f"{k}.jpg", {}, {PHOTA: 1.2, "no-op": 1.0}) for k in range(6)]
    rows, text = table(lost, "tune")
    assert _row(rows, "defocus")[-1] == "ΔE (decided)"
    assert text.endswith("ΔE 0 won, 1 lost")
    # Five photos of one person win by 1.0 and three other scenes lose by 0.1: counted photo by photo the win
    # looks certain; drawn by person (four clusters), the person may not be drawn at all.
    mixed = [_case("haze", f"p{k}.jpg", {}, {PHOTA: 1.0, "no-op": 2.0}) for k in range(5)]
    mixed += [_case("haze", f"s{k}.jpg", {}, {PHOTA: 1.1, "no-op": 1.0}) for k in range(3)]
    by_photo = _row(table(mixed, "tune")[0], "haze")[-1]
    person = {f"p{k}.jpg": "someone" for k in range(5)}
    by_person = _row(table(mixed, "tune", person)[0], "haze")
    assert by_photo == "—" and by_person[-1] == "—"  # won on the mean either way
    assert table(mixed, "tune")[1].endswith("ΔE 1 won, 0 lost")
    assert table(mixed, "tune", person)[1].endswith("ΔE 0 won, 0 lost")
    # The interval's top is the draws without that person: the other scenes' +0.1.
    assert by_person[-2].startswith("−0.587 [−") and by_person[-2].endswith(", +0.100]")


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
    # A run whose cases came from the cache says so beside its time, which is not a fresh run's; one that
    # filled the cache (no case found there) is a fresh run and does not.
    assert "every case but phota's output read from the case cache" in report(back, 12.0, cached=2)
    assert "1 of the 2 cases but phota's output read from the case cache" in report(back, 12.0, cached=1)
    assert "case cache" not in report(back, 12.0, cached=0)


# ----------------------------------------------------------------------------- the case cache and --set

CHIP = "dlib_John_Salley_000183_02159543.jpg"  # a 150 px TUNE face chip: a case in well under a second
WARM = "warm (2800–4500 K)"


@pytest.fixture(scope="module")
def server() -> Iterator[ServerPath]:
    path = ServerPath(Settings())
    yield path
    path.close()


def _photo(name: str) -> Photo:
    (photo,) = [p for p in load_photoset(PHOTOS)[0] if p.file == name]
    return photo


def test_a_cached_case_scores_what_the_uncached_run_does(
    server: ServerPath, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = _photo(CHIP)
    plain, _ = asyncio.run(run_case(server, photo, WARM, keep_thumbs=False, scales=("2K",)))
    cache = CaseCache(tmp_path, key="sources")
    filled, hit = asyncio.run(cached_case(server, cache, photo, WARM))
    assert len(list(tmp_path.rglob("*.npz"))) == 1 and not hit
    # Read back, the case never goes through the degradation or the server's decoding again.
    monkeypatch.setattr(enhance_every, "upload_case", _must_not_run)
    reused, hit = asyncio.run(cached_case(server, cache, photo, WARM))
    assert hit  # counted as read from the cache (the footer's "N of the M cases")
    for case in (filled, reused):
        assert case.scores == plain.scores
        assert (case.params, case.size, case.faces) == (plain.params, plain.size, plain.faces)
    # phota's output is not cached: the engine told to leave the white balance out scores otherwise on the same
    # case, while the baselines' scores stay what the cache holds.
    monkeypatch.setattr(server.engine, "without", ("wb_log_gain",))
    unbalanced, _ = asyncio.run(cached_case(server, cache, photo, WARM))
    assert unbalanced.scores[(PHOTA, "2K")][1] > plain.scores[(PHOTA, "2K")][1] + 1.0
    assert {k: v for k, v in unbalanced.scores.items() if k[0] != PHOTA} == {
        k: v for k, v in plain.scores.items() if k[0] != PHOTA
    }


def _must_not_run(*args: object) -> None:
    raise AssertionError("a cached case was prepared again")


def test_the_cache_misses_when_its_sources_or_the_photo_change(server: ServerPath, tmp_path: Path) -> None:
    photo = _photo(CHIP)
    asyncio.run(cached_case(server, CaseCache(tmp_path, key="sources"), photo, WARM))
    data = (PHOTOS / CHIP).read_bytes()
    assert CaseCache(tmp_path, key="sources").load("tune", WARM, CHIP, data) is not None
    assert CaseCache(tmp_path, key="other sources").load("tune", WARM, CHIP, data) is None
    assert CaseCache(tmp_path, key="sources").load("tune", WARM, CHIP, data + b"\0") is None
    assert CaseCache(tmp_path, key="sources").load("tune", GOOD, CHIP, data) is None


def test_the_fingerprint_follows_every_source(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("A = 1\n")
    (tmp_path / "b.py").write_text("B = 1\n")
    paths = ("pkg", "b.py")
    before = fingerprint(paths, tmp_path)
    assert fingerprint(paths, tmp_path) == before
    (tmp_path / "pkg" / "a.py").write_text("A = 2\n")
    changed = fingerprint(paths, tmp_path)
    assert changed != before
    (tmp_path / "pkg" / "c.py").write_text("")  # a new module in a folder counts too
    assert fingerprint(paths, tmp_path) != changed
    # The repository's own sources have a fingerprint, and it is what a cache is keyed by by default.
    assert CaseCache(tmp_path).dir.name == fingerprint()


def test_set_changes_a_tunable_wherever_the_engine_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (enhance, deblur):
        monkeypatch.setattr(module, "DEBLUR_BLUR", deblur.DEBLUR_BLUR)
    monkeypatch.setattr(illuminant, "WITNESS_WEIGHT", illuminant.WITNESS_WEIGHT)
    apply_overrides(["DEBLUR_BLUR=(0.7, 0.9)", "WITNESS_WEIGHT=1"])
    assert enhance.DEBLUR_BLUR == deblur.DEBLUR_BLUR == (0.7, 0.9)  # enhance imports deblur's by name
    assert illuminant.WITNESS_WEIGHT == 1.0 and isinstance(illuminant.WITNESS_WEIGHT, float)
    for wrong in [
        "NOT_A_TUNABLE=1",
        "WITNESS_WEIGHT",
        "WITNESS_WEIGHT='a'",
        "DEBLUR_BLUR=(1.0,)",
        "smoothstep=1",
        "WITNESS_WEIGHT=(",
    ]:
        with pytest.raises(ValueError, match="--set"):
            apply_overrides([wrong])
    assert illuminant.WITNESS_WEIGHT == 1.0  # a refused value changes nothing
