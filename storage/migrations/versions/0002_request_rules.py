"""payment requests record the rules they are decided under

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment_request", schema=None) as batch_op:
        # Requests made before the policy existed were ended by one deny.
        batch_op.add_column(
            sa.Column(
                "deny_ends", sa.Boolean(), nullable=False, server_default=sa.true()
            )
        )
        batch_op.add_column(
            sa.Column(
                "approval_expires_at", storage.models.UTCDateTime(), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("reminded_at", storage.models.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("policy_digest", sa.String(length=16), nullable=True)
        )
        batch_op.add_column(sa.Column("policy_rules", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("balance_cents", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("spent_30d_cents", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("budget_left_cents", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payment_request", schema=None) as batch_op:
        for column in (
            "budget_left_cents",
            "spent_30d_cents",
            "balance_cents",
            "policy_rules",
            "policy_digest",
            "reminded_at",
            "approval_expires_at",
            "deny_ends",
        ):
            batch_op.drop_column(column)
