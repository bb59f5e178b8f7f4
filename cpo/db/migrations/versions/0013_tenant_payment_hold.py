"""a tenant's own card payment hold

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 18:03:02.615530
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("payment_hold_minor", sa.BigInteger(), nullable=True))
    op.create_check_constraint(op.f("ck_tenants_payment_hold"), "tenants", "payment_hold_minor > 0")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_tenants_payment_hold"), "tenants", type_="check")
    op.drop_column("tenants", "payment_hold_minor")
