"""locales: the requester's locale on each request, the reader's on each logged search

Only adds two nullable columns with ALTER TABLE ... ADD COLUMN. Rows stored before
have NULL, read as the site's default locale (they were made when it was the only one).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-17
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("escalations", sa.Column("locale", sa.String(length=16), nullable=True))
    op.add_column("search_log", sa.Column("locale", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("search_log") as batch:
        batch.drop_column("locale")
    with op.batch_alter_table("escalations") as batch:
        batch.drop_column("locale")
