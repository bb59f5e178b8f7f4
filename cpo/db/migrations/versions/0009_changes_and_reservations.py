"""sites: changed_at (when a site or anything it shows last changed), facilities, parking type, energy mix;
roaming reservations

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sites", sa.Column("facilities", postgresql.ARRAY(sa.String(length=20)), server_default="{}",
                                     nullable=False))  # fmt: skip
    op.add_column("sites", sa.Column("parking_type", sa.String(length=20), nullable=True))
    op.add_column("sites", sa.Column("energy_mix", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column(
        "sites", sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)
    )
    op.execute(
        "UPDATE sites SET changed_at = GREATEST(sites.updated_at, COALESCE((SELECT max(GREATEST(e.updated_at, "
        "COALESCE(c.updated_at, e.updated_at))) FROM stations s JOIN evses e ON e.station_id = s.id "
        "LEFT JOIN connectors c ON c.evse_id = e.id WHERE s.site_id = sites.id), sites.updated_at))"
    )
    op.create_index(
        "ix_sites_published",
        "sites",
        ["tenant_id", "changed_at", "id"],
        unique=False,
        postgresql_where=sa.text("publish AND home_person_id IS NULL"),
    )
    op.create_table(
        "roaming_reservations",
        sa.Column("id", sa.Integer(), sa.Identity(always=True), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("reservation_id", sa.String(length=36), nullable=False),
        sa.Column("station_id", sa.Uuid(), nullable=False),
        sa.Column("evse_uid", sa.String(length=36), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("response_url", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "status IN ('requested', 'active', 'refused', 'cancelled')", name=op.f("ck_roaming_reservations_status")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "partner_id"],
            ["roaming_partners.tenant_id", "roaming_partners.id"],
            name=op.f("fk_roaming_reservations_tenant_id_partner_id_roaming_partners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "station_id"],
            ["stations.tenant_id", "stations.id"],
            name=op.f("fk_roaming_reservations_tenant_id_station_id_stations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_roaming_reservations_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roaming_reservations")),
        sa.UniqueConstraint(
            "partner_id", "reservation_id", name=op.f("uq_roaming_reservations_partner_id_reservation_id")
        ),
    )
    op.create_index(op.f("ix_roaming_reservations_tenant_id"), "roaming_reservations", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_roaming_reservations_tenant_id"), table_name="roaming_reservations")
    op.drop_table("roaming_reservations")
    op.drop_index(
        "ix_sites_published", table_name="sites", postgresql_where=sa.text("publish AND home_person_id IS NULL")
    )
    op.drop_column("sites", "changed_at")
    op.drop_column("sites", "energy_mix")
    op.drop_column("sites", "parking_type")
    op.drop_column("sites", "facilities")
