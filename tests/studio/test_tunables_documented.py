"""Every tunable of the studio engines has a row in docs/enhance.md's tables: a new threshold without one
fails here (the docs promise every tunable threshold explained)."""

from __future__ import annotations

import re
from types import ModuleType

import pytest

from phota.studio import deblock, deblur, enhance, exposure, fade, illuminant, light_prior, noise, remix, veil, vignette
from tests.conftest import ROOT

# Constants that are a correction's identity (what leaves the photo as it is), not a setting.
IDENTITIES = {"NO_FADE"}


def _tunables(module: ModuleType) -> list[str]:
    # Module-level UPPER_CASE numbers and tuples of numbers are the tunables; arrays and tables are data.
    return [
        name
        for name, value in vars(module).items()
        if re.fullmatch(r"[A-Z][A-Z0-9_]+", name)
        and not isinstance(value, bool)
        and isinstance(value, int | float | tuple)
        and name not in IDENTITIES
    ]


def _undocumented(module: ModuleType) -> list[str]:
    page = (ROOT / "docs" / "enhance.md").read_text()
    # A tunable's row names it in its first cell; a name mentioned elsewhere (the table of which module holds
    # which constants) is not a row that explains it.
    first_cells = "\n".join(line.split("|")[1] for line in page.splitlines() if line.startswith("| `"))
    return [name for name in _tunables(module) if f"`{name}`" not in first_cells]


@pytest.mark.parametrize(
    ("module", "at_least"),
    [
        (enhance, 5),
        (exposure, 10),
        (fade, 4),
        (veil, 4),
        (illuminant, 10),
        (noise, 5),
        (deblock, 5),
        (vignette, 5),
        (deblur, 10),
        (remix, 10),
        (light_prior, 5),
    ],
    ids=lambda m: m.__name__.rsplit(".", 1)[-1] if isinstance(m, ModuleType) else None,
)
def test_every_tunable_has_a_row_in_the_enhance_page(module: ModuleType, at_least: int) -> None:
    assert len(_tunables(module)) >= at_least  # the reading finds the constants at all
    assert _undocumented(module) == []


def test_an_undocumented_threshold_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # Negative control: a new threshold the page does not name fails the check.
    monkeypatch.setattr(deblur, "DEBLUR_NEW_GATE", (0.1, 0.2), raising=False)
    assert _undocumented(deblur) == ["DEBLUR_NEW_GATE"]
