"""roaming partner parties and tokens per partner

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "roaming_parties",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("party_id", sa.String(length=3), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "partner_id"],
            ["roaming_partners.tenant_id", "roaming_partners.id"],
            name=op.f("fk_roaming_parties_tenant_id_partner_id_roaming_partners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_roaming_parties_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "country_code", "party_id", name=op.f("pk_roaming_parties")),
    )
    op.create_index(op.f("ix_roaming_parties_tenant_id"), "roaming_parties", ["tenant_id"], unique=False)
    op.create_index("ix_roaming_parties_partner", "roaming_parties", ["partner_id"], unique=False)
    # Each partner keeps the parties it registered with; where two claimed one party (possible before), the
    # registered one wins, then the earliest.
    op.execute("""
        INSERT INTO roaming_parties (tenant_id, country_code, party_id, partner_id)
        SELECT DISTINCT ON (p.tenant_id, upper(r->>'country_code'), upper(r->>'party_id'))
               p.tenant_id, upper(r->>'country_code'), upper(r->>'party_id'), p.id
        FROM roaming_partners p CROSS JOIN LATERAL jsonb_array_elements(p.roles) AS r
        WHERE length(r->>'country_code') = 2 AND length(r->>'party_id') = 3
        ORDER BY p.tenant_id, upper(r->>'country_code'), upper(r->>'party_id'), p.status <> 'registered',
                 p.created_at
    """)

    op.drop_constraint(
        op.f("uq_roaming_tokens_tenant_id_country_code_party_id_uid_type"), "roaming_tokens", type_="unique"
    )
    op.create_index(
        "uq_roaming_tokens_partner_token",
        "roaming_tokens",
        ["tenant_id", "partner_id", "country_code", "party_id", "uid", "type"],
        unique=True,
    )

    op.add_column("charging_sessions", sa.Column("partner_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_charging_sessions_partner_id_roaming_partners"),
        "charging_sessions",
        "roaming_partners",
        ["partner_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(op.f("ix_charging_sessions_partner_id"), "charging_sessions", ["partner_id"], unique=False)
    # Sessions named their partner by party code only: give each to the partner that holds that party now.
    op.execute("""
        UPDATE charging_sessions s SET partner_id = rp.partner_id
        FROM roaming_parties rp
        WHERE s.partner IS NOT NULL AND rp.tenant_id = s.tenant_id
          AND rp.country_code = substr(s.partner, 1, 2) AND rp.party_id = substr(s.partner, 3)
    """)


def downgrade() -> None:
    op.drop_index(op.f("ix_charging_sessions_partner_id"), table_name="charging_sessions")
    op.drop_constraint(
        op.f("fk_charging_sessions_partner_id_roaming_partners"), "charging_sessions", type_="foreignkey"
    )
    op.drop_column("charging_sessions", "partner_id")
    op.drop_index("uq_roaming_tokens_partner_token", table_name="roaming_tokens")
    # one token per party and uid again: the newest copy stays
    op.execute("""
        DELETE FROM roaming_tokens t USING roaming_tokens n
        WHERE (t.tenant_id, t.country_code, t.party_id, t.uid, t.type)
              = (n.tenant_id, n.country_code, n.party_id, n.uid, n.type)
          AND (t.last_updated, t.id) < (n.last_updated, n.id)
    """)
    op.create_unique_constraint(
        op.f("uq_roaming_tokens_tenant_id_country_code_party_id_uid_type"),
        "roaming_tokens",
        ["tenant_id", "country_code", "party_id", "uid", "type"],
    )
    op.drop_index("ix_roaming_parties_partner", table_name="roaming_parties")
    op.drop_index(op.f("ix_roaming_parties_tenant_id"), table_name="roaming_parties")
    op.drop_table("roaming_parties")
