"""support loop: request timeline, assignment, resolution, status links, inbox search, sign-in backoff

Only adds: a table (``request_events``) and nullable columns (the counter has a server default
of 0), so every existing row stays as it was. Columns are added with ALTER TABLE ... ADD COLUMN,
never by recreating a table: on SQLite, dropping the old copy of ``escalations`` would cascade
into its attachments and outbox rows. Old requests get their status-link nonce and search terms
when first needed (helpcenter.support.tickets).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _add_reference(table: str, column: str, target: str, ondelete: str) -> None:
    """A nullable column referencing ``target.id``. SQLite takes the reference inside ADD COLUMN
    (Alembic would otherwise want to recreate the table, see above); PostgreSQL adds it after."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER REFERENCES {target} (id) ON DELETE {ondelete}")
        return
    op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
    op.create_foreign_key(f"fk_{table}_{column}", table, target, [column], ["id"], ondelete=ondelete)


def upgrade() -> None:
    op.create_table(
        "request_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["escalation_id"], ["escalations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_request_events_escalation_id", "request_events", ["escalation_id"])

    _add_reference("escalations", "assignee_id", "staff", "SET NULL")
    op.add_column("escalations", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("escalations", sa.Column("solved_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("escalations", sa.Column("resolution", sa.String(length=12), nullable=True))
    op.add_column("escalations", sa.Column("resolution_article", sa.String(length=200), nullable=True))
    op.add_column("escalations", sa.Column("resolution_note", sa.Text(), nullable=True))
    op.add_column("escalations", sa.Column("status_nonce", sa.String(length=32), nullable=True))
    op.add_column("escalations", sa.Column("search_terms", sa.Text(), nullable=True))
    op.create_index("ix_escalations_assignee_id", "escalations", ["assignee_id"])
    op.create_index("ix_escalations_solved_at", "escalations", ["solved_at"])
    op.create_index("ix_escalations_resolution_article", "escalations", ["resolution_article"])

    _add_reference("attachments", "event_id", "request_events", "CASCADE")
    op.create_index("ix_attachments_event_id", "attachments", ["event_id"])

    op.add_column("staff", sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False))
    op.add_column("staff", sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Downgrading drops the timeline (replies, notes) and the resolutions: say so before running it.
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("locked_until")
        batch.drop_column("failed_logins")
    op.drop_index("ix_attachments_event_id", table_name="attachments")
    with op.batch_alter_table("attachments") as batch:
        batch.drop_column("event_id")
    for name in ("ix_escalations_resolution_article", "ix_escalations_solved_at", "ix_escalations_assignee_id"):
        op.drop_index(name, table_name="escalations")
    with op.batch_alter_table("escalations") as batch:
        for column in ("search_terms", "status_nonce", "resolution_note", "resolution_article", "resolution",
                       "solved_at", "updated_at", "assignee_id"):
            batch.drop_column(column)
    op.drop_index("ix_request_events_escalation_id", table_name="request_events")
    op.drop_table("request_events")
