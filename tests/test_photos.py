"""The one helper that finds the shared test photos fails clearly, never falls back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import photos


def test_photos_are_found_through_the_manifest() -> None:
    assert (photos.photos_dir() / "MANIFEST.csv").is_file()
    assert photos.photo_path(photos.identity_files("obama")[0]).is_file()


def test_a_missing_folder_names_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(photos, "_CONFIGURED", str(tmp_path / "nowhere"))
    with pytest.raises(photos.PhotosMissing, match="set PHOTA_TEST_PHOTOS"):
        photos.photo_path("df_p01_img1.jpg")


def test_a_missing_photo_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "MANIFEST.csv").write_text("file,identity\n")
    monkeypatch.setattr(photos, "_CONFIGURED", str(tmp_path))
    with pytest.raises(photos.PhotosMissing, match=r"'df_p01_img1\.jpg' is missing"):
        photos.photo_path("df_p01_img1.jpg")
