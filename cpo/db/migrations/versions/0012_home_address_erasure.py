"""a GDPR erasure also takes a home charger's address out of its CDRs

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 18:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BILLED = (
    "number", "ocpi_id", "credit", "credit_of", "session_class", "payer", "partner", "currency", "start_date_time",
    "end_date_time", "total_energy_kwh", "total_time_h", "total_parking_time_h", "total_excl", "total_incl",
    "energy_excl", "energy_incl", "time_excl", "time_incl", "parking_excl", "parking_incl", "fixed_excl",
    "fixed_incl", "reservation_excl", "reservation_incl", "tariff", "charging_periods", "auth_method",
    "signed_data", "meter_id", "created_at", "tenant_id",
)  # fmt: skip
"""What a CDR billed: never changed (0007 sealed ``cdr_location`` with these)."""
REFERENCES = ("session_id", "person_id", "cost_centre_id", "project_id", "department_id", "site_id",
              "tariff_version_id")  # fmt: skip
REDACTABLE = ("cdr_token", "cdr_location")
"""Personal data in a CDR (a driver's token; a home charger's address): changed only by a GDPR erasure."""


def _sealed(sealed: tuple[str, ...], redactable: tuple[str, ...]) -> str:
    new, old = (", ".join(f"{row}.{c}" for c in sealed) for row in ("NEW", "OLD"))
    redacted = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in redactable)
    cut = " OR ".join(f"(NEW.{c} IS DISTINCT FROM OLD.{c} AND NEW.{c} IS NOT NULL)" for c in REFERENCES)
    return f"""
        CREATE OR REPLACE FUNCTION cdrs_sealed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'a CDR is never deleted: issue a credit CDR instead';
            END IF;
            IF ROW({new}) IS DISTINCT FROM ROW({old}) THEN
                RAISE EXCEPTION 'a CDR is never changed: issue a credit CDR instead';
            END IF;
            IF ({redacted}) AND current_setting('cpo.cdr_redaction', true) IS DISTINCT FROM 'on' THEN
                RAISE EXCEPTION 'a CDR''s token or home address changes only by GDPR erasure';
            END IF;
            IF {cut} THEN
                RAISE EXCEPTION 'a CDR reference may only be cut, never changed';
            END IF;
            RETURN NEW;
        END $$
    """


def upgrade() -> None:
    op.execute(_sealed(BILLED, REDACTABLE))


def downgrade() -> None:
    op.execute(_sealed((*BILLED[:27], "cdr_location", *BILLED[27:]), ("cdr_token",)))
