"""auto-registration per tenant, sign-in throttle per account

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("enrolment_secret_hash", sa.String(length=64), nullable=True))
    op.add_column("tenants", sa.Column("station_identity_prefix", sa.String(length=48), nullable=True))
    op.create_unique_constraint(op.f("uq_tenants_enrolment_secret_hash"), "tenants", ["enrolment_secret_hash"])
    op.create_unique_constraint(op.f("uq_tenants_station_identity_prefix"), "tenants", ["station_identity_prefix"])
    # Auto-registration used to need nothing from the station: a tenant that had it on keeps the switch but no
    # station gets in until its admin makes an enrolment secret.
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_key", sa.String(length=64), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    op.create_index("ix_sign_in_failures_account_key_failed_at", "sign_in_failures", ["account_key", "failed_at"])
    op.create_index(op.f("ix_sign_in_failures_failed_at"), "sign_in_failures", ["failed_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sign_in_failures_failed_at"), table_name="sign_in_failures")
    op.drop_index("ix_sign_in_failures_account_key_failed_at", table_name="sign_in_failures")
    op.drop_table("sign_in_failures")
    op.drop_constraint(op.f("uq_tenants_station_identity_prefix"), "tenants", type_="unique")
    op.drop_constraint(op.f("uq_tenants_enrolment_secret_hash"), "tenants", type_="unique")
    op.drop_column("tenants", "station_identity_prefix")
    op.drop_column("tenants", "enrolment_secret_hash")
