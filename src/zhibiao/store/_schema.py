"""Tables of the corpus store (SQLAlchemy Core) and its versioned migrations.

Every change to the tables is a new entry in :data:`MIGRATIONS`, never an edit of an
old one: a store records each version it applied in ``schema_version``, and opening a
store applies the missing ones in one transaction.  A store written by a newer
zhibiao (a version this code does not know) is refused rather than guessed at.
"""
from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from ..errors import StoreError

metadata = sa.MetaData()

schema_version = sa.Table(
    "zb_schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)

# sqlite_autoincrement: ids are never reused after a delete, so "rows of documents with
# id > N" is a sound incremental feed for the recommender (see CorpusStore.changes).
documents = sa.Table(
    "zb_documents", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.Text, nullable=False, unique=True),  # absolute path as added
    sa.Column("name", sa.Text, nullable=False),                  # file name, for display
    sa.Column("content_hash", sa.String(64), nullable=False, index=True),  # sha256 of the bytes
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("year", sa.Integer),
    sa.Column("department", sa.Text),
    sa.Column("n_projects", sa.Integer, nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("pipeline", sa.Text),                               # what normalized it (fingerprint)
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)

projects = sa.Table(
    "zb_projects", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("document_id", sa.Integer, sa.ForeignKey("zb_documents.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("project_key", sa.Text, nullable=False),   # project_id as extracted ("file#3")
    sa.Column("project_name", sa.Text, nullable=False),
    sa.Column("name_key", sa.Text, nullable=False, index=True),  # name without year/numbering/spaces
    sa.Column("table_title", sa.Text),
    sa.Column("project_code", sa.Text),
    sa.Column("department", sa.Text),
    sa.Column("department_key", sa.Text, index=True),
    sa.Column("year", sa.Integer, index=True),
    sa.Column("budget_wan", sa.Float),
    sa.Column("purpose", sa.Text),
    sa.Column("goals", sa.Text),
    sa.Column("n_indicators", sa.Integer),
    sqlite_autoincrement=True,
)

sa.Index("ix_zb_projects_year_name", projects.c.year, projects.c.name_key)

# The normalized columns the store keeps as real columns (queried, exported, fed to the
# recommender); any other column a pipeline adds goes into `extra` as JSON.
ROW_TEXT_COLUMNS = ["location", "project_name", "department", "level1", "level2", "level3",
                    "description", "value", "basis", "actual_value", "warnings",
                    "category", "level1_canonical", "declared_category", "indicator_id",
                    "indicator_name", "value_kind", "op", "unit", "flags"]
ROW_FLOAT_COLUMNS = ["category_confidence", "indicator_confidence", "number"]

rows = sa.Table(
    "zb_rows", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("document_id", sa.Integer, sa.ForeignKey("zb_documents.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("project_id", sa.Integer, sa.ForeignKey("zb_projects.id", ondelete="CASCADE"), index=True),
    sa.Column("row_index", sa.Integer, nullable=False),   # order within the document
    sa.Column("sheet", sa.Text),                           # sheet name or page; empty for text dumps
    sa.Column("row_number", sa.Integer),                   # line or spreadsheet row
    sa.Column("year", sa.Integer, index=True),
    *[sa.Column(c, sa.Text) for c in ROW_TEXT_COLUMNS],
    *[sa.Column(c, sa.Float) for c in ROW_FLOAT_COLUMNS],
    sa.Column("extra", sa.Text),
    sqlite_autoincrement=True,
)

# What was removed or replaced, so an incremental reader can drop it too.
removals = sa.Table(
    "zb_removals", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("document_id", sa.Integer, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)


def _v1(conn: sa.Connection) -> None:
    for table in (documents, projects, rows, removals):
        table.create(conn, checkfirst=True)


# (version, description, function). Append only.
MIGRATIONS = [
    (1, "documents, projects, normalized rows with provenance, removal log", _v1),
]
LATEST = MIGRATIONS[-1][0]


def applied_versions(conn: sa.Connection) -> list[int]:
    if not sa.inspect(conn).has_table(schema_version.name):
        return []
    return sorted(conn.execute(sa.select(schema_version.c.version)).scalars())


def migrate(engine: sa.Engine) -> int:
    """Bring the store to :data:`LATEST`; returns the version it is at."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":   # two first openings at once must not both create
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7895001)"))
        schema_version.create(conn, checkfirst=True)
        done = applied_versions(conn)
        if done and max(done) > LATEST:
            raise StoreError(f"the corpus store is at schema version {max(done)}, newer than this "
                             f"zhibiao knows ({LATEST}); upgrade zhibiao")
        for version, description, step in MIGRATIONS:
            if version in done:
                continue
            step(conn)
            conn.execute(schema_version.insert().values(
                version=version, description=description, applied_at=datetime.now(UTC)))
    return LATEST
