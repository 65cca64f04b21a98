"""conversations: the assistant's conversations, messaging channels' messages, and the channel of
each logged assistant turn

Adds two tables (``conversations``; ``channel_messages``, so a WeChat or LINE message retried by
the platform is answered once) and nullable columns (``search_log.channel``: older rows keep
NULL, as they were site or API searches; ``outbox.payload``: what a LINE reply sends). The outbox
also takes rows that belong to no request (a LINE reply): ``outbox.escalation_id`` becomes
nullable, which SQLite does by copying the table (batch mode); every row and index is kept.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("search_log", sa.Column("channel", sa.String(length=16), nullable=True))
    op.add_column("outbox", sa.Column("payload", sa.Text(), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("escalation_id", existing_type=sa.Integer(), nullable=True)
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("user_key", sa.String(length=64), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("transcript", sa.Text(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("handed_over", sa.Boolean(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("user_key", "created_at", "reference", "email", "phone"):
        op.create_index(f"ix_conversations_{column}", "conversations", [column])
    op.create_table(
        "channel_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "message_id", name="uq_channel_messages_channel_message"),
    )
    op.create_index("ix_channel_messages_created_at", "channel_messages", ["created_at"])


def downgrade() -> None:
    # Downgrading drops every conversation with the assistant: say so before running it.
    op.drop_table("channel_messages")
    op.drop_table("conversations")
    op.execute("DELETE FROM outbox WHERE escalation_id IS NULL")
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("escalation_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("payload")
    with op.batch_alter_table("search_log") as batch:
        batch.drop_column("channel")
