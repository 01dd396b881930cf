"""Money around work: reserve before, settle after, release on failure, refund on timeout.

Test keys never charge. Every hold carries a reference (request, job or profile id), so a
resumed job or a retried call finds its hold instead of taking a second one.
"""

from __future__ import annotations

from phota.billing.ledger import Ledger, Reservation
from phota.billing.prices import actual_cost, estimate, training_cost
from phota.engines.base import Usage
from phota.store.keys import Principal


class Charges:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def hold_studio(
        self,
        principal: Principal,
        *,
        operation: str,
        base_model: str,
        n: int,
        quality: str | None,
        resolution: str,
        input_images: int,
        prompt_chars: int,
        reference: str,
    ) -> Reservation | None:
        """Reserve the most the request can cost; 402 when the balance cannot cover it."""
        if principal.is_test:
            return None
        micros = estimate(
            operation,
            base_model,
            n,
            quality,
            resolution if operation in ("edit", "generate") else "2K",
            input_images=input_images,
            prompt_chars=prompt_chars,
        )
        return self.ledger.reserve(principal.account_id, micros, reference, f"{operation} on {base_model}")

    def settle_studio(
        self,
        hold: Reservation | None,
        *,
        operation: str,
        base_model: str,
        n: int,
        recognised_outputs: int,
        usage: Usage | None,
    ) -> None:
        if hold is not None:
            self.ledger.settle(hold, actual_cost(operation, base_model, n, recognised_outputs, usage))

    def hold_training(self, principal: Principal, tier: str, profile_id: str) -> Reservation | None:
        if principal.is_test:
            return None
        return self.ledger.reserve(principal.account_id, training_cost(tier), profile_id, f"training ({tier})")

    def training_hold(self, account_id: str, profile_id: str) -> Reservation | None:
        """The hold of a profile's training, if it was paid (live key)."""
        return self.ledger.reservation(account_id, profile_id)

    def settle_in_full(self, hold: Reservation | None) -> None:
        if hold is not None:
            self.ledger.settle(hold, hold.micros)

    def release(self, hold: Reservation | None, *, timed_out: bool = False) -> None:
        if hold is not None:
            self.ledger.release(hold, "refund" if timed_out else "release")
