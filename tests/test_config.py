"""Settings behaviour a deployment relies on."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import ValidationError

from phota.config import Settings


def test_generated_signing_key_is_shared_by_concurrent_starts(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: Settings(data_dir=tmp_path).signing_key(), range(16)))
    assert len(keys) == 1
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # readable by the owner only


def test_configured_secret_wins(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, secret_key="s3cret").signing_key() == b"s3cret"  # type: ignore[arg-type]
    assert not (tmp_path / "secret_key").exists()


def test_malformed_setting_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTA_REQUEST_TIMEOUT_S", "soon")
    with pytest.raises(ValidationError, match="request_timeout_s"):
        Settings()
