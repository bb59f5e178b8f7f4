"""The card processor port on Stripe's official SDK (async calls over httpx).

``CPO_STRIPE_API_BASE`` points the SDK at a Stripe-compatible server (tests run ``localstripe``)."""

from __future__ import annotations

from typing import Any

import stripe

from cpo.adhoc.processor import CardRefused, Hold, ProcessorUnavailable


def _hold(intent: Any, client_secret: bool = False) -> Hold:
    data = intent.to_dict() if hasattr(intent, "to_dict") else dict(intent)
    error = (data.get("last_payment_error") or {}).get("message")
    return Hold(
        intent_id=str(data["id"]), status=str(data["status"]), amount=int(data["amount"]),
        currency=str(data["currency"]).upper(), client_secret=data.get("client_secret") if client_secret else None,
        captured=int(data.get("amount_received") or 0), error=error,
    )  # fmt: skip


class StripeProcessor:
    def __init__(self, secret_key: str, api_base: str | None = None) -> None:
        options: dict[str, Any] = {"max_network_retries": 2}
        if api_base:
            options["base_addresses"] = {"api": api_base.rstrip("/")}
        self._client = stripe.StripeClient(secret_key, **options)

    async def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except stripe.CardError as error:
            raise CardRefused(error.user_message or "the card was declined") from None
        except stripe.InvalidRequestError as error:
            raise CardRefused(error.user_message or str(error)) from None
        except stripe.StripeError as error:
            raise ProcessorUnavailable(str(error)) from None

    async def hold(self, amount: int, currency: str, key: str, metadata: dict[str, str]) -> Hold:
        intent = await self._call(
            self._client.v1.payment_intents.create_async,
            {"amount": amount, "currency": currency.lower(), "capture_method": "manual",
             "payment_method_types": ["card"], "metadata": metadata},
            {"idempotency_key": key},
        )  # fmt: skip
        return _hold(intent, client_secret=True)

    async def get(self, intent_id: str) -> Hold:
        return _hold(await self._call(self._client.v1.payment_intents.retrieve_async, intent_id), client_secret=True)

    async def capture(self, intent_id: str, amount: int, key: str) -> Hold:
        intent = await self._call(self._client.v1.payment_intents.capture_async, intent_id,
                                  {"amount_to_capture": amount}, {"idempotency_key": key})  # fmt: skip
        return _hold(intent)

    async def cancel(self, intent_id: str, key: str) -> Hold:
        intent = await self._call(self._client.v1.payment_intents.cancel_async, intent_id, {},
                                  {"idempotency_key": key})  # fmt: skip
        return _hold(intent)

    async def refund(self, intent_id: str, amount: int, key: str) -> str:
        refund = await self._call(self._client.v1.refunds.create_async,
                                  {"payment_intent": intent_id, "amount": amount}, {"idempotency_key": key})  # fmt: skip
        return str(refund.id)


def verify_webhook(payload: bytes, signature: str, secret: str) -> dict[str, Any]:
    """The event, if ``Stripe-Signature`` proves it came from Stripe (HMAC-SHA256, 5 minutes' tolerance);
    otherwise ``ValueError``."""
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError:
        raise ValueError("the signature does not match") from None
    found: dict[str, Any] = event.to_dict()
    return found
