"""Every setting is documented: a new knob without a line in docs/configuration.md fails here."""

from __future__ import annotations

from phota.config import Settings
from tests.conftest import ROOT


def test_every_setting_is_in_the_configuration_page() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"PHOTA_{name.upper()}" not in page]
    assert missing == []
