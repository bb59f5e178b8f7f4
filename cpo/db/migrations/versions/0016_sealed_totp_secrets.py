"""sealed TOTP secrets and used codes

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 17:30:00.000000

Room for sealed secrets and the step of the last code used. The secrets stored in clear are sealed when a
node starts (``second_factor.seal_clear_secrets``: migrations do not hold the secret key); until then, and
should one be missed, a clear secret is still read as such and sealed at the account's next accepted code.
A downgrade opens sealed secrets again, and so needs the sealer (``cpo.db.migrate.alembic_config``).
"""

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLEAR = re.compile(r"[A-Z2-7]+=*")
"""A base32 secret in clear; a sealed one (Fernet) is URL-safe base64 with lower case in it."""
COLUMNS = ("totp_secret", "totp_pending")


def _sealer() -> Any:
    config = op.get_context().config
    return None if config is None else config.attributes.get("sealer")


def _rewrite(change: Any) -> None:
    """Apply ``change`` to every stored secret."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT id, totp_secret, totp_pending FROM accounts WHERE totp_secret IS NOT NULL"
            " OR totp_pending IS NOT NULL"
        )
    ).all()
    for account_id, *values in rows:
        new = [None if value is None else change(value) for value in values]
        if new != values:
            connection.execute(
                sa.text("UPDATE accounts SET totp_secret = :secret, totp_pending = :pending WHERE id = :id"),
                {"secret": new[0], "pending": new[1], "id": account_id},
            )


def upgrade() -> None:
    for column in COLUMNS:
        op.alter_column("accounts", column, type_=sa.Text(), existing_type=sa.String(64), existing_nullable=True)
    op.add_column("accounts", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    sealer = _sealer()

    def opened(value: str) -> str:
        if CLEAR.fullmatch(value):
            return value
        if sealer is None:
            raise RuntimeError("sealed second-factor secrets: downgrading needs the secret key (pass the sealer)")
        return str(sealer.open(value))

    _rewrite(opened)
    op.drop_column("accounts", "totp_last_step")
    for column in COLUMNS:
        op.alter_column("accounts", column, type_=sa.String(64), existing_type=sa.Text(), existing_nullable=True)
