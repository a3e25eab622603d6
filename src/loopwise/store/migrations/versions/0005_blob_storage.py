"""PostgreSQL keeps the zstd-compressed blobs out of line without compressing them again.

Batches, profiles and parts are compressed by loopwise (zstd); PostgreSQL's default storage (EXTENDED) tried
pglz on each of them first, which cost 3.4 ms of a 4.7 ms insert of a 1,000-event batch and gained nothing.
EXTERNAL keeps them in TOAST, uncompressed (bench/RESULTS.md, session 3). SQLite: nothing to do.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"

BLOBS = [
    ("batches", "arrow"),
    ("bucket_profiles", "profile"),
    ("bucket_parts", "profile"),
    ("rollups", "profile"),
    ("references", "profile"),
]


def _storage(mode: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in BLOBS:
        op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET STORAGE {mode}')


def upgrade() -> None:
    _storage("EXTERNAL")


def downgrade() -> None:
    _storage("EXTENDED")
