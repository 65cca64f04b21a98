"""search learns from use: the vote's visit, and writers' decisions on learned questions

Only adds: a nullable column (``feedback.visit_id``, so a vote can be tied to the search that led
to the article; older votes keep NULL) and a table (``learned_questions``: accepted or blocked
(query, article) pairs; candidates are computed from the search log, never stored). The column
is added with ALTER TABLE ... ADD COLUMN, like 0003, never by recreating the table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("feedback", sa.Column("visit_id", sa.String(length=40), nullable=True))
    op.create_index("ix_feedback_visit_id", "feedback", ["visit_id"])

    op.create_table(
        "learned_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("article_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("decided_by", sa.String(length=254), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("query", "article_id", name="uq_learned_questions_query_article"),
    )


def downgrade() -> None:
    # Downgrading drops the writers' decisions and the votes' visits: say so before running it.
    op.drop_table("learned_questions")
    op.drop_index("ix_feedback_visit_id", table_name="feedback")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("visit_id")
