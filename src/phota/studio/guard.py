"""The identity guard (a phota extension): regenerate outputs in which a referenced person is missing.

An output passes when every person the engine was asked to show is recognised in it with a
similarity of at least ``min_score``. Outputs that fail are regenerated, all in one engine call
per round, until they pass or ``max_attempts`` calls have been made for them; each output keeps
its best attempt (the highest lowest-score over the required people; the first on a tie).
"""

from __future__ import annotations

from dataclasses import dataclass

Scores = dict[str, float]  # profile_id -> similarity, for the profiles recognised in one output

# Seeds of regeneration rounds, so that a provider (or the emulator) that honours seeds draws a
# new picture each round, and a repeated request draws the same ones.
ROUND_SEED_STEP = 1_000_003


@dataclass(frozen=True)
class GuardPolicy:
    min_score: float  # 0.0-1.0; every recognised match already scores >= 0.5
    max_attempts: int  # 1-3 engine calls per output, the first included

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= 1.0 or not 1 <= self.max_attempts <= 3:
            raise ValueError("identity_guard needs min_score in [0, 1] and max_attempts in 1..3")


def passes(scores: Scores, required: list[str], min_score: float) -> bool:
    return all(pid in scores and scores[pid] >= min_score for pid in required)


def strength(scores: Scores, required: list[str]) -> float:
    """How well an output shows the required people: its weakest one's similarity (0 if absent)."""
    return min((scores.get(pid, 0.0) for pid in required), default=1.0)


def failing(outputs: list[Scores], required: list[str], min_score: float) -> list[int]:
    """Indexes of the outputs to regenerate."""
    return [i for i, scores in enumerate(outputs) if not passes(scores, required, min_score)]


def round_seed(seed: int | None, round_index: int) -> int:
    return ((seed or 0) + ROUND_SEED_STEP * round_index) % 2_147_483_648
