"""Money around work: reserve before, settle after, release on failure, refund on timeout.

Test keys never charge. Every hold carries a reference (request, job or profile id), so a
resumed job or a retried call finds its hold instead of taking a second one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from phota.billing.ledger import HoldOwnerKind, Ledger, Reservation
from phota.billing.prices import DEFAULT_PRICES, PriceTable, actual_cost, estimate, training_cost
from phota.billing.work import PaidWork
from phota.clock import Clock
from phota.engines.base import Usage
from phota.store.keys import Principal


class Charges:
    def __init__(
        self,
        ledger: Ledger,
        table: PriceTable = DEFAULT_PRICES,
        *,
        clock: Clock | None = None,
        hold_lease_s: float = 60.0,
    ) -> None:
        self.ledger = ledger
        self.table = table
        self.clock = clock or ledger.clock
        self.hold_lease_s = hold_lease_s

    def work(self, hold: Reservation | None, owner: HoldOwnerKind) -> PaidWork:
        """The unit of work that owns ``hold`` from here to its one settle or release."""
        return PaidWork(self.ledger, hold, owner=owner, lease_s=self.hold_lease_s, clock=self.clock)

    def _expiry(self, owner: HoldOwnerKind) -> datetime | None:
        return self.clock.now() + timedelta(seconds=self.hold_lease_s) if owner == "request" else None

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
        attempts: int = 1,
        owner: HoldOwnerKind = "request",
        session: Session | None = None,
    ) -> Reservation | None:
        """Reserve the most the request can cost; 402 when the balance cannot cover it.

        ``attempts``: engine calls per output the identity guard may make (1 without it).
        """
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
            attempts=attempts,
            table=self.table,
        )
        return self.ledger.reserve(
            principal.account_id,
            micros,
            reference,
            f"{operation} on {base_model}",
            owner=owner,
            expires_at=self._expiry(owner),
            session=session,
        )

    def settle_studio(
        self,
        work: PaidWork,
        *,
        operation: str,
        base_model: str,
        n: int,
        recognised_outputs: int,
        usage: Usage | None,
        extra_outputs: int = 0,
    ) -> None:
        if work.hold is not None:
            cost = actual_cost(
                operation, base_model, n, recognised_outputs, usage, extra_outputs=extra_outputs, table=self.table
            )
            detail = _usage_detail(usage, recognised_outputs)
            if extra_outputs:
                detail += f", identity guard regenerated: {extra_outputs}"
            work.settle(cost, detail)

    def hold_training(
        self, principal: Principal, tier: str, profile_id: str, session: Session | None = None
    ) -> Reservation | None:
        """A training's hold is owned by its profile's jobs (no expiry)."""
        if principal.is_test:
            return None
        return self.ledger.reserve(
            principal.account_id,
            training_cost(tier, table=self.table),
            profile_id,
            f"training ({tier})",
            owner="job",
            session=session,
        )

    def training_hold(self, account_id: str, profile_id: str) -> Reservation | None:
        """The hold of a profile's training, if it was paid (live key)."""
        return self.ledger.reservation(account_id, profile_id)

    def settle_in_full(self, hold: Reservation | None) -> None:
        if hold is not None:
            self.ledger.settle(hold, hold.micros)

    def release(self, hold: Reservation | None, *, timed_out: bool = False) -> None:
        if hold is not None:
            self.ledger.release(hold, "refund" if timed_out else "release")


def _usage_detail(usage: Usage | None, recognised_outputs: int) -> str:
    """What the provider reported, kept on the settle entry so every charge can be checked."""
    if usage is None:
        return f"with identity: {recognised_outputs}"
    return (
        f"{usage.provider}/{usage.model}: images {usage.images}, tokens in {usage.input_tokens} "
        f"(image {usage.input_image_tokens}), out {usage.output_tokens} (image {usage.output_image_tokens}), "
        f"credits {usage.credits:g}, with identity: {recognised_outputs}"
    )
