"""screenshots (SPEC §14): which fields of a stored email were read from which of its images

message.fields_from_images: field key -> the image's file name; {} for mail read from text alone.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "message",
        sa.Column("fields_from_images", sa.JSON(), nullable=False, server_default=sa.text("'{}'")),
    )


def downgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.drop_column("fields_from_images")
