"""``[[profile_id]]`` tokens: parsing, and rewriting the prompt for an engine."""

from __future__ import annotations

import re
import string

TOKEN = re.compile(r"\[\[([^\[\]]+)\]\]")


def referenced_ids(prompt: str) -> list[str]:
    """Profile ids named in a prompt, in order of first appearance, without duplicates."""
    return list(dict.fromkeys(m.strip() for m in TOKEN.findall(prompt or "")))


def person_labels(profile_ids: list[str]) -> dict[str, str]:
    """Stable, engine-friendly names: person A, person B, ... (then person AA, ...)."""
    letters = string.ascii_uppercase
    labels = {}
    for i, pid in enumerate(profile_ids):
        name = letters[i % 26] * (i // 26 + 1)
        labels[pid] = f"person {name}"
    return labels


def rewrite_prompt(prompt: str, labels: dict[str, str]) -> str:
    """Replace each token by its person label, so the engine can tell people apart."""
    return TOKEN.sub(lambda m: labels.get(m.group(1).strip(), m.group(0)), prompt or "")
