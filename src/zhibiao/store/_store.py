"""The corpus store: past tables, normalized, with provenance, in SQLite or PostgreSQL.

One interface over any SQLAlchemy URL. The default is a SQLite file in the user's data
directory (nothing to install); ``ZHIBIAO_DB`` or an explicit ``url`` (the CLI's ``--db``)
points it elsewhere, e.g. ``postgresql://user:pw@host/zhibiao`` for a team.

Safety: SQLite runs in WAL mode (readers never wait for a writer) with a busy timeout,
and every write takes the write lock up front (``BEGIN IMMEDIATE``), so two writers queue
instead of failing half-way; PostgreSQL writers queue on an advisory lock. An import runs
the (slow) pipeline first, outside any transaction, then writes all its documents in one
transaction: a crash or an error at any point leaves the store exactly as it was.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from ..errors import FileNotFound, StoreError, UnsupportedFormat, ZhibiaoError
from . import _schema as S
from ._names import NAME_THRESHOLD, bigrams, department_key, departments_agree, name_key, project_year

ENV_VAR = "ZHIBIAO_DB"
_PG_LOCK = 0x7A6869  # advisory lock key that serializes writers on PostgreSQL ("zhi")
_LOCATION = re.compile(r"^(?:(?P<sheet>.*)!)?(?P<col>[A-Z]{0,3})(?P<row>\d+)$|^L(?P<line>\d+)$")

# process(path) -> (normalized rows, projects); raises ZhibiaoError for a bad file.
Process = Callable[[Path], "tuple[pd.DataFrame, pd.DataFrame]"]
Progress = Callable[[int, int, str], None]   # (done, total, current file)


def default_url() -> str:
    """``$ZHIBIAO_DB``, else ``corpus.sqlite`` in the user data dir (honours XDG_DATA_HOME)."""
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    from platformdirs import user_data_dir
    return f"sqlite:///{Path(user_data_dir('zhibiao', appauthor=False)) / 'corpus.sqlite'}"


def _normalize_url(url: str | os.PathLike | None) -> sa.URL:
    url = default_url() if url is None else url
    if isinstance(url, os.PathLike) or "://" not in str(url):
        url = f"sqlite:///{Path(url).expanduser().resolve()}"   # a bare path is a SQLite file
    try:
        parsed = sa.make_url(str(url))
    except sa.exc.ArgumentError:
        raise StoreError(f"not a database URL: {url!r}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")   # psycopg 3, the one we depend on
    return parsed


def _make_engine(url: sa.URL) -> sa.Engine:
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None   # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout = 60000")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")   # WAL + NORMAL: durable at checkpoints, never corrupt
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn):
            # A writer takes the lock before reading, so it can never be refused an upgrade.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("zb_write") else "BEGIN")
        return engine
    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except sa.exc.NoSuchModuleError:
        raise StoreError(f"unknown kind of database {url.drivername!r} in the store URL; use a SQLite path, "
                         f"sqlite:///path or postgresql://user@host/db") from None
    except ImportError as exc:
        hint = "pip install 'zhibiao[postgres]'" if url.get_backend_name() == "postgresql" else "install its driver"
        raise StoreError(f"no driver for {url.drivername} ({exc}); {hint}") from None


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def _float(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def _year(value) -> int | None:
    text = _text(value)
    if text and (m := re.search(r"(19|20)\d\d", text)):
        return int(m.group(0))
    return None


def split_location(location) -> tuple[str | None, int | None]:
    """(sheet or page, row number) of an extracted ``location``.

        >>> split_location("L58"), split_location("目标表!C12"), split_location("")
        ((None, 58), ('目标表', 12), (None, None))
    """
    m = _LOCATION.match(_text(location) or "")
    if not m:
        return None, None
    if m.group("line"):
        return None, int(m.group("line"))
    return m.group("sheet"), int(m.group("row"))


def _most_common(values) -> str | None:
    s = pd.Series([v for v in values if _text(v)], dtype=object)
    return str(s.value_counts().index[0]) if len(s) else None


def _columns(df: pd.DataFrame | None) -> dict[str, list]:
    """{column: plain Python list}: far faster than to_dict/itertuples on wide frames."""
    if df is None:
        return {}
    return {c: df[c].astype(object).tolist() for c in df.columns}


def _dicts(df: pd.DataFrame | None) -> list[dict]:
    cols = _columns(df)
    return [dict(zip(cols, vals)) for vals in zip(*cols.values())]


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ExtractNormalize:
    """The default ``process``: ``zhibiao.extract`` then ``Normalizer.load().normalize``.

    The integrator may pass the pipeline's equivalent instead; anything with this call
    signature works (and a ``fingerprint`` attribute, when it has one, is recorded).
    """

    def __init__(self, normalizer=None):
        self._normalizer = normalizer

    @property
    def normalizer(self):
        if self._normalizer is None:
            from ..classify import Normalizer
            self._normalizer = Normalizer.load()
        return self._normalizer

    @property
    def fingerprint(self) -> str:
        return f"extract+normalize:{self.normalizer.fingerprint}"

    def __call__(self, path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
        from ..ingest.api import extract_all
        found = extract_all([path], errors="raise")
        return self.normalizer.normalize(found.rows, found.projects), found.projects


@dataclass
class AddReport:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[ZhibiaoError] = field(default_factory=list)
    rows: int = 0           # rows written

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced)


@dataclass
class ProjectMatch:
    """A stored project found as the earlier-year version of a project."""
    project_id: int
    project_name: str
    department: str | None
    year: int | None
    source: str
    score: float             # char-bigram Dice of the name keys
    rows: pd.DataFrame       # its stored rows, in document order


@dataclass
class _Pending:
    source: str
    name: str
    content_hash: str
    size: int
    rows: pd.DataFrame
    projects: pd.DataFrame


class CorpusStore:
    """Documents, projects and normalized rows of a user's own archive."""

    def __init__(self, url: str | os.PathLike | None = None, *, create: bool = True):
        self.url = _normalize_url(url)
        self.engine = _make_engine(self.url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._writer = self.engine.execution_options(zb_write=True)
        try:
            if create:
                self.version = S.migrate(self._writer if self.is_sqlite else self.engine)
        except sa.exc.DatabaseError as exc:   # unreachable server, or a file that is not a database
            raise StoreError(f"cannot open the corpus store {self.display_url}: "
                             f"{str(exc.orig).splitlines()[0] if exc.orig else exc}") from None

    @classmethod
    def if_exists(cls, url: str | os.PathLike | None = None) -> CorpusStore | None:
        """The configured store, or None when it is a SQLite file nobody has created yet
        (so `audit`, `suggest` and the service never leave an empty store behind)."""
        parsed = _normalize_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
                and not Path(parsed.database).exists():
            return None
        return cls(url)

    @classmethod
    def configured(cls, url: str | os.PathLike | None = None) -> CorpusStore | None:
        """The store a reading command uses (suggest, audit, selfeval, serve), never creating one.

        ``url`` (``--db``) or else ``$ZHIBIAO_DB`` names it, and then it must exist: a SQLite
        path nobody has added tables to is an error, not a silently empty store. Without
        either, the default file is used when ``zhibiao corpus add`` has made it, else None.
        """
        explicit = url if url is not None else (os.environ.get(ENV_VAR) or None)
        if explicit is None:
            return cls.if_exists(None)
        parsed = _normalize_url(explicit)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
                and not Path(parsed.database).is_file():
            given = "--db" if url is not None else f"${ENV_VAR}"
            raise StoreError(f"no corpus store at {parsed.database} ({given}); create it with "
                             f"`zhibiao corpus add FILES... --db {explicit}`")
        return cls(explicit)

    @property
    def full_url(self) -> str:
        """The URL with its password, for another process of the same user (a service worker)."""
        return self.url.render_as_string(hide_password=False)

    # -- plumbing ----------------------------------------------------------
    @property
    def display_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"CorpusStore({self.display_url!r})"

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _write_tx(self):
        """A write transaction; writers queue (SQLite: BEGIN IMMEDIATE; PostgreSQL: advisory lock)."""
        store = self

        class _Tx:
            def __enter__(self):
                self.cm = store._writer.begin()
                conn = self.cm.__enter__()
                if not store.is_sqlite:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
                return conn

            def __exit__(self, *exc):
                return self.cm.__exit__(*exc)
        return _Tx()

    # hook for tests: called after each document is written, inside the transaction
    _after_document: Callable[[str], None] | None = None

    # -- writing -----------------------------------------------------------
    def add_documents(self, paths: Iterable, process: Process | None = None,
                      progress: Progress | None = None, *, chunk: int | None = None) -> AddReport:
        """Run ``process`` over new or changed files and store the result.

        An unchanged file (same path, same content hash) is a no-op, and so is a file whose
        exact content is already stored under another path. A changed file replaces its old
        rows. A bad file (``process`` raises a ZhibiaoError) is reported in ``failed`` and
        skipped. All the writes of one call (or of each ``chunk`` files) are one transaction.
        """
        process = process or ExtractNormalize()
        paths = [Path(p) for p in paths]
        report = AddReport()
        step = chunk or max(len(paths), 1)
        done = 0
        for start in range(0, len(paths), step):
            part = paths[start:start + step]
            pending = []
            with self.engine.connect() as conn:
                known = dict(conn.execute(sa.select(S.documents.c.source, S.documents.c.content_hash)).all())
            stored_hashes = {h: s for s, h in known.items()}
            for path in part:
                if progress:
                    progress(done, len(paths), str(path))
                done += 1
                try:
                    item = self._prepare(path, process, known, stored_hashes, report)
                except ZhibiaoError as exc:
                    report.failed.append(exc)
                    continue
                if item is not None:
                    stored_hashes[item.content_hash] = item.source
                    pending.append(item)
            if pending:
                self._write(pending, report, getattr(process, "fingerprint", None))
        if progress:
            progress(len(paths), len(paths), "")
        return report

    def _prepare(self, path: Path, process, known, stored_hashes, report) -> _Pending | None:
        if not path.exists():
            raise FileNotFound(path, "no such file")
        if path.is_dir():
            raise UnsupportedFormat(path, "is a directory, not a document")
        source = str(path.resolve())
        digest = file_hash(path)
        if known.get(source) == digest:
            report.unchanged.append(source)
            return None
        if digest in stored_hashes and stored_hashes[digest] != source:
            report.unchanged.append(source)   # the same bytes are stored under another name
            return None
        rows, projects = process(path)
        return _Pending(source, path.name, digest, path.stat().st_size, rows, projects)

    def add_frame(self, source: str, rows: pd.DataFrame, projects: pd.DataFrame | None = None, *,
                  content_hash: str | None = None, pipeline: str | None = None) -> AddReport:
        """Store already-normalized rows under ``source`` (no file is read)."""
        projects = projects if projects is not None else pd.DataFrame()
        digest = content_hash or hashlib.sha256(
            rows.to_json(orient="values", force_ascii=False).encode()).hexdigest()
        report = AddReport()
        self._write([_Pending(source, Path(source).name, digest, 0, rows, projects)], report, pipeline)
        return report

    def _write(self, pending: list[_Pending], report: AddReport, pipeline: str | None) -> None:
        with self._write_tx() as conn:
            for item in pending:
                # Re-checked under the lock: another writer may have stored it meanwhile.
                old = conn.execute(sa.select(S.documents.c.id, S.documents.c.content_hash)
                                   .where(S.documents.c.source == item.source)).first()
                if old is not None and old.content_hash == item.content_hash:
                    report.unchanged.append(item.source)
                    continue
                if old is not None:
                    self._delete(conn, [old.id])
                    report.replaced.append(item.source)
                else:
                    report.added.append(item.source)
                report.rows += self._insert(conn, item, pipeline)
                if self._after_document:
                    self._after_document(item.source)

    def _insert(self, conn, item: _Pending, pipeline: str | None) -> int:
        rows, projects = _columns(item.rows), _dicts(item.projects)
        n_rows = len(item.rows)
        col = lambda recs, c: [r.get(c) for r in recs]
        doc_year = _year(_most_common(col(projects, "year") + (rows.get("year") or []))) or _year(_most_common(
            [project_year(None, p.get("project_name"), p.get("table_title")) for p in projects]))
        doc_dept = _most_common(col(projects, "department") + (rows.get("department") or []))
        doc_id = conn.execute(S.documents.insert().values(
            source=item.source, name=item.name, content_hash=item.content_hash, size_bytes=item.size,
            year=doc_year, department=doc_dept, n_projects=len(projects), n_rows=n_rows,
            pipeline=pipeline, added_at=datetime.now(UTC))).inserted_primary_key[0]
        # Projects: from the projects table, plus any project a row names that it lacks.
        listed = {_text(p.get("project_id")) for p in projects}
        if "project_id" in rows:
            seen = set()
            for i, key in enumerate(rows["project_id"]):
                key = _text(key)
                if key not in listed and key not in seen:
                    seen.add(key)
                    projects.append({c: rows[c][i] for c in ("project_id", "project_name", "table_title",
                                                              "project_code", "department", "year",
                                                              "budget_wan") if c in rows})
        recs = []
        for p in projects:
            name, dept = _text(p.get("project_name")) or "", _text(p.get("department"))
            recs.append(dict(
                document_id=doc_id, project_key=_text(p.get("project_id")) or "", project_name=name,
                name_key=name_key(name), table_title=_text(p.get("table_title")),
                project_code=_text(p.get("project_code")), department=dept, department_key=department_key(dept),
                year=project_year(p.get("year"), name, p.get("table_title")) or doc_year,
                budget_wan=_float(p.get("budget_wan")),
                purpose=_text(p.get("purpose")), goals=_text(p.get("goals")),
                n_indicators=int(_float(p.get("n_indicators")) or 0)))
        project_ids: dict[str, int] = {}
        project_years = {r["project_key"]: r["year"] for r in recs}
        if recs:   # one statement; ids come back in the order given
            ids = conn.execute(S.projects.insert().returning(S.projects.c.id, sort_by_parameter_order=True),
                               recs).scalars().all()
            project_ids = {r["project_key"]: i for r, i in zip(recs, ids)}
        if not n_rows:
            return 0
        none = [None] * n_rows
        known = set(S.ROW_TEXT_COLUMNS) | set(S.ROW_FLOAT_COLUMNS) | {"year", "source", "project_id"}
        extra_cols = [c for c in rows if c not in known]
        text_cols = {c: [_text(v) for v in rows.get(c, none)] for c in S.ROW_TEXT_COLUMNS}
        float_cols = {c: [_float(v) for v in rows.get(c, none)] for c in S.ROW_FLOAT_COLUMNS}
        where = [split_location(v) for v in text_cols["location"]]
        years = {v: _year(v) for v in set(map(_text, rows.get("year", none)))}
        keys = [_text(v) or "" for v in rows.get("project_id", none)]
        pids = [project_ids.get(k) for k in keys]
        batch = []
        for i in range(n_rows):
            rec = {c: v[i] for c, v in text_cols.items()}
            rec.update({c: v[i] for c, v in float_cols.items()})
            extra = {c: t for c in extra_cols if (t := _text(rows[c][i])) not in (None, "")}
            rec.update(document_id=doc_id, project_id=pids[i], row_index=i, sheet=where[i][0],
                       row_number=where[i][1], year=years[_text(rows["year"][i])] if "year" in rows else None,
                       extra=json.dumps(extra, ensure_ascii=False) if extra else None)
            rec["year"] = rec["year"] or project_years.get(keys[i]) or doc_year
            batch.append(rec)
        conn.execute(S.rows.insert(), batch)
        return n_rows

    def _delete(self, conn, doc_ids: list[int]) -> None:
        docs = conn.execute(sa.select(S.documents.c.id, S.documents.c.source)
                            .where(S.documents.c.id.in_(doc_ids))).all()
        # Explicit deletes, child tables first: no reliance on ON DELETE CASCADE being enabled.
        conn.execute(S.rows.delete().where(S.rows.c.document_id.in_(doc_ids)))
        conn.execute(S.projects.delete().where(S.projects.c.document_id.in_(doc_ids)))
        conn.execute(S.documents.delete().where(S.documents.c.id.in_(doc_ids)))
        now = datetime.now(UTC)
        if docs:
            conn.execute(S.removals.insert(), [{"document_id": d.id, "source": d.source, "removed_at": now}
                                               for d in docs])

    def remove(self, source: str) -> list[str]:
        """Remove a document by its stored path, its file name (when unique) or a hash prefix."""
        with self._write_tx() as conn:
            docs = self._resolve(conn, source)
            self._delete(conn, [d.id for d in docs])
        return [d.source for d in docs]

    def _resolve(self, conn, source: str):
        d = S.documents.c
        cols = [d.id, d.source, d.name]
        by_path = conn.execute(sa.select(*cols).where(d.source.in_({source, str(Path(source).resolve())}))).all()
        if by_path:
            return by_path
        by_name = conn.execute(sa.select(*cols).where(d.name == source)).all()
        if len(by_name) > 1:
            raise StoreError(f"{source!r} names {len(by_name)} stored documents; give the full path: "
                             + ", ".join(r.source for r in by_name[:5]))
        if by_name:
            return by_name
        if re.fullmatch(r"[0-9a-f]{8,64}", source):
            by_hash = conn.execute(sa.select(*cols).where(d.content_hash.like(source + "%"))).all()
            if len(by_hash) == 1:
                return by_hash
        raise StoreError(f"{source!r} is not in the corpus store ({self.display_url})")

    # -- reading -----------------------------------------------------------
    def _frame(self, query) -> pd.DataFrame:
        with self.engine.connect() as conn:
            result = conn.execute(query)
            columns = list(result.keys())
            return pd.DataFrame.from_records([tuple(r) for r in result.all()], columns=columns)

    def list(self) -> pd.DataFrame:
        d = S.documents.c
        return self._frame(sa.select(d.id, d.source, d.name, d.content_hash, d.year, d.department,
                                     d.n_projects, d.n_rows, d.added_at).order_by(d.id))

    def stats(self) -> dict:
        with self.engine.connect() as conn:
            count = lambda t: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            years = conn.execute(sa.select(S.projects.c.year, sa.func.count()).group_by(S.projects.c.year)
                                 .order_by(S.projects.c.year)).all()
            departments = conn.execute(sa.select(sa.func.count(sa.distinct(S.projects.c.department_key)))
                                       .where(S.projects.c.department_key != "")).scalar_one()
            matched = conn.execute(sa.select(sa.func.count()).select_from(S.rows)
                                   .where(S.rows.c.indicator_id.is_not(None), S.rows.c.indicator_id != "")).scalar_one()
            version = max(S.applied_versions(conn))
            out = {"url": self.display_url, "schema_version": version, "documents": count(S.documents),
                   "projects": count(S.projects), "rows": count(S.rows), "rows_matched": matched,
                   "departments": departments,
                   "projects_by_year": {("unknown" if y is None else int(y)): n for y, n in years}}
        if self.is_sqlite and self.url.database and self.url.database != ":memory:":
            out["size_bytes"] = sum(p.stat().st_size for p in Path(self.url.database).parent.glob(
                Path(self.url.database).name + "*") if p.is_file())
        return out

    def projects(self, year: int | None = None, *, before: int | None = None, project_ids=None) -> pd.DataFrame:
        p, d = S.projects.c, S.documents.c
        q = (sa.select(p.id.label("project_id"), p.project_key, p.project_name, p.name_key, p.table_title,
                       p.project_code, p.department, p.department_key, p.year, p.budget_wan, p.purpose,
                       p.goals, p.n_indicators, d.name.label("source"), d.source.label("source_path"),
                       p.document_id)
             .join(S.documents, S.documents.c.id == p.document_id).order_by(p.id))
        if year is not None:
            q = q.where(p.year == year)
        if before is not None:
            q = q.where(p.year < before)
        if project_ids is not None:
            q = q.where(p.id.in_([int(i) for i in project_ids]))
        return self._frame(q)

    def rows(self, *, source: str | None = None, year: int | None = None, project_ids=None,
             after_document: int | None = None, extra: bool = True,
             fields: list[str] | None = None) -> pd.DataFrame:
        """Stored rows with provenance: ``source`` (file name), ``source_path``, ``sheet``,
        ``row_number``, ``location``; the pipeline's extra columns are unpacked."""
        r, d, p = S.rows.c, S.documents.c, S.projects.c
        if not extra:   # the recommender's feed: the stored columns only, no JSON to unpack
            wanted = [c for c in (fields or S.ROW_TEXT_COLUMNS + S.ROW_FLOAT_COLUMNS)
                      if c not in ("row_id", "document_id", "project_id", "source", "year")]
            cols = [r.id.label("row_id"), r.document_id, r.project_id, d.name.label("source"), r.year,
                    *[getattr(r, c) for c in wanted]]
            q = sa.select(*cols).join(S.documents, d.id == r.document_id).order_by(r.document_id, r.row_index)
            if after_document is not None:
                q = q.where(r.document_id > after_document)
            return self._frame(q)
        cols = [r.id.label("row_id"), r.document_id, r.project_id, d.name.label("source"),
                d.source.label("source_path"), r.sheet, r.row_number, r.year, p.project_key,
                *[getattr(r, c) for c in S.ROW_TEXT_COLUMNS], *[getattr(r, c) for c in S.ROW_FLOAT_COLUMNS],
                r.extra]
        q = (sa.select(*cols).join(S.documents, d.id == r.document_id)
             .outerjoin(S.projects, p.id == r.project_id).order_by(r.document_id, r.row_index))
        if source is not None:
            q = q.where(sa.or_(d.source == source, d.name == source))
        if year is not None:
            q = q.where(r.year == year)
        if project_ids is not None:
            q = q.where(r.project_id.in_([int(i) for i in project_ids]))
        if after_document is not None:
            q = q.where(r.document_id > after_document)
        df = self._frame(q)
        if len(df) and df["extra"].notna().any():
            extra = pd.DataFrame([json.loads(e) if e else {} for e in df["extra"]], index=df.index)
            df = pd.concat([df.drop(columns="extra"), extra.drop(columns=[c for c in extra if c in df])], axis=1)
        else:
            df = df.drop(columns="extra")
        return df

    def export(self, path: str | os.PathLike) -> int:
        """Write every stored row (with provenance) to .parquet, .csv or .jsonl; returns the count."""
        from ..tables import refuse_overwrite, write_table
        path = Path(path)
        if path.suffix.lower() not in (".parquet", ".csv", ".jsonl"):
            raise StoreError(f"{path}: export writes .parquet, .csv or .jsonl")
        # never over the store itself nor a document it holds; written whole or not at all
        refuse_overwrite([path], [*self.list()["source"], *([self.url.database] if self.is_sqlite else [])])
        df = self.rows().drop(columns=["row_id", "document_id", "project_id"])
        write_table(df, path)
        return len(df)

    # -- for the recommender: an incremental feed ---------------------------
    def identity(self) -> str:
        """This store's URL and when it was created: a store made again at the same URL is another
        store, whose ids start again (what a saved index snapshot is checked against)."""
        with self.engine.connect() as conn:
            created = conn.execute(sa.select(sa.func.min(S.schema_version.c.applied_at))).scalar_one()
        return f"{self.display_url}|{created}"

    def change_token(self) -> tuple[int, int]:
        """(latest document id, latest removal id): unchanged exactly when the store is; one
        cheap query, for readers that poll (:class:`CorpusIndex` does before every query)."""
        top = lambda t: sa.select(sa.func.coalesce(sa.func.max(t.c.id), 0)).scalar_subquery()
        with self.engine.connect() as conn:
            doc, rem = conn.execute(sa.select(top(S.documents), top(S.removals))).one()
        return int(doc), int(rem)

    def changes(self, token: tuple[int, int] = (0, 0), *, extra: bool = False, fields: list[str] | None = None
                ) -> tuple[pd.DataFrame, list[int], tuple[int, int]]:
        """(rows of documents added since ``token``, ids of documents removed since, new token).

        Start with ``(0, 0)``; keep the returned token and pass it next time. A replaced
        document shows as its old id removed and its new rows added. Ids are never reused.
        """
        last_doc, last_removal = token
        with self.engine.begin() as conn:   # one snapshot for the reads
            top_doc = conn.execute(sa.select(sa.func.coalesce(sa.func.max(S.documents.c.id), 0))).scalar_one()
            top_rem = conn.execute(sa.select(sa.func.coalesce(sa.func.max(S.removals.c.id), 0))).scalar_one()
            removed = list(conn.execute(sa.select(S.removals.c.document_id).where(
                S.removals.c.id > last_removal, S.removals.c.id <= top_rem)).scalars())
        if top_doc > last_doc:
            new_rows = self.rows(after_document=last_doc, extra=extra, fields=None if extra else fields)
            new_rows = new_rows[new_rows["document_id"] <= top_doc]   # a later writer shows next time
        else:   # the common case of a poll: nothing new, no rows query
            new_rows = pd.DataFrame(columns=["row_id", "document_id", "project_id", "source", "year"])
        return new_rows, removed, (max(top_doc, last_doc), max(top_rem, last_removal))

    def neighbours_corpus(self, *, refresh_every: float = 2.0, snapshot: bool = False):
        """A :class:`~zhibiao.store.CorpusIndex` over this store (retrieval of past projects); with
        ``snapshot``, started from and saved to :meth:`index_snapshot_path`."""
        from ._index import CorpusIndex
        return CorpusIndex(self, refresh_every=refresh_every, snapshot=self.index_snapshot_path() if snapshot else None)

    def index_snapshot_path(self) -> Path | None:
        """Where the retrieval index's snapshot lives: beside a SQLite file (hidden, so it goes with
        the store and is not counted in its size), in the user cache for a server; None in memory."""
        if self.is_sqlite:
            db = self.url.database
            return None if not db or db == ":memory:" else Path(db).with_name(f".{Path(db).name}.index.pickle")
        from ..resources import user_cache_dir
        key = hashlib.sha1(self.display_url.encode()).hexdigest()[:16]
        return user_cache_dir() / "store-index" / f"{key}.pickle"

    # -- last year -----------------------------------------------------------
    def previous_year(self, project_name: str, department: str | None = None, year: int | None = None, *,
                      threshold: float = NAME_THRESHOLD, exclude_source: str | None = None) -> ProjectMatch | None:
        """The same project in the latest earlier year of the store, or None.

        Same project: char-bigram Dice of the name keys (year, numbering, 项目/资金… removed;
        see data/project_name_noise.txt) ≥ ``threshold`` (0.6), and the departments agree
        when both are known (equal, or one contains the other, digits and spaces ignored).
        Among those, the latest year before ``year`` wins, then a known department, then the
        closer name. ``year=None`` (a table without a year) takes the latest dated match.
        """
        found = self.match_previous(pd.DataFrame([{"project_name": project_name, "department": department,
                                                   "year": year}]), threshold=threshold,
                                    exclude_source=exclude_source)
        hit = found.iloc[0]
        if pd.isna(hit["prev_project_id"]):
            return None
        pid = int(hit["prev_project_id"])
        return ProjectMatch(project_id=pid, project_name=hit["prev_project_name"],
                            department=hit["prev_department"], year=_year(hit["prev_year"]),
                            source=hit["prev_source"], score=float(hit["prev_score"]),
                            rows=self.rows(project_ids=[pid]))

    def _candidates(self):
        """Dated stored projects with their name bigrams and a bigram → positions index,
        rebuilt only when the store changed (checked with two cheap max-id queries)."""
        token = self.change_token()
        cached = getattr(self, "_cand_cache", None)
        if cached is not None and cached[0] == token:
            return cached[1], cached[2]
        p, d = S.projects.c, S.documents.c
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(p.id, p.project_name, p.name_key, p.department, p.department_key,
                                           p.year, d.name, d.source).join(S.documents, d.id == p.document_id)
                                 .where(p.year.is_not(None)).order_by(p.id)).all()
        cands, postings = [], {}
        for i, c in enumerate(found):
            grams = bigrams(c.name_key)
            cands.append((c, grams))
            for g in grams:
                postings.setdefault(g, []).append(i)
        self._cand_cache = (token, cands, postings)
        return cands, postings

    def match_previous(self, projects: pd.DataFrame, *, threshold: float = NAME_THRESHOLD,
                       exclude_source: str | Iterable[str] | None = None) -> pd.DataFrame:
        """For each project (columns project_name, department, year; a year the name or a
        table_title column states counts when year is empty), its earlier-year match: adds
        prev_project_id, prev_project_name, prev_department, prev_year, prev_source, prev_score.
        ``exclude_source``: stored documents (path or file name) never to match, e.g. the very
        tables being reviewed when they are in the store too."""
        cands, postings = self._candidates()
        excluded = {exclude_source} if isinstance(exclude_source, str) else set(exclude_source or ())
        out = []
        for rec in projects.to_dict("records"):
            year = project_year(rec.get("year"), rec.get("project_name"), rec.get("table_title"))
            key, dept = name_key(rec.get("project_name")), department_key(rec.get("department"))
            grams = bigrams(key)
            shared: dict[int, int] = {}
            for g in grams:   # only candidates sharing a bigram can reach the threshold
                for i in postings.get(g, ()):
                    shared[i] = shared.get(i, 0) + 1
            best, best_rank = None, None
            for i, common in shared.items():
                c, c_grams = cands[i]
                score = 2 * common / (len(grams) + len(c_grams))
                if score < threshold or (year is not None and c.year >= year):
                    continue
                if c.name in excluded or c.source in excluded:
                    continue
                agree = departments_agree(dept, c.department_key or "")
                if agree is False:
                    continue
                rank = (c.year, agree is True, score, c.id)
                if best_rank is None or rank > best_rank:
                    best, best_rank = (c, score), rank
            if best is None:
                out.append({"prev_project_id": None, "prev_project_name": None, "prev_department": None,
                            "prev_year": None, "prev_source": None, "prev_score": None})
            else:
                c, score = best
                out.append({"prev_project_id": c.id, "prev_project_name": c.project_name,
                            "prev_department": c.department, "prev_year": int(c.year),
                            "prev_source": c.name, "prev_score": round(score, 3)})
        return pd.concat([projects.reset_index(drop=True), pd.DataFrame(out)], axis=1)
