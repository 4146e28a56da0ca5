"""A per-database secret, for annotator pseudonyms in exported rounds (``dynahate collect export``).

Revision ID: 0002
Revises: 0001
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    settings = op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )
    op.bulk_insert(settings, [{"key": "pseudonym_key", "value": secrets.token_hex(32)}])


def downgrade() -> None:
    op.drop_table("settings")
