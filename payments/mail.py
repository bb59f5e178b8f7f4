"""The receipt by e-mail, for a driver who left an address: sent once the payment is settled, with the PDF
attached; the address is then forgotten (it was given for this one message)."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

from cpo.adhoc import service as adhoc
from cpo.db.base import utcnow
from cpo.settings import PaymentSettings
from cpo.web.ui.i18n import translate
from payments.pages import receipt_document
from payments.wording import minor_money

log = logging.getLogger("cpo.payments")


def _send(smtp_url: str, message: EmailMessage) -> None:
    parts = urlsplit(smtp_url)
    secure = parts.scheme == "smtps"
    port = parts.port or (465 if secure else 587)
    context = ssl.create_default_context()
    with (smtplib.SMTP_SSL(parts.hostname or "localhost", port, context=context, timeout=30) if secure
          else smtplib.SMTP(parts.hostname or "localhost", port, timeout=30)) as smtp:  # fmt: skip
        if not secure and smtp.has_extn("starttls"):
            smtp.starttls(context=context)
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(message)


async def send_receipt(sessions: Callable[[], Any], settings: PaymentSettings, payment_id: uuid.UUID) -> None:
    """Once: a payment that is settled (taken, or released) and has an address gets its receipt."""
    if not settings.smtp_url:
        return
    async with sessions() as db, db.begin():
        payment = await adhoc.by_id(db, payment_id)
        if payment is None or not payment.email or payment.receipt_sent_at is not None:
            return
        if payment.status not in ("captured", "cancelled"):
            return
        lang = payment.locale
        message = EmailMessage()
        message["From"], message["To"] = settings.mail_from, payment.email
        message["Subject"] = (
            translate(lang, "pay.receipt") + " " + minor_money(payment.captured_minor, payment.currency, lang)
        )
        message.set_content(translate(lang, f"pay.status.{payment.status}"))
        message.add_attachment(await receipt_document(db, payment, lang), maintype="application", subtype="pdf",
                               filename=f"receipt-{payment.id}.pdf")  # fmt: skip
        payment.receipt_sent_at = utcnow()  # claimed: another node's handler sends nothing
    try:  # no row lock is held while the mail server takes its time
        await asyncio.to_thread(_send, settings.smtp_url, message)
    except Exception:
        async with sessions() as db, db.begin():
            if (payment := await adhoc.by_id(db, payment_id)) is not None:
                payment.receipt_sent_at = None  # sent again when the event is retried
        raise
    async with sessions() as db, db.begin():
        if (payment := await adhoc.by_id(db, payment_id)) is not None:
            payment.email = None  # sent: the address is forgotten
    log.info("receipt e-mailed", extra={"payment": str(payment_id)})
