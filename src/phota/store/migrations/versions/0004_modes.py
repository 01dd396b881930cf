"""modes: profiles, jobs and outputs carry the mode (test | live) of the key that made them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:30:00.000000

Existing rows are given the mode they can be shown to have had: a profile whose training was paid
(a ``reserve`` ledger line referencing it) is live, any other is test (test keys never pay); a studio
job keeps the mode recorded in its payload; a training job takes its profile's mode. Outputs have no
such trace and stay live (their download URL is their only credential either way).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("profiles", "jobs", "outputs"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("mode", sa.String(length=8), nullable=False, server_default="live"))
    op.execute(
        "UPDATE profiles SET mode = 'test' WHERE NOT EXISTS (SELECT 1 FROM ledger_entries l "
        "WHERE l.account_id = profiles.account_id AND l.kind = 'reserve' AND l.reference = profiles.id)"
    )
    conn = op.get_bind()

    def field(name: str) -> str:
        if conn.dialect.name == "postgresql":
            return f"jobs.payload->>'{name}'"
        return f"json_extract(jobs.payload, '$.{name}')"

    op.execute(f"UPDATE jobs SET mode = {field('mode')} WHERE kind = 'studio' AND {field('mode')} IN ('test', 'live')")
    profile_mode = f"(SELECT p.mode FROM profiles p WHERE p.id = {field('profile_id')})"
    op.execute(
        f"UPDATE jobs SET mode = {profile_mode} WHERE kind IN ('validate', 'train') AND {profile_mode} IS NOT NULL"
    )
    # An idempotency key names one request per account and mode.
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_constraint("uq_jobs_client_request", type_="unique")
        batch_op.create_unique_constraint("uq_jobs_client_request", ["account_id", "mode", "client_request_id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_constraint("uq_jobs_client_request", type_="unique")
        batch_op.create_unique_constraint("uq_jobs_client_request", ["account_id", "client_request_id"])
    for table in ("outputs", "jobs", "profiles"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("mode")
