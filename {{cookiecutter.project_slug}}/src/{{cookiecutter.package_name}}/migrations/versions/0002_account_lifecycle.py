"""Accounts: when the email was verified and when the password last changed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the columns; accounts made before verification existed count as verified."""
    op.add_column("users", sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "users", sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True)
    )
    # Their owners logged in before: locking them out until they verify would be a surprise.
    op.execute(sa.text("UPDATE users SET verified_at = created_at"))


def downgrade() -> None:
    """Drop the columns (SQLite 3.35 or later drops columns in place)."""
    op.drop_column("users", "password_changed_at")
    op.drop_column("users", "verified_at")
