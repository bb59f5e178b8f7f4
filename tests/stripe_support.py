"""localstripe as a separate server for tests, and what a driver's browser does with Stripe.js (confirm a
payment with a test card), done with the official SDK against it."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import stripe

from tests.platform import free_port, peer_process

SCRIPT = Path(__file__).resolve().parent / "peers" / "localstripe_server.py"
SECRET_KEY = "sk_test_localstripe0000000000"
PUBLISHABLE_KEY = "pk_test_localstripe0000000000"
WEBHOOK_SECRET = "whsec_localstripe_test_secret"


@dataclass
class LocalStripe:
    url: str

    def client(self) -> stripe.StripeClient:
        return stripe.StripeClient(SECRET_KEY, base_addresses={"api": self.url})

    def send_webhooks_to(self, url: str, name: str = "platform") -> None:
        answer = httpx.post(f"{self.url}/_config/webhooks/{name}", data={"url": url, "secret": WEBHOOK_SECRET})
        answer.raise_for_status()

    def pay(self, intent_id: str, card: str = "pm_card_visa") -> stripe.PaymentIntent:
        """The driver's card, as the Payment Element would confirm it (localstripe wants the method set first)."""
        client = self.client()
        client.v1.payment_intents.update(intent_id, {"payment_method": card})
        return client.v1.payment_intents.confirm(intent_id)


@contextlib.contextmanager
def serve_localstripe(log: Path) -> Iterator[LocalStripe]:
    port = free_port()
    running = LocalStripe(f"http://127.0.0.1:{port}")

    def ready() -> object:
        return httpx.get(f"{running.url}/v1/balance", headers={"Authorization": f"Bearer {SECRET_KEY}"}, timeout=2)

    with peer_process([sys.executable, str(SCRIPT), str(port)], log, ready, "localstripe"):
        yield running


def signed(body: bytes, secret: str, stamp: int | None = None) -> dict[str, str]:
    """The ``Stripe-Signature`` header Stripe would send with ``body`` (HMAC-SHA256 of ``t.body``)."""
    at = str(int(time.time()) if stamp is None else stamp)
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={at},v1={mac}"}
