"""A card processor of our own, behind the same port as Stripe's, for what localstripe cannot show: idempotency
keys honoured (a repeated key does the thing once and answers the same), holds that the processor itself
cancels, and an outage."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from cpo.adhoc.processor import CardRefused, Hold, ProcessorUnavailable

_ids = itertools.count(1)


@dataclass
class FakeProcessor:
    holds: dict[str, Hold] = field(default_factory=dict)
    answers: dict[str, object] = field(default_factory=dict)
    """Idempotency key -> the answer given the first time."""
    effects: list[tuple[str, str]] = field(default_factory=list)
    """(operation, key) of every call that changed something."""
    calls: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False
    capture_refusal: str | None = None
    """Refuse every capture with this message (e.g. an amount below the processor's minimum)."""

    def _once(self, operation: str, key: str) -> object | None:
        self.calls.append((operation, key))
        if self.down:
            raise ProcessorUnavailable("the processor is down")
        return self.answers.get(key)

    async def hold(self, amount: int, currency: str, key: str, metadata: dict[str, str]) -> Hold:
        if (seen := self._once("hold", key)) is not None:
            assert isinstance(seen, Hold)
            return seen
        intent = f"pi_fake{next(_ids)}"
        hold = Hold(intent, "requires_payment_method", amount, currency, client_secret=f"{intent}_secret_x")
        self.holds[intent] = hold
        self.answers[key] = hold
        self.effects.append(("hold", key))
        return hold

    def authorize(self, intent_id: str) -> Hold:
        """The driver's card is confirmed: the hold is on it."""
        found = self.holds[intent_id]
        self.holds[intent_id] = Hold(intent_id, "requires_capture", found.amount, found.currency)
        return self.holds[intent_id]

    async def get(self, intent_id: str) -> Hold:
        self.calls.append(("get", intent_id))
        return self.holds[intent_id]

    async def capture(self, intent_id: str, amount: int, key: str) -> Hold:
        if (seen := self._once("capture", key)) is not None:
            assert isinstance(seen, Hold)
            return seen
        found = self.holds[intent_id]
        if self.capture_refusal:
            raise CardRefused(self.capture_refusal)
        if found.status != "requires_capture" or amount > found.amount:
            raise CardRefused(f"cannot capture a {found.status} payment")
        taken = Hold(intent_id, "succeeded", found.amount, found.currency, captured=amount)
        self.holds[intent_id] = self.answers[key] = taken
        self.effects.append(("capture", key))
        return taken

    async def cancel(self, intent_id: str, key: str) -> Hold:
        if (seen := self._once("cancel", key)) is not None:
            assert isinstance(seen, Hold)
            return seen
        found = self.holds[intent_id]
        if found.status in ("succeeded", "canceled"):
            raise CardRefused(f"cannot cancel a {found.status} payment")
        released = Hold(intent_id, "canceled", found.amount, found.currency)
        self.holds[intent_id] = self.answers[key] = released
        self.effects.append(("cancel", key))
        return released

    async def refund(self, intent_id: str, amount: int, key: str) -> str:
        if (seen := self._once("refund", key)) is not None:
            return str(seen)
        self.answers[key] = f"re_fake{next(_ids)}"
        self.effects.append(("refund", key))
        return str(self.answers[key])
