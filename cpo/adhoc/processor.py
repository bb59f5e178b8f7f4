"""The port to the card processor (Stripe in production): what the ad-hoc rules need from it, nothing more.

Every call carries an idempotency key made from the payment's id (``auth:``, ``capture:``, ``cancel:``,
``refund:``): a retry after a lost answer does the thing once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Hold:
    """A hold on a card as the processor sees it now."""

    intent_id: str
    status: str
    """requires_payment_method, requires_confirmation, requires_action, processing, requires_capture,
    succeeded or canceled (Stripe's PaymentIntent statuses)."""
    amount: int
    currency: str
    client_secret: str | None = None
    """What the driver's browser confirms the payment with (never stored)."""
    captured: int = 0
    error: str | None = None
    """Why the processor refused, for the driver (a declined card)."""


class CardRefused(Exception):
    """The processor refused the card or the request; the message is fit for the driver."""


class ProcessorUnavailable(Exception):
    """The processor could not be reached or failed; try again later."""


class CardProcessor(Protocol):
    async def hold(self, amount: int, currency: str, key: str, metadata: dict[str, str]) -> Hold:
        """Put a hold of ``amount`` minor units on a card the driver will give (manual capture)."""
        ...

    async def get(self, intent_id: str) -> Hold: ...

    async def capture(self, intent_id: str, amount: int, key: str) -> Hold:
        """Take ``amount`` (at most the hold); the rest of the hold is released."""
        ...

    async def cancel(self, intent_id: str, key: str) -> Hold:
        """Release the whole hold; nothing is taken."""
        ...

    async def refund(self, intent_id: str, amount: int, key: str) -> str:
        """Give back part or all of what was taken; returns the refund's id."""
        ...
