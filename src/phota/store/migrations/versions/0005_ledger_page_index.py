"""ledger: an (account_id, id) index for paging /usage

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:45:00.000000

A page of an account's ledger is ``WHERE account_id = ? AND id > ? ORDER BY id LIMIT n``: with
this index it reads n rows however long the ledger is. It replaces the index on ``account_id``
alone, which is its prefix.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_account_id_id", ["account_id", "id"], unique=False)
        batch_op.drop_index("ix_ledger_entries_account_id")


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_account_id", ["account_id"], unique=False)
        batch_op.drop_index("ix_ledger_entries_account_id_id")
