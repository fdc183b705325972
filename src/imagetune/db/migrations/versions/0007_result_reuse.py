"""result reuse: each job's request fingerprint, and lookups of shared files

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_jobs_user_fingerprint", ["user_id", "fingerprint"], unique=False)
        batch_op.create_index("ix_jobs_original_key", ["original_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_original_key")
        batch_op.drop_index("ix_jobs_user_fingerprint")
        batch_op.drop_column("fingerprint")
