"""job ownership: owner tokens, a partial index on runnable jobs, hold owners, procrastinate

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RUNNABLE = "status IN ('queued', 'running')"


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=32), nullable=True))
    # The claim reads only runnable rows, oldest first: finished jobs never enter the index.
    op.create_index(
        "ix_jobs_runnable",
        "jobs",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text(RUNNABLE),
        sqlite_where=sa.text(RUNNABLE),
    )
    op.create_table(
        "hold_owners",
        sa.Column("reservation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("owner", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["reservation_id"], ["ledger_entries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("reservation_id"),
    )
    op.create_index("ix_hold_owners_expires_at", "hold_owners", ["expires_at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        from phota.jobs.procrastinate_queue import apply_schema

        apply_schema(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_hold_owners_expires_at", table_name="hold_owners")
    op.drop_table("hold_owners")
    op.drop_index("ix_jobs_runnable", table_name="jobs")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("owner")
