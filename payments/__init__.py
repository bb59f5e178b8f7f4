"""Ad-hoc QR payments: QR codes, pay pages, Stripe, webhooks."""
