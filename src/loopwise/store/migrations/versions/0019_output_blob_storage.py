"""PostgreSQL keeps the replayed and shadow outputs' blobs out of line without compressing them again.

``output_batches.arrow`` (decision 0039) kept PostgreSQL's default storage (EXTENDED), which tried pglz on
every blob before storing it: a replay's 2 MB blob of 100,000 zstd-compressed outputs, which pglz cannot
shrink, cost 100 ms of the server's time to store against 15 ms with EXTERNAL (decision 0053). Loopwise
compresses these blobs itself from 1,000 rows, as migration 0005 reasoned for the other blobs. Blobs
stored before keep their form; PostgreSQL reads both. SQLite: nothing to do.

Revision ID: 0019
Revises: 0018
"""

from alembic import op

revision = "0019"
down_revision = "0018"


def _storage(mode: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f'ALTER TABLE "output_batches" ALTER COLUMN "arrow" SET STORAGE {mode}')


def upgrade() -> None:
    _storage("EXTERNAL")


def downgrade() -> None:
    _storage("EXTENDED")
