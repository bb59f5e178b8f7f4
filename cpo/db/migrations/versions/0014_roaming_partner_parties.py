"""roaming partner parties and tokens per partner

Each partner gets the parties it declared in its credentials roles; where two partners of a tenant declared
one party (possible before: a newcomer could register with the party of one that had closed), the registered
one holds it, then the earliest.

Old sessions named their partner by party code only. A party only one partner ever declared: its sessions
go to that partner. A party several partners declared: a session goes to the one of them that existed
(``created_at``) when it started, if only one did; otherwise to no partner (``partner_id`` NULL): shown to
nobody rather than to the wrong one, so a partner that took over a closed partner's party never sees that
partner's old sessions and CDRs. "Declared" is what each partner's roles say now (the only record kept).

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
    # registered one wins, then the earliest (its old sessions are settled below, not by this).
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
    # Sessions named their partner by party code only: each goes to the partner it can only have been (see the
    # docstring); a party that changed hands leaves the session to nobody rather than to the newcomer.
    op.execute("""
        WITH claims AS (
            SELECT DISTINCT p.tenant_id, upper(r->>'country_code') AS country_code,
                   upper(r->>'party_id') AS party_id, p.id AS partner_id, p.created_at
            FROM roaming_partners p CROSS JOIN LATERAL jsonb_array_elements(p.roles) AS r
            WHERE length(r->>'country_code') = 2 AND length(r->>'party_id') = 3
        )
        UPDATE charging_sessions s SET partner_id = c.partner_id
        FROM claims c
        WHERE s.partner IS NOT NULL AND c.tenant_id = s.tenant_id
          AND c.country_code = substr(s.partner, 1, 2) AND c.party_id = substr(s.partner, 3)
          AND (NOT EXISTS (SELECT 1 FROM claims o
                           WHERE (o.tenant_id, o.country_code, o.party_id) = (c.tenant_id, c.country_code, c.party_id)
                             AND o.partner_id <> c.partner_id)
               OR (c.created_at <= s.started_at
                   AND NOT EXISTS (SELECT 1 FROM claims o
                                   WHERE (o.tenant_id, o.country_code, o.party_id)
                                         = (c.tenant_id, c.country_code, c.party_id)
                                     AND o.partner_id <> c.partner_id AND o.created_at <= s.started_at)))
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
